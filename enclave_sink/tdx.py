"""Intel TDX DCAP quotes (v4, v5): strict parsing, signatures, PCK chain, CRLs, collateral, policy.

Layout per the Intel TDX DCAP Quote Generation Library and Quote Verification API specification:

* header (48 bytes): version 4/5, attestation key type 2 (ECDSA P-256), TEE type 0x81, 4 reserved
  bytes, QE vendor id, 20 bytes of user data;
* v4: the TD quote body (584 bytes); v5: a body descriptor (type u16, size u32) then the body
  (type 2 = TDX 1.0, 584 bytes; type 3 = TDX 1.5, 648 bytes: adds TEE_TCB_SVN_2 and MRSERVICETD);
* signature data (u32 length): ECDSA P-256 signature of header+body by the attestation key, the
  attestation key, then certification data type 6 = QE report certification data: the QE's SGX report
  (384 bytes), its signature by the PCK key, the QE authentication data, and nested certification
  data type 5 = the PCK certificate chain (PEM).

Checks, in order (the first failure wins; each message starts with the check's name): parse -> the PCK
chain to the pinned Intel SGX Root CA at the verifier's clock (plus CRLs when supplied) -> QE report
signature by the PCK -> the QE report binds the attestation key (``report_data = SHA-256(key ||
auth data) || 32 zero bytes``) -> quote signature by the attestation key -> TCB status from the
TCB-info and QE-identity collateral (both signed by the Intel SGX TCB Signing chain; FMSPC and PCE-ID
from the PCK certificate) -> debug -> ``report_data`` binding -> TCB status allowlist -> measurements.
Without collateral the TCB status is ``unknown``, which the default allowlist refuses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import der
from .attestation import Clock, utc_now
from .errors import AttestationError, MeasurementError
from .evidence import EvidenceBundle, decode_bundle, is_bundle
from .measurement import ExpectedNonce, NotDebugMode, TcbStatusAllowlist
from .trust import TrustRoot, fingerprint_sha256
from .verified import TEE_TDX, AttestationPolicy, VerifiedAttestation, report_data_binding

__all__ = [
    "DEFAULT_TCB_STATUSES",
    "INTEL_SGX_ROOT_SHA256",
    "TdxCollateral",
    "TdxQuote",
    "TdxVerifier",
    "intel_sgx_root",
    "load_collateral",
    "parse_quote",
]

logger = logging.getLogger(__name__)

HEADER_SIZE = 48
BODY_SIZES = {2: 584, 3: 648}  # v5 body type -> size; v4 always uses the 584-byte TDX 1.0 body
QE_REPORT_SIZE = 384
ATT_KEY_TYPE_ECDSA_P256 = 2
TEE_TYPE_TDX = 0x81
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
CERT_DATA_QE_REPORT = 6
CERT_DATA_PCK_CHAIN = 5
MAX_QUOTE_BYTES = 64 * 1024
TD_ATTR_DEBUG = 1 << 0

INTEL_SGX_ROOT_SHA256 = "44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3"
ROOT_FILE = Path(__file__).resolve().parent / "roots" / "intel_sgx_root_ca.pem"

SGX_EXT_OID = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
_SGX = "1.2.840.113741.1.13.1"

# Worst last: the combined status of platform and QE is the worse of the two.
TCB_STATUS_ORDER = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
    "NotSupported",
)
DEFAULT_TCB_STATUSES = ("UpToDate",)
TCB_STATUS_UNKNOWN = "unknown"
TCB_NOT_SUPPORTED = "NotSupported"


# -- parsing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TdReport:
    """The TD quote body (TDX 1.0 fields, plus TEE_TCB_SVN_2 and MRSERVICETD for TDX 1.5)."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: int
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes
    tee_tcb_svn2: bytes | None = None
    mr_service_td: bytes | None = None


@dataclass(frozen=True)
class QeReport:
    """The quoting enclave's SGX report body (384 bytes)."""

    raw: bytes
    cpu_svn: bytes
    misc_select: int
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes


@dataclass(frozen=True)
class TdxQuote:
    """A parsed quote; ``signed`` is what the attestation key signed (header + body)."""

    version: int
    header: bytes
    signed: bytes
    body: TdReport
    signature: bytes
    attestation_key: bytes
    qe_report: QeReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_chain_pem: bytes
    length: int


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int, what: str) -> None:
        self.data, self.pos, self.end, self.what = data, pos, end, what

    def take(self, n: int, name: str) -> bytes:
        if self.pos + n > self.end:
            raise AttestationError(f"quote: {self.what} is truncated in {name}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self, name: str) -> int:
        return int(struct.unpack("<H", self.take(2, name))[0])

    def u32(self, name: str) -> int:
        return int(struct.unpack("<I", self.take(4, name))[0])

    def done(self) -> None:
        if self.pos != self.end:
            raise AttestationError(f"quote: {self.end - self.pos} unexpected bytes at the end of {self.what}")


def _parse_body(raw: bytes, size: int) -> TdReport:
    r = _Reader(raw, 0, size, "TD quote body")
    tee_tcb_svn = r.take(16, "TEE_TCB_SVN")
    mr_seam = r.take(48, "MRSEAM")
    mr_signer_seam = r.take(48, "MRSIGNERSEAM")
    seam_attributes = r.take(8, "SEAMATTRIBUTES")
    (td_attributes,) = struct.unpack("<Q", r.take(8, "TDATTRIBUTES"))
    xfam = r.take(8, "XFAM")
    mr_td = r.take(48, "MRTD")
    mr_config_id = r.take(48, "MRCONFIGID")
    mr_owner = r.take(48, "MROWNER")
    mr_owner_config = r.take(48, "MROWNERCONFIG")
    rtmrs = (r.take(48, "RTMR0"), r.take(48, "RTMR1"), r.take(48, "RTMR2"), r.take(48, "RTMR3"))
    report_data = r.take(64, "REPORTDATA")
    svn2 = service_td = None
    if size == BODY_SIZES[3]:
        svn2, service_td = r.take(16, "TEE_TCB_SVN_2"), r.take(48, "MRSERVICETD")
    r.done()
    return TdReport(tee_tcb_svn, mr_seam, mr_signer_seam, seam_attributes, td_attributes, xfam, mr_td,
                    mr_config_id, mr_owner, mr_owner_config, rtmrs, report_data, svn2, service_td)


def _parse_qe_report(raw: bytes) -> QeReport:
    for start, end, name in ((20, 48, "after MISCSELECT"), (96, 128, "after MRENCLAVE"),
                             (160, 256, "after MRSIGNER"), (260, 320, "after ISVSVN")):
        if any(raw[start:end]):
            raise AttestationError(f"quote: QE report reserved bytes {start}-{end - 1} ({name}) are not zero")
    return QeReport(
        raw=raw,
        cpu_svn=raw[0:16],
        misc_select=int.from_bytes(raw[16:20], "little"),
        attributes=raw[48:64],
        mr_enclave=raw[64:96],
        mr_signer=raw[128:160],
        isv_prod_id=int.from_bytes(raw[256:258], "little"),
        isv_svn=int.from_bytes(raw[258:260], "little"),
        report_data=raw[320:384],
    )


def quote_length(data: bytes) -> int:
    """The length the quote declares (header + body + signature data), from its own fields."""
    return parse_quote(data, allow_trailing=True).length


def parse_quote(data: bytes, *, allow_trailing: bool = False) -> TdxQuote:
    """Parse a v4/v5 quote strictly. Bytes after the quote must be zero padding (configfs-tsm buffers
    are fixed-size) unless ``allow_trailing``; nothing after the quote is signed."""
    if len(data) > MAX_QUOTE_BYTES:
        raise AttestationError(f"quote: {len(data)} bytes, over {MAX_QUOTE_BYTES}")
    r = _Reader(data, 0, len(data), "quote")
    header = r.take(HEADER_SIZE, "header")
    version, key_type, tee_type = struct.unpack_from("<HHI", header)
    if version not in (4, 5):
        raise AttestationError(f"quote: version {version} is not supported (4, 5)")
    if key_type != ATT_KEY_TYPE_ECDSA_P256:
        raise AttestationError(f"quote: attestation key type {key_type} is not ECDSA P-256 (2)")
    if tee_type != TEE_TYPE_TDX:
        raise AttestationError(f"quote: TEE type 0x{tee_type:x} is not TDX (0x81)")
    if any(header[8:12]):
        raise AttestationError("quote: reserved header bytes 8-11 are not zero")
    if header[12:28] != INTEL_QE_VENDOR_ID:
        raise AttestationError("quote: QE vendor id is not Intel's")
    if version == 4:
        body_size = BODY_SIZES[2]
    else:
        body_type, body_size = r.u16("body type"), r.u32("body size")
        if BODY_SIZES.get(body_type) != body_size:
            raise AttestationError(f"quote: v5 body type {body_type} with size {body_size} is not supported")
    body = _parse_body(r.take(body_size, "TD quote body"), body_size)
    signed = data[: r.pos]
    sig_len = r.u32("signature data length")
    sig_end = r.pos + sig_len
    if sig_end > len(data):
        raise AttestationError("quote: signature data runs past the end of the quote")
    s = _Reader(data, r.pos, sig_end, "signature data")
    signature = s.take(64, "quote signature")
    att_key = s.take(64, "attestation key")
    if s.u16("certification data type") != CERT_DATA_QE_REPORT:
        raise AttestationError("quote: certification data is not type 6 (QE report certification data)")
    cert_size = s.u32("certification data size")
    if s.pos + cert_size != sig_end:
        raise AttestationError("quote: certification data size does not match the signature data length")
    c = _Reader(data, s.pos, sig_end, "QE report certification data")
    qe_report = _parse_qe_report(c.take(QE_REPORT_SIZE, "QE report"))
    qe_sig = c.take(64, "QE report signature")
    auth = c.take(c.u16("QE auth data size"), "QE auth data")
    if c.u16("PCK certification data type") != CERT_DATA_PCK_CHAIN:
        raise AttestationError("quote: nested certification data is not type 5 (PCK certificate chain)")
    chain = c.take(c.u32("PCK chain size"), "PCK certificate chain")
    c.done()
    trailing = data[sig_end:]
    if trailing and any(trailing) and not allow_trailing:
        raise AttestationError(f"quote: {len(trailing)} bytes after the quote are not zero padding")
    return TdxQuote(
        version, header, signed, body, signature, att_key, qe_report, qe_sig, auth, chain, sig_end
    )


# -- certificates, CRLs and the SGX extension ---------------------------------------------------------


@cache
def _pinned_root() -> x509.Certificate:
    cert = x509.load_pem_x509_certificate(ROOT_FILE.read_bytes())
    if fingerprint_sha256(cert) != INTEL_SGX_ROOT_SHA256:
        raise RuntimeError("roots/intel_sgx_root_ca.pem does not match its pinned fingerprint")
    return cert


def intel_sgx_root() -> TrustRoot:
    """The pinned Intel SGX Root CA (the only TDX root trusted by default)."""
    return TrustRoot(_pinned_root())


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _verify_chain(
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    root: x509.Certificate,
    now: dt.datetime,
    what: str,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> list[x509.Certificate]:
    """leaf -> ... -> root with ECDSA/SHA-256 signatures, CA constraints, validity and CRLs."""
    chain = [leaf]
    current = leaf
    for _ in range(4):
        if current.issuer == root.subject:
            issuer = root
        else:
            candidates = [c for c in pool if c.subject == current.issuer and c.subject != c.issuer]
            if not candidates:
                raise AttestationError(
                    f"{what}: no issuer '{_cn(current.issuer)}' for '{_cn(current.subject)}'"
                )
            issuer = candidates[0]
        _check_issued(current, issuer, what)
        if issuer is root:
            break
        chain.append(issuer)
        current = issuer
    else:
        raise AttestationError(f"{what}: chain is too long")
    _check_issued(root, root, what)
    chain.append(root)
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise AttestationError(
                f"validity: {what} certificate '{_cn(cert.subject)}' is not valid at {now.isoformat()} "
                f"(valid {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()})"
            )
    _check_crls(chain, crls, now, what)
    return chain


def _check_issued(cert: x509.Certificate, issuer: x509.Certificate, what: str) -> None:
    if cert.issuer != issuer.subject:
        raise AttestationError(f"{what}: '{_cn(cert.subject)}' is not issued by '{_cn(issuer.subject)}'")
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise AttestationError(f"{what}: issuer '{_cn(issuer.subject)}' is not a CA")
    if not isinstance(issuer.public_key(), ec.EllipticCurvePublicKey):
        raise AttestationError(f"{what}: issuer '{_cn(issuer.subject)}' has no EC key")
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        raise AttestationError(f"{what}: signature on '{_cn(cert.subject)}' does not verify") from None


def _check_crls(
    chain: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
    what: str,
) -> None:
    by_subject = {c.subject.public_bytes(): c for c in chain}
    for crl in crls:
        issuer = by_subject.get(crl.issuer.public_bytes())
        if issuer is None:
            continue  # a CRL for another chain (e.g. the processor CA's)
        key = issuer.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(key):
            raise AttestationError(f"crl: the CRL of '{_cn(crl.issuer)}' has an invalid signature")
        next_update = crl.next_update_utc
        if not crl.last_update_utc <= now or next_update is None or now > next_update:
            raise AttestationError(
                f"crl: the CRL of '{_cn(crl.issuer)}' is not current at {now.isoformat()} "
                f"(this update {crl.last_update_utc.isoformat()}, next update {next_update})"
            )
        for cert in chain:
            if cert.issuer == crl.issuer and crl.get_revoked_certificate_by_serial_number(cert.serial_number):
                raise AttestationError(f"crl: {what} certificate '{_cn(cert.subject)}' is revoked")


@dataclass(frozen=True)
class PckFacts:
    """What the PCK certificate's SGX extension says about the platform."""

    fmspc: bytes
    pce_id: bytes
    cpu_svn: bytes
    pce_svn: int
    sgx_tcb_components: tuple[int, ...]


def pck_facts(cert: x509.Certificate) -> PckFacts:
    """FMSPC, PCE-ID and TCB (16 component SVNs, PCESVN, CPUSVN) from the SGX extension."""
    try:
        raw = cert.extensions.get_extension_for_oid(SGX_EXT_OID).value
    except x509.ExtensionNotFound:
        raise AttestationError("pck: the PCK certificate has no SGX extension") from None
    if not isinstance(raw, x509.UnrecognizedExtension):
        raise AttestationError("pck: unexpected SGX extension type")
    entries = _oid_pairs(der.read_one(raw.value, der.TAG_SEQUENCE, "SGX extension"), "SGX extension")
    tcb_raw = _need(entries, f"{_SGX}.2", der.TAG_SEQUENCE)
    tcb = _oid_pairs(tcb_raw, "SGX TCB")
    comps = tuple(der.integer(_need(tcb, f"{_SGX}.2.{i}", der.TAG_INTEGER), "SGX TCB") for i in range(1, 17))
    return PckFacts(
        fmspc=_need(entries, f"{_SGX}.4", der.TAG_OCTET_STRING, 6),
        pce_id=_need(entries, f"{_SGX}.3", der.TAG_OCTET_STRING, 2),
        cpu_svn=_need(tcb, f"{_SGX}.2.18", der.TAG_OCTET_STRING, 16),
        pce_svn=der.integer(_need(tcb, f"{_SGX}.2.17", der.TAG_INTEGER), "PCESVN"),
        sgx_tcb_components=comps,
    )


def _oid_pairs(seq: bytes, what: str) -> dict[str, der.Tlv]:
    out: dict[str, der.Tlv] = {}
    for item in der.read_tlvs(seq, what):
        if item.tag != der.TAG_SEQUENCE:
            raise AttestationError(f"pck: {what} entry is not a SEQUENCE")
        parts = der.read_tlvs(item.value, what)
        if len(parts) != 2 or parts[0].tag != der.TAG_OID:
            raise AttestationError(f"pck: {what} entry is not (OID, value)")
        oid = der.oid_text(parts[0].value)
        if oid in out:
            raise AttestationError(f"pck: {what} repeats {oid}")
        out[oid] = parts[1]
    return out


def _need(entries: Mapping[str, der.Tlv], oid: str, tag: int, size: int | None = None) -> bytes:
    tlv = entries.get(oid)
    if tlv is None or tlv.tag != tag or (size is not None and len(tlv.value) != size):
        raise AttestationError(f"pck: SGX extension field {oid} is missing or malformed")
    return tlv.value


# -- collateral -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TdxCollateral:
    """TCB-info and QE-identity responses (raw bodies, as Intel PCS serves them), the TCB signing
    chain (the ``TCB-Info-Issuer-Chain`` header), and CRLs (PCK platform/processor CA, root CA)."""

    tcb_info: bytes | None = None
    qe_identity: bytes | None = None
    signing_chain: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = field(default=())


def load_collateral(directory: str | Path) -> TdxCollateral:
    """Read a folder: JSON files with ``tcbInfo`` / ``enclaveIdentity``, PEM certificates (the TCB
    signing chain) and CRLs (DER or PEM). Files are told apart by content, not by name."""
    tcb_info = qe_identity = None
    chain: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    for path in sorted(Path(directory).iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if len(data) > 1024 * 1024:
            raise AttestationError(f"collateral: {path.name} is over 1 MiB")
        stripped = data.lstrip()
        if stripped.startswith(b"{"):
            if b'"tcbInfo"' in data[:32]:
                tcb_info = stripped
            elif b'"enclaveIdentity"' in data[:32]:
                qe_identity = stripped
            else:
                raise AttestationError(f"collateral: {path.name} is neither TCB info nor QE identity")
        elif b"-----BEGIN CERTIFICATE-----" in data:
            chain.extend(x509.load_pem_x509_certificates(data))
        elif b"-----BEGIN X509 CRL-----" in data:
            crls.append(x509.load_pem_x509_crl(data))
        else:
            try:
                crls.append(x509.load_der_x509_crl(data))
            except ValueError:
                raise AttestationError(f"collateral: {path.name} is not TCB info, QE identity, PEM or CRL") \
                    from None
    return TdxCollateral(tcb_info, qe_identity, tuple(chain), tuple(crls))


def _signed_json(body: bytes, key: str, signer: x509.Certificate, what: str) -> dict[str, Any]:
    """The ``key`` object of a PCS response after checking its signature over its exact bytes."""
    try:
        text = body.decode("utf-8")
        whole = json.loads(text)
        prefix = '{"' + key + '":'
        if not text.startswith(prefix):
            raise ValueError("unexpected layout")
        _, end = json.JSONDecoder().raw_decode(text, len(prefix))
        signed = text[len(prefix) : end].encode("utf-8")
        signature = bytes.fromhex(whole["signature"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise AttestationError(f"collateral: {what} is not a PCS response with {key!r} and 'signature'") \
            from None
    if len(signature) != 64 or set(whole) != {key, "signature"}:
        raise AttestationError(f"collateral: {what} signature must be 64 bytes and the only other field")
    key_obj = signer.public_key()
    if not isinstance(key_obj, ec.EllipticCurvePublicKey):
        raise AttestationError("collateral: the TCB signing certificate has no EC key")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key_obj.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AttestationError(f"collateral: {what} signature does not verify with the TCB signing key") \
            from None
    obj = whole[key]
    if not isinstance(obj, dict):
        raise AttestationError(f"collateral: {what} is not an object")
    return obj


def _when(value: Any, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        raise AttestationError(f"collateral: {what} is not a time") from None


def _check_current(obj: Mapping[str, Any], now: dt.datetime, what: str) -> None:
    issued, next_update = _when(obj.get("issueDate"), f"{what} issueDate"), _when(obj.get("nextUpdate"),
                                                                                  f"{what} nextUpdate")
    if not issued <= now <= next_update:
        raise AttestationError(
            f"collateral: {what} is not current at {now.isoformat()} "
            f"(issued {issued.isoformat()}, next update {next_update.isoformat()})"
        )


def _masked_equal(actual: bytes, expected_hex: str, mask_hex: str) -> bool:
    expected, mask = bytes.fromhex(expected_hex), bytes.fromhex(mask_hex)
    if not len(actual) == len(expected) == len(mask):
        return False
    return all((a & m) == (e & m) for a, e, m in zip(actual, expected, mask, strict=True))


def _worse(a: str, b: str) -> str:
    rank = {s: i for i, s in enumerate(TCB_STATUS_ORDER)}
    return a if rank.get(a, len(rank)) >= rank.get(b, len(rank)) else b


def evaluate_tcb(
    quote: TdxQuote, pck: PckFacts, collateral: TdxCollateral, now: dt.datetime, root: x509.Certificate
) -> dict[str, Any]:
    """Verify the collateral (signed by the TCB signing chain to ``root``) and compute the platform,
    QE and combined TCB status (the worse of platform and QE)."""
    if collateral.tcb_info is None or collateral.qe_identity is None:
        raise AttestationError("collateral: both TCB info and QE identity are needed")
    signers = [c for c in collateral.signing_chain if _cn(c.subject) == "Intel SGX TCB Signing"]
    if not signers:
        raise AttestationError("collateral: no 'Intel SGX TCB Signing' certificate in the collateral")
    signer = signers[0]
    _verify_chain(signer, collateral.signing_chain, root, now, "TCB signing", collateral.crls)
    info = _signed_json(collateral.tcb_info, "tcbInfo", signer, "TCB info")
    qe_id = _signed_json(collateral.qe_identity, "enclaveIdentity", signer, "QE identity")
    if info.get("id") != "TDX" or info.get("version") != 3:
        raise AttestationError("collateral: TCB info must be id TDX, version 3")
    if str(info.get("fmspc", "")).lower() != pck.fmspc.hex():
        raise AttestationError(
            f"collateral: TCB info is for FMSPC {info.get('fmspc')}, the PCK says {pck.fmspc.hex()}"
        )
    if str(info.get("pceId", "")).lower() != pck.pce_id.hex():
        raise AttestationError("collateral: TCB info PCE-ID differs from the PCK certificate's")
    _check_current(info, now, "TCB info")
    _check_current(qe_id, now, "QE identity")
    module = info.get("tdxModule") or {}
    try:
        if not hmac.compare_digest(bytes.fromhex(module["mrsigner"]), quote.body.mr_signer_seam):
            raise AttestationError("tcb: MRSIGNERSEAM differs from the TCB info's TDX module signer")
        if not _masked_equal(quote.body.seam_attributes, module["attributes"], module["attributesMask"]):
            raise AttestationError("tcb: SEAMATTRIBUTES do not match the TCB info's TDX module attributes")
    except (KeyError, TypeError, ValueError):
        raise AttestationError("collateral: TCB info tdxModule is malformed") from None
    platform = _platform_level(quote, pck, info)
    qe_status = _qe_status(quote.qe_report, qe_id)
    return {
        "tcb_status": _worse(platform["tcbStatus"], qe_status),
        "platform_tcb_status": platform["tcbStatus"],
        "qe_tcb_status": qe_status,
        "advisory_ids": list(platform.get("advisoryIDs", [])),
        "tcb_date": platform.get("tcbDate"),
        "tcb_evaluation_data_number": info.get("tcbEvaluationDataNumber"),
    }


def _platform_level(quote: TdxQuote, pck: PckFacts, info: Mapping[str, Any]) -> Mapping[str, Any]:
    tee_svn = quote.body.tee_tcb_svn
    try:
        for level in info["tcbLevels"]:
            tcb = level["tcb"]
            sgx = [int(c["svn"]) for c in tcb["sgxtcbcomponents"]]
            tdx = [int(c["svn"]) for c in tcb["tdxtcbcomponents"]]
            if len(sgx) != 16 or len(tdx) != 16:
                raise AttestationError("collateral: a TCB level does not have 16 SGX and 16 TDX components")
            if any(p < s for p, s in zip(pck.sgx_tcb_components, sgx, strict=True)):
                continue
            if pck.pce_svn < int(tcb["pcesvn"]):
                continue
            if any(q < t for q, t in zip(tee_svn, tdx, strict=True)):
                continue
            if tdx[1] != tee_svn[1]:
                raise AttestationError("tcb: TEE_TCB_SVN[1] differs from the matched level's TDX module SVN")
            if not isinstance(level.get("tcbStatus"), str):
                raise AttestationError("collateral: TCB level without a status")
            return level
    except (KeyError, TypeError, ValueError):
        raise AttestationError("collateral: TCB info tcbLevels are malformed") from None
    return {"tcbStatus": TCB_NOT_SUPPORTED}  # no level matches: Intel's "TCB not supported"


def _qe_status(qe: QeReport, identity: Mapping[str, Any]) -> str:
    try:
        if identity["id"] != "TD_QE" or identity["version"] != 2:
            raise AttestationError("collateral: QE identity must be id TD_QE, version 2")
        misc = qe.misc_select.to_bytes(4, "big")
        if not _masked_equal(misc, identity["miscselect"], identity["miscselectMask"]):
            raise AttestationError("qe identity: MISCSELECT does not match")
        if not _masked_equal(qe.attributes, identity["attributes"], identity["attributesMask"]):
            raise AttestationError("qe identity: QE attributes do not match")
        if bytes.fromhex(identity["mrsigner"]) != qe.mr_signer:
            raise AttestationError("qe identity: the QE's MRSIGNER is not Intel's")
        if int(identity["isvprodid"]) != qe.isv_prod_id:
            raise AttestationError("qe identity: ISVPRODID differs")
        for level in identity["tcbLevels"]:
            if qe.isv_svn >= int(level["tcb"]["isvsvn"]):
                return str(level["tcbStatus"])
    except (KeyError, TypeError, ValueError):
        raise AttestationError("collateral: QE identity is malformed") from None
    raise AttestationError("qe identity: the QE's ISVSVN is below every QE identity TCB level")


# -- verification ---------------------------------------------------------------------------------


def _p256_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError:
        raise AttestationError("signature: the attestation key is not a P-256 point") from None


def _verify_p256(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes, what: str) -> None:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AttestationError(f"signature: {what} does not verify") from None


class TdxVerifier:
    """Verifies TDX quotes (raw, or in an evidence bundle) against the Intel SGX Root CA.

    ``root`` defaults to the pinned Intel SGX Root CA; another root must be an
    :class:`~.trust.UnsafeTrustRoot` (the simulator's; then collateral is checked against it too).
    ``collateral`` supplies TCB info, QE identity, the TCB signing chain and CRLs; without it the TCB
    status is ``unknown`` and only ``allow_tcb_unknown`` lets the quote pass. ``tcb_statuses`` is the
    allowlist of acceptable statuses (default ``UpToDate`` only).
    """

    def __init__(
        self,
        *,
        root: TrustRoot | None = None,
        clock: Clock = utc_now,
        collateral: TdxCollateral | None = None,
        tcb_statuses: Iterable[str] = DEFAULT_TCB_STATUSES,
        allow_tcb_unknown: bool = False,
        policy: AttestationPolicy | None = None,
        allow_debug: bool = False,
    ) -> None:
        root = root or intel_sgx_root()
        if not root.unsafe and root.fingerprint != INTEL_SGX_ROOT_SHA256:
            raise AttestationError(
                "a root other than the pinned Intel SGX Root CA must be passed as UnsafeTrustRoot"
            )
        self._root = root
        self._clock = clock
        self._collateral = collateral
        statuses = tuple(tcb_statuses) + ((TCB_STATUS_UNKNOWN,) if allow_tcb_unknown else ())
        self._statuses = TcbStatusAllowlist(statuses)
        self._policy = policy
        self._allow_debug = allow_debug

    def verify(
        self, document: bytes, *, expected_nonce: bytes | None = None, allow_trailing: bool = False
    ) -> VerifiedAttestation:
        """Verify a raw quote or an evidence bundle; :class:`AttestationError` names the failed check."""
        document = bytes(document)
        if is_bundle(document):
            bundle = decode_bundle(document)
            if bundle.tee != TEE_TDX:
                raise AttestationError(f"evidence bundle is for {bundle.tee}, not tdx")
        else:
            bundle = EvidenceBundle(TEE_TDX, document)
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("verifier clock must return an aware datetime")
        now = now.astimezone(dt.UTC)
        if self._root.unsafe:
            logger.warning("verifying TDX quote against UNSAFE root %s: no hardware guarantee",
                           self._root.fingerprint)
        quote = parse_quote(bundle.evidence, allow_trailing=allow_trailing)
        crls = self._collateral.crls if self._collateral else ()
        pck = self._verify_pck(quote, now, crls)
        _verify_p256(_ec_key(pck), quote.qe_report_signature, quote.qe_report.raw,
                     "the QE report signature by the PCK key")
        expected = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest() + bytes(32)
        if not hmac.compare_digest(expected, quote.qe_report.report_data):
            raise AttestationError("qe binding: the QE report does not bind the attestation key + auth data")
        _verify_p256(_p256_key(quote.attestation_key), quote.signature, quote.signed,
                     "the quote signature by the attestation key")
        facts = pck_facts(pck)
        tcb = self._tcb(quote, facts, now)
        verified = _result(quote, bundle, tcb, pck, self._root.unsafe, now, document)
        if not self._allow_debug:
            NotDebugMode().verify(verified)
        if bundle.has_claims:
            assert bundle.nonce is not None and bundle.user_data is not None and bundle.public_key is not None
            binding = report_data_binding(bundle.nonce, bundle.user_data, bundle.public_key)
            if not hmac.compare_digest(binding, quote.body.report_data):
                raise MeasurementError("report_data: does not bind the bundle's nonce, user_data, public_key")
        if expected_nonce is not None:
            ExpectedNonce(expected_nonce).verify(verified)
        self._statuses.verify(verified)
        if self._policy is not None:
            self._policy.verify(verified)
        return verified

    def _verify_pck(
        self, quote: TdxQuote, now: dt.datetime, crls: Sequence[x509.CertificateRevocationList]
    ) -> x509.Certificate:
        try:
            certs = x509.load_pem_x509_certificates(quote.pck_chain_pem.rstrip(b"\x00"))
        except ValueError:
            raise AttestationError("pck: the PCK certificate chain is not PEM") from None
        leaf = certs[0]
        if _cn(leaf.subject) != "Intel SGX PCK Certificate" and not self._root.unsafe:
            raise AttestationError("pck: the first certificate is not an Intel SGX PCK Certificate")
        _verify_chain(leaf, certs[1:], self._root.certificate, now, "PCK", crls)
        return leaf

    def _tcb(self, quote: TdxQuote, facts: PckFacts, now: dt.datetime) -> dict[str, Any]:
        base: dict[str, Any] = {
            "fmspc": facts.fmspc.hex(),
            "pce_id": facts.pce_id.hex(),
            "pce_svn": facts.pce_svn,
            "sgx_tcb_components": list(facts.sgx_tcb_components),
            "tee_tcb_svn": quote.body.tee_tcb_svn.hex(),
            "qe_isv_svn": quote.qe_report.isv_svn,
            "reported_tcb": {str(i): v for i, v in enumerate(quote.body.tee_tcb_svn)}
            | {"pce_svn": facts.pce_svn},
            "td_attributes": quote.body.td_attributes,
            "quote_version": quote.version,
        }
        if self._collateral is None or self._collateral.tcb_info is None:
            return base | {"tcb_status": TCB_STATUS_UNKNOWN}
        return base | evaluate_tcb(quote, facts, self._collateral, now, self._root.certificate)


def _ec_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AttestationError("pck: the PCK key is not ECDSA P-256")
    return key


def _result(
    quote: TdxQuote,
    bundle: EvidenceBundle,
    tcb: dict[str, Any],
    pck: x509.Certificate,
    unsafe: bool,
    now: dt.datetime,
    document: bytes,
) -> VerifiedAttestation:
    body = quote.body
    measurements = {
        "MRTD": body.mr_td,
        "RTMR0": body.rtmrs[0],
        "RTMR1": body.rtmrs[1],
        "RTMR2": body.rtmrs[2],
        "RTMR3": body.rtmrs[3],
        "MRCONFIGID": body.mr_config_id,
        "MROWNER": body.mr_owner,
        "MROWNERCONFIG": body.mr_owner_config,
        "MRSEAM": body.mr_seam,
        "MRSIGNERSEAM": body.mr_signer_seam,
    }
    if body.mr_service_td is not None:
        measurements["MRSERVICETD"] = body.mr_service_td
    return VerifiedAttestation(
        timestamp=now,
        public_key=bundle.public_key,
        user_data=bundle.user_data,
        nonce=bundle.nonce,
        document_sha256=hashlib.sha256(document).digest(),
        leaf_certificate=pck,
        trusted_root_unsafe=unsafe,
        tee=TEE_TDX,
        measurements=measurements,
        report_data=body.report_data,
        tcb=tcb,
        debug=bool(body.td_attributes & TD_ATTR_DEBUG),
    )
