"""Trust anchors for Nitro attestation: the pinned AWS root and the explicitly unsafe alternative.

The AWS Nitro Enclaves root (CN=aws.nitro-enclaves, valid 2019-10-28 .. 2049-10-28) ships here as a
constant so verification never depends on a file on disk or a download. Its SHA-256 fingerprint is
checked at import, so an edited constant fails loudly instead of silently trusting something else.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes

logger = logging.getLogger(__name__)

AWS_NITRO_ROOT_SHA256 = "641A0321A3E244EFE456463195D606317ED7CDCC3C1756E09893F3C68F79BB5B"

AWS_NITRO_ROOT_PEM = b"""-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
"""


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-256 over the certificate's DER encoding."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


@dataclass(frozen=True)
class TrustRoot:
    """A root certificate that attestation chains must end in."""

    certificate: x509.Certificate
    unsafe: bool = field(default=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.certificate)

    def matches_der(self, der: bytes) -> bool:
        """True when ``der`` is this root (compared by fingerprint, in constant time)."""
        try:
            other = x509.load_der_x509_certificate(der)
        except ValueError:
            return False
        return hmac.compare_digest(fingerprint_sha256(other), self.fingerprint)


def _load_aws_root() -> TrustRoot:
    cert = x509.load_pem_x509_certificate(AWS_NITRO_ROOT_PEM)
    if fingerprint_sha256(cert) != AWS_NITRO_ROOT_SHA256:
        raise RuntimeError("embedded AWS Nitro root does not match its pinned fingerprint")
    return TrustRoot(cert)


AWS_NITRO_ROOT = _load_aws_root()


def aws_nitro_root() -> TrustRoot:
    """The pinned AWS Nitro Enclaves root (the only root trusted by default)."""
    return AWS_NITRO_ROOT


class UnsafeTrustRoot(TrustRoot):
    """A root other than AWS's, e.g. the local simulator's. Trusting it gives NO hardware guarantee.

    Construction logs a loud WARNING; the verifier logs again every time it is used. If the PEM is
    in fact the pinned AWS root, prefer :func:`aws_nitro_root` (see :func:`trust_root_from_pem`).
    """

    def __init__(self, certificate: x509.Certificate) -> None:
        super().__init__(certificate, unsafe=True)
        logger.warning(
            "UNSAFE trust root configured (fingerprint %s): attestation documents chained to it "
            "prove nothing about real enclave hardware. Use only for local tests and simulation.",
            self.fingerprint,
        )

    @classmethod
    def from_pem(cls, pem: bytes) -> UnsafeTrustRoot:
        return cls(x509.load_pem_x509_certificate(pem))


def trust_root_from_pem(pem: bytes) -> TrustRoot:
    """The pinned AWS root if ``pem`` is it; otherwise an :class:`UnsafeTrustRoot` (which warns)."""
    cert = x509.load_pem_x509_certificate(pem)
    if fingerprint_sha256(cert) == AWS_NITRO_ROOT_SHA256:
        return AWS_NITRO_ROOT
    return UnsafeTrustRoot(cert)
