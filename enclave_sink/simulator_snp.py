"""UNSAFE local stand-in for an AMD SEV-SNP guest: real report format, locally generated AMD-like roots.

:class:`UnsafeSimulatedSnp` creates its own ARK and ASK (RSA-PSS/SHA-384, as AMD's, but 2048-bit keys
to keep tests fast) and a P-384 VCEK carrying the AMD TCB and hwID extensions, then signs 0x4A0-byte
version-2 attestation reports exactly as the firmware lays them out. Nothing it says is backed by
hardware: a verifier accepts its ARK only when handed over as an
:class:`~redactline.enclave_sink.trust.UnsafeTrustRoot` (see :meth:`UnsafeSimulatedSnp.unsafe_roots`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .attestation import Clock, utc_now
from .evidence import EvidenceBundle, encode_bundle
from .snp import OID_HWID, OID_PRODUCT_NAME, POLICY_DEBUG, POLICY_RESERVED_ONE, REPORT_SIZE, TCB_OIDS
from .trust import UnsafeTrustRoot
from .verified import TEE_SEV_SNP, report_data_binding

logger = logging.getLogger(__name__)

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
DEFAULT_TCB = {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "redactline UNSAFE simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _der_int(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return bytes([0x02, len(body)]) + body


def _der_ia5(text: str) -> bytes:
    return bytes([0x16, len(text)]) + text.encode("ascii")


class UnsafeSimulatedSnp:
    """Issues SEV-SNP reports (in evidence bundles) under a locally generated, UNTRUSTED ARK.

    ``measurement`` / ``host_data`` set the launch digest and host data, ``tcb`` the reported TCB
    (the VCEK is issued for it unless ``vcek_tcb`` says otherwise), ``debug`` sets policy bit 19.
    """

    product = "Milan"

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        measurement: bytes | None = None,
        host_data: bytes = bytes(32),
        tcb: dict[str, int] | None = None,
        vcek_tcb: dict[str, int] | None = None,
        debug: bool = False,
    ) -> None:
        logger.warning("UnsafeSimulatedSnp created: its SEV-SNP reports prove nothing about real hardware")
        self._clock = clock
        self.measurement = measurement or hashlib.sha384(b"redactline-simulated-snp-measurement").digest()
        self.host_data = host_data
        self.tcb = dict(tcb or DEFAULT_TCB)
        self.debug = debug
        self.chip_id = hashlib.sha512(b"redactline-simulated-chip").digest()
        now = clock().astimezone(dt.UTC)
        self._ark_key = rsa.generate_private_key(65537, 2048)
        self.ark = self._issue(f"ARK-{self.product}", self._ark_key.public_key(), None, now, ca=True)
        self._ask_key = rsa.generate_private_key(65537, 2048)
        self.ask = self._issue(f"SEV-{self.product}", self._ask_key.public_key(), self.ark, now, ca=True)
        self._vcek_key = ec.generate_private_key(ec.SECP384R1())
        self.vcek = self._issue_vcek(now, vcek_tcb or self.tcb)

    def _issue(
        self,
        cn: str,
        public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        issuer: x509.Certificate | None,
        now: dt.datetime,
        *,
        ca: bool,
        extensions: tuple[tuple[x509.ObjectIdentifier, bytes], ...] = (),
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(issuer.subject if issuer else _name(cn))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        for oid, value in extensions:
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
        key = self._ark_key if issuer is None or issuer is self.ark else self._ask_key
        return builder.sign(key, hashes.SHA384(), rsa_padding=_PSS)

    def _issue_vcek(self, now: dt.datetime, tcb: dict[str, int]) -> x509.Certificate:
        exts = [(OID_PRODUCT_NAME, _der_ia5(f"{self.product}-B0"))]
        exts += [(TCB_OIDS[name], _der_int(value)) for name, value in tcb.items()]
        exts.append((OID_HWID, self.chip_id))
        return self._issue("SEV-VCEK", self._vcek_key.public_key(), self.ask, now, ca=False,
                           extensions=tuple(exts))

    # -- trust ---------------------------------------------------------------------------------

    def unsafe_roots(self) -> dict[str, UnsafeTrustRoot]:
        """``{"Milan": UnsafeTrustRoot(ark)}`` for :class:`~.snp.SnpVerifier` (logs a warning)."""
        return {self.product: UnsafeTrustRoot(self.ark)}

    @property
    def root_pem(self) -> bytes:
        return self.ark.public_bytes(serialization.Encoding.PEM)

    # -- reports -------------------------------------------------------------------------------

    def _tcb_bytes(self) -> bytes:
        t = self.tcb
        return bytes([t["bootloader"], t["tee"], 0, 0, 0, 0, t["snp"], t["microcode"]])

    def report_body(self, report_data: bytes) -> bytearray:
        """The signed 0x2A0-byte body of a version-2 report (tests edit it to probe the verifier)."""
        if len(report_data) != 64:
            raise ValueError("report_data must be 64 bytes")
        policy = POLICY_RESERVED_ONE | (1 << 16) | (POLICY_DEBUG if self.debug else 0)
        body = bytearray(0x2A0)
        struct.pack_into("<IIQ", body, 0, 2, 1, policy)
        struct.pack_into("<II", body, 0x30, 0, 1)  # VMPL 0, ECDSA P-384/SHA-384
        tcb = self._tcb_bytes()
        body[0x38:0x40] = tcb
        struct.pack_into("<Q", body, 0x40, 1)  # PLATFORM_INFO: SMT enabled
        body[0x50:0x90] = report_data
        body[0x90:0xC0] = self.measurement
        body[0xC0:0xE0] = self.host_data
        body[0x140:0x160] = hashlib.sha256(report_data).digest()  # REPORT_ID
        body[0x180:0x188] = tcb
        body[0x1A0:0x1E0] = self.chip_id
        body[0x1E0:0x1E8] = tcb
        body[0x1E8:0x1EB] = bytes([3, 55, 1])
        body[0x1EC:0x1EF] = bytes([3, 55, 1])
        body[0x1F0:0x1F8] = tcb
        return body

    def sign_report(self, body: bytes) -> bytes:
        """Append the VCEK's signature (R, S little-endian in 72-byte fields) to ``body``."""
        r, s = decode_dss_signature(self._vcek_key.sign(bytes(body), ec.ECDSA(hashes.SHA384())))
        signature = r.to_bytes(72, "little") + s.to_bytes(72, "little")
        report = bytes(body) + signature + bytes(REPORT_SIZE - len(body) - len(signature))
        assert len(report) == REPORT_SIZE
        return report

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
        """An evidence bundle: a report binding the three claims, the VCEK and ASK, and the claims."""
        report = self.sign_report(self.report_body(report_data_binding(nonce, user_data, public_key)))
        certs = tuple(c.public_bytes(serialization.Encoding.DER) for c in (self.vcek, self.ask))
        return encode_bundle(EvidenceBundle(TEE_SEV_SNP, report, certs, nonce, user_data, public_key))
