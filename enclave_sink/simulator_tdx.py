"""UNSAFE local stand-in for an Intel TDX guest: real DCAP v4 quotes under a locally generated root.

:class:`UnsafeSimulatedTdx` creates its own "SGX Root CA", platform CA and a PCK certificate that
carries the SGX extension (FMSPC, PCE-ID, TCB SVNs), an attestation key and a QE report binding it,
and signs quotes laid out exactly as Intel's quoting enclave does. It also issues matching TCB-info /
QE-identity collateral signed by its own "TCB Signing" certificate. Nothing it says is backed by
hardware: verifiers accept its root only as an :class:`~redactline.enclave_sink.trust.UnsafeTrustRoot`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .attestation import Clock, utc_now
from .evidence import EvidenceBundle, encode_bundle
from .tdx import INTEL_QE_VENDOR_ID, SGX_EXT_OID, TdxCollateral
from .trust import UnsafeTrustRoot
from .verified import TEE_TDX, report_data_binding

logger = logging.getLogger(__name__)

FMSPC = bytes.fromhex("00906ed50000")
SGX_TCB = (3, 3, 2, 2, 2, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0)
PCE_SVN = 11
TEE_TCB_SVN = bytes([5, 0, 5, 0]) + bytes(12)
QE_MRSIGNER = hashlib.sha256(b"redactline-simulated-qe-signer").digest()
_SGX = "1.2.840.113741.1.13.1"


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big"
    )
    return bytes([tag]) + length + body


def _oid(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def _pair(oid: str, value: bytes) -> bytes:
    return _tlv(0x30, _oid(oid) + value)


def sgx_extension(fmspc: bytes = FMSPC, tcb: tuple[int, ...] = SGX_TCB, pce_svn: int = PCE_SVN) -> bytes:
    """DER of the SGX extension as Intel's PCK certificates carry it (the fields the verifier reads)."""
    comps = b"".join(_pair(f"{_SGX}.2.{i + 1}", _int(v)) for i, v in enumerate(tcb))
    comps += _pair(f"{_SGX}.2.17", _int(pce_svn)) + _pair(f"{_SGX}.2.18", _tlv(0x04, bytes(tcb)))
    return _tlv(0x30, b"".join([
        _pair(f"{_SGX}.1", _tlv(0x04, bytes(16))),  # PPID
        _pair(f"{_SGX}.2", _tlv(0x30, comps)),
        _pair(f"{_SGX}.3", _tlv(0x04, bytes(2))),  # PCE-ID
        _pair(f"{_SGX}.4", _tlv(0x04, fmspc)),
        _pair(f"{_SGX}.5", _tlv(0x0A, b"\x00")),  # SGX type: standard
    ]))


def _raw_sig(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class UnsafeSimulatedTdx:
    """Issues TDX quotes (in evidence bundles) and collateral under a locally generated, UNTRUSTED root.

    ``mrtd`` / ``rtmrs`` set the measurements, ``debug`` sets TD attribute bit 0, ``tcb_status`` the
    status the simulated TCB info assigns to this platform.
    """

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        mrtd: bytes | None = None,
        rtmrs: tuple[bytes, bytes, bytes, bytes] | None = None,
        debug: bool = False,
        tcb_status: str = "UpToDate",
    ) -> None:
        logger.warning("UnsafeSimulatedTdx created: its TDX quotes prove nothing about real hardware")
        self._clock = clock
        self.mrtd = mrtd or hashlib.sha384(b"redactline-simulated-mrtd").digest()
        self.rtmrs = rtmrs or tuple(hashlib.sha384(f"rtmr{i}".encode()).digest() for i in range(4))
        self.debug = debug
        self.tcb_status = tcb_status
        self._now = clock().astimezone(dt.UTC)
        self._root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._issue("UNSAFE simulated SGX Root CA", self._root_key.public_key(), None, ca=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self.platform_ca = self._issue(
            "Intel SGX PCK Platform CA", self._ca_key.public_key(), self.root, ca=True
        )
        self._pck_key = ec.generate_private_key(ec.SECP256R1())
        self.pck = self._issue("Intel SGX PCK Certificate", self._pck_key.public_key(), self.platform_ca,
                               ca=False, sgx=sgx_extension())
        self._signing_key = ec.generate_private_key(ec.SECP256R1())
        self.tcb_signing = self._issue("Intel SGX TCB Signing", self._signing_key.public_key(), self.root,
                                       ca=False)
        self._att_key = ec.generate_private_key(ec.SECP256R1())

    def _issue(
        self,
        cn: str,
        public: ec.EllipticCurvePublicKey,
        issuer: x509.Certificate | None,
        *,
        ca: bool,
        sgx: bytes | None = None,
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "redactline UNSAFE simulator"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now - dt.timedelta(days=1))
            .not_valid_after(self._now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sgx is not None:
            builder = builder.add_extension(x509.UnrecognizedExtension(SGX_EXT_OID, sgx), critical=False)
        key = self._root_key if issuer is None or issuer is self.root else self._ca_key
        return builder.sign(key, hashes.SHA256())

    # -- trust and collateral ------------------------------------------------------------------

    def unsafe_root(self) -> UnsafeTrustRoot:
        return UnsafeTrustRoot(self.root)

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def _signed(self, key: str, obj: dict[str, object]) -> bytes:
        text = json.dumps(obj, separators=(",", ":"))
        signature = _raw_sig(self._signing_key, text.encode())
        return ('{"' + key + '":' + text + ',"signature":"' + signature.hex() + '"}').encode()

    def collateral(self) -> TdxCollateral:
        """TCB info and QE identity for this platform, signed by the simulator's TCB signing key."""
        issued = self._now - dt.timedelta(days=1)
        dates = {"issueDate": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "nextUpdate": (issued + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        level = {"tcb": {"sgxtcbcomponents": [{"svn": v} for v in SGX_TCB], "pcesvn": PCE_SVN,
                         "tdxtcbcomponents": [{"svn": v} for v in TEE_TCB_SVN]},
                 "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": self.tcb_status}
        info = {"id": "TDX", "version": 3, **dates, "fmspc": FMSPC.hex(), "pceId": "0000", "tcbType": 0,
                "tcbEvaluationDataNumber": 17,
                "tdxModule": {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8},
                "tcbLevels": [level]}
        qe = {"id": "TD_QE", "version": 2, **dates, "tcbEvaluationDataNumber": 17, "miscselect": "00000000",
              "miscselectMask": "FFFFFFFF", "attributes": "11" + "00" * 15, "attributesMask": "FB" + "FF" * 7
              + "00" * 8, "mrsigner": QE_MRSIGNER.hex(), "isvprodid": 2,
              "tcbLevels": [{"tcb": {"isvsvn": 4}, "tcbDate": "2024-03-13T00:00:00Z",
                             "tcbStatus": "UpToDate"}]}
        return TdxCollateral(self._signed("tcbInfo", info), self._signed("enclaveIdentity", qe),
                             (self.tcb_signing,))

    # -- quotes --------------------------------------------------------------------------------

    def quote(self, report_data: bytes) -> bytes:
        """A DCAP v4 quote over a TD report carrying ``report_data`` (64 bytes)."""
        if len(report_data) != 64:
            raise ValueError("report_data must be 64 bytes")
        header = struct.pack("<HHIHH", 4, 2, 0x81, 0, 0) + INTEL_QE_VENDOR_ID + bytes(20)
        body = b"".join([TEE_TCB_SVN, bytes(48), bytes(48), bytes(8),
                         struct.pack("<Q", 1 if self.debug else 1 << 28), struct.pack("<Q", 0xE7),
                         self.mrtd, bytes(48), bytes(48), bytes(48), *self.rtmrs, report_data])
        att_pub = self._att_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]
        auth = bytes(range(32))
        qe_report = bytearray(384)
        qe_report[48] = 0x11  # attributes: INIT | MODE64BIT
        qe_report[128:160] = QE_MRSIGNER
        qe_report[256:258] = (2).to_bytes(2, "little")
        qe_report[258:260] = (4).to_bytes(2, "little")
        qe_report[320:352] = hashlib.sha256(att_pub + auth).digest()
        chain = b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.pck, self.platform_ca, self.root)
        )
        inner = (bytes(qe_report) + _raw_sig(self._pck_key, bytes(qe_report)) + struct.pack("<H", len(auth))
                 + auth + struct.pack("<HI", 5, len(chain)) + chain)
        signature = _raw_sig(self._att_key, header + body)
        sig_data = signature + att_pub + struct.pack("<HI", 6, len(inner)) + inner
        return header + body + struct.pack("<I", len(sig_data)) + sig_data

    def attest(self, *, nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
        """An evidence bundle: a quote binding the three claims, and the claims."""
        quote = self.quote(report_data_binding(nonce, user_data, public_key))
        return encode_bundle(EvidenceBundle(TEE_TDX, quote, (), nonce, user_data, public_key))
