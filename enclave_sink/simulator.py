"""UNSAFE local stand-in for the Nitro Security Module: documents in the real shape, fake hardware.

:class:`UnsafeSimulatedNitro` generates its own P-384 root at construction and issues attestation
documents shaped exactly like real NSM output (untagged COSE_Sign1, protected ``{1: -35}``,
unprotected ``{}``, 16 PCRs of 48 bytes, millisecond timestamp, ``cabundle`` root first, CBOR null for
absent optional fields). Nothing it says is backed by hardware: the verifier accepts its root only
when handed over explicitly as an :class:`~redactline.enclave_sink.trust.UnsafeTrustRoot`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .attestation import Clock, utc_now
from .cose import COSE_ALG_ES384
from .nitro_document import MAX_OPTIONAL_FIELD_BYTES
from .trust import UnsafeTrustRoot

logger = logging.getLogger(__name__)

PCR_COUNT = 16
PCR_LEN = 48
LEAF_LIFETIME = dt.timedelta(hours=3)  # what real Nitro leaf certificates get
_UNSET = object()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "redactline UNSAFE simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_length: int | None,
    ca: bool,
) -> x509.Certificate:
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=ca,
        )
    )
    if ca:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA384())


def default_pcrs(debug: bool = False) -> dict[int, bytes]:
    """16 SHA-384-sized PCRs: PCR0-2 and 8 derived from fixed labels (all zero when ``debug``)."""
    pcrs = {i: bytes(PCR_LEN) for i in range(PCR_COUNT)}
    if not debug:
        for i in (0, 1, 2, 8):
            pcrs[i] = hashlib.sha384(f"redactline-simulated-pcr{i}".encode()).digest()
    return pcrs


class UnsafeSimulatedNitro:
    """Issues Nitro-shaped attestation documents under a locally generated, UNTRUSTED root.

    ``clock`` sets the document timestamps and certificate windows (tests inject fixed times);
    ``pcrs`` overrides the measurements; ``debug`` zeroes PCR0-2 like a debug-mode enclave.
    """

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        pcrs: dict[int, bytes] | None = None,
        debug: bool = False,
        module_id: str = "i-00000000000000000-enc0000000000000000",
    ) -> None:
        logger.warning("UnsafeSimulatedNitro created: its documents prove nothing about real hardware")
        self._clock = clock
        self.module_id = module_id
        self.pcrs = dict(pcrs) if pcrs is not None else default_pcrs(debug)
        if any(len(v) != PCR_LEN for v in self.pcrs.values()):
            raise ValueError(f"simulated PCRs must be {PCR_LEN} bytes")
        now = self._now()
        self._root_key = ec.generate_private_key(ec.SECP384R1())
        self._root = _issue(
            "redactline-simulated-nitro-root UNSAFE",
            self._root_key,
            None,
            self._root_key,
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=3650),
            None,
            ca=True,
        )
        self._inter_key = ec.generate_private_key(ec.SECP384R1())
        self._intermediate = _issue(
            "simulated.zonal.nitro-enclaves",
            self._inter_key,
            self._root,
            self._root_key,
            now - dt.timedelta(hours=1),
            now + dt.timedelta(days=365),
            0,
            ca=True,
        )
        self._leaf_key: ec.EllipticCurvePrivateKey | None = None
        self._leaf: x509.Certificate | None = None
        self._enclave_key = x25519.X25519PrivateKey.generate()

    # -- keys and trust ------------------------------------------------------------------------

    @property
    def root_pem(self) -> bytes:
        """The simulator's root certificate (PEM) to pass to ``UnsafeTrustRoot``."""
        return self._root.public_bytes(serialization.Encoding.PEM)

    def unsafe_trust_root(self) -> UnsafeTrustRoot:
        """An :class:`UnsafeTrustRoot` for this simulator (logs a warning, by design)."""
        return UnsafeTrustRoot(self._root)

    @property
    def private_key(self) -> x25519.X25519PrivateKey:
        """The enclave's current X25519 private key (what the enclave service would hold)."""
        return self._enclave_key

    @property
    def public_key_der(self) -> bytes:
        """The current enclave public key as X25519 SubjectPublicKeyInfo DER (what ``attest`` publishes)."""
        return self._enclave_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def rotate_key(self) -> x25519.X25519PublicKey:
        """Replace the enclave key pair; later documents publish the new public key."""
        self._enclave_key = x25519.X25519PrivateKey.generate()
        return self._enclave_key.public_key()

    # -- documents -----------------------------------------------------------------------------

    def attest(self, nonce: bytes | None, user_data: bytes | None = None) -> bytes:
        """Issue a document binding ``nonce``, ``user_data`` and the current enclave public key."""
        for name, value in (("nonce", nonce), ("user_data", user_data)):
            if value is not None and len(value) > MAX_OPTIONAL_FIELD_BYTES:
                raise ValueError(f"{name} is over {MAX_OPTIONAL_FIELD_BYTES} bytes")
        return self.sign_document(self.payload_fields(nonce, user_data))

    def payload_fields(self, nonce: bytes | None, user_data: bytes | None = None) -> dict[str, object]:
        """The payload map ``attest`` would sign, in NSM field order (tests edit it to probe the verifier)."""
        now = self._now()
        leaf, _ = self._current_leaf(now)
        return {
            "module_id": self.module_id,
            "digest": "SHA384",
            "timestamp": int(now.timestamp() * 1000),
            "pcrs": dict(sorted(self.pcrs.items())),
            "certificate": leaf.public_bytes(serialization.Encoding.DER),
            "cabundle": [
                c.public_bytes(serialization.Encoding.DER) for c in (self._root, self._intermediate)
            ],
            "public_key": self.public_key_der,
            "user_data": user_data,
            "nonce": nonce,
        }

    def sign_document(
        self, payload: dict[str, object] | bytes, *, unprotected: object = _UNSET, tagged: bool = False
    ) -> bytes:
        """COSE_Sign1-sign ``payload`` with the current leaf key (``unprotected`` defaults to ``{}``)."""
        _, leaf_key = self._current_leaf(self._now())
        payload_bytes = payload if isinstance(payload, bytes) else cbor2.dumps(payload)
        protected = cbor2.dumps({1: COSE_ALG_ES384})
        to_sign = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
        r, s = decode_dss_signature(leaf_key.sign(to_sign, ec.ECDSA(hashes.SHA384())))
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        message = [protected, {} if unprotected is _UNSET else unprotected, payload_bytes, signature]
        return cbor2.dumps(cbor2.CBORTag(18, message) if tagged else message)

    def _current_leaf(self, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        leaf, key = self._leaf, self._leaf_key
        if leaf is None or key is None or not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
            key = ec.generate_private_key(ec.SECP384R1())
            leaf = _issue(
                f"{self.module_id}.simulated-{os.urandom(4).hex()}",
                key,
                self._intermediate,
                self._inter_key,
                now - dt.timedelta(seconds=5),
                now + LEAF_LIFETIME,
                None,
                ca=False,
            )
            self._leaf, self._leaf_key = leaf, key
        return leaf, key

    def _now(self) -> dt.datetime:
        return self._clock().astimezone(dt.UTC)
