"""AMD SEV-SNP attestation reports: strict parsing, signature, VCEK/VLEK chain to AMD roots, policy.

Layout per the AMD SEV-SNP Firmware ABI specification (ATTESTATION_REPORT, 0x4A0 bytes): the body
0x000-0x29F is signed with ECDSA P-384/SHA-384 by the VCEK (or VLEK); the signature at 0x2A0 holds
R and S as 72-byte little-endian integers. Reports of version 2 to 5 are accepted; every field the
specification marks reserved must be zero.

The chain is VCEK -> ASK (VLEK -> ASVK) -> ARK, all RSA-PSS/SHA-384 except the VCEK's own P-384 key,
ending at the ARK pinned for the report's product (Milan, Genoa, Turin; files in ``roots/``). Only
the Milan root is exercised by a real report in the test vectors; Genoa and Turin are pinned the
same way. The report has no timestamp: certificates are checked at the verifier's (injectable) clock.

Verification order (first failure wins, each message names the check): parse -> product -> chain ->
signature -> reported TCB and chip id against the VCEK extensions -> debug -> report_data binding
-> minimum TCB -> measurement policy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import der
from .attestation import Clock, utc_now
from .errors import AttestationError, MeasurementError
from .evidence import EvidenceBundle, decode_bundle, is_bundle
from .measurement import ExpectedNonce, MinimumTcb, NotDebugMode
from .trust import TrustRoot, fingerprint_sha256
from .verified import TEE_SEV_SNP, AttestationPolicy, VerifiedAttestation, report_data_binding

__all__ = [
    "AMD_ARK_SHA256",
    "SnpReport",
    "SnpVerifier",
    "TcbVersion",
    "amd_roots",
    "load_certificates",
    "parse_snp_report",
]

logger = logging.getLogger(__name__)

REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SIG_COMPONENT_SIZE = 72  # R and S, little-endian, zero-extended from 48 bytes
SUPPORTED_VERSIONS = range(2, 6)
SIG_ALGO_ECDSA_P384_SHA384 = 1
POLICY_RESERVED_ONE = 1 << 17
POLICY_DEBUG = 1 << 19
POLICY_DEFINED_MASK = (1 << 26) - 1  # bits 26..63 are reserved, must be zero
SIGNING_KEY_VCEK, SIGNING_KEY_VLEK, SIGNING_KEY_NONE = 0, 1, 7

PRODUCTS = ("Milan", "Genoa", "Turin")
# SHA-256 over the DER of each ARK, as fetched from https://kdsintf.amd.com/vcek/v1/<product>/cert_chain.
AMD_ARK_SHA256 = {
    "Milan": "69D063B45344D26A2E94E1F4210DE49EF555308287D4C174445C95639A540BCD",
    "Genoa": "4C6598D19C18719C5DFD4A7D335F674E5BFE1D8F800CEA2CF270C10D103DB2F1",
    "Turin": "1F084161A44BB6D93778A904877D4819CAFA5D05EF4193B2DED9DD9C73DD3F6A",
}
ROOTS_DIR = Path(__file__).resolve().parent / "roots"

AMD_OID = "1.3.6.1.4.1.3704.1"
OID_PRODUCT_NAME = x509.ObjectIdentifier(f"{AMD_OID}.2")
OID_HWID = x509.ObjectIdentifier(f"{AMD_OID}.4")
TCB_OIDS = {
    "bootloader": x509.ObjectIdentifier(f"{AMD_OID}.3.1"),
    "tee": x509.ObjectIdentifier(f"{AMD_OID}.3.2"),
    "snp": x509.ObjectIdentifier(f"{AMD_OID}.3.3"),
    "microcode": x509.ObjectIdentifier(f"{AMD_OID}.3.8"),
    "fmc": x509.ObjectIdentifier(f"{AMD_OID}.3.9"),
}


@dataclass(frozen=True)
class TcbVersion:
    """One TCB_VERSION (8 bytes); the field order differs between Milan/Genoa and Turin."""

    raw: bytes
    bootloader: int
    tee: int
    snp: int
    microcode: int
    fmc: int | None = None

    @classmethod
    def parse(cls, raw: bytes, product: str, what: str) -> TcbVersion:
        if product == "Turin":
            # FMC, BOOT_LOADER, TEE, SNP, reserved[3], MICROCODE
            if any(raw[4:7]):
                raise AttestationError(f"{what}: reserved TCB bytes are not zero")
            return cls(raw, bootloader=raw[1], tee=raw[2], snp=raw[3], microcode=raw[7], fmc=raw[0])
        # BOOT_LOADER, TEE, reserved[4], SNP, MICROCODE
        if any(raw[2:6]):
            raise AttestationError(f"{what}: reserved TCB bytes are not zero")
        return cls(raw, bootloader=raw[0], tee=raw[1], snp=raw[6], microcode=raw[7])

    def as_dict(self) -> dict[str, int]:
        out = {"bootloader": self.bootloader, "tee": self.tee, "snp": self.snp, "microcode": self.microcode}
        if self.fmc is not None:
            out["fmc"] = self.fmc
        return out


@dataclass(frozen=True)
class SnpReport:
    """The fields of an attestation report (TCB values still raw: their layout needs the product)."""

    raw: bytes
    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: bytes
    platform_info: int
    author_key_en: bool
    mask_chip_key: bool
    signing_key: int
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: bytes
    cpuid: tuple[int, int, int] | None
    chip_id: bytes
    committed_tcb: bytes
    current_version: tuple[int, int, int]
    committed_version: tuple[int, int, int]
    launch_tcb: bytes
    signature_r: int
    signature_s: int

    @property
    def signed_body(self) -> bytes:
        return self.raw[:SIGNED_SIZE]

    @property
    def debug(self) -> bool:
        return bool(self.policy & POLICY_DEBUG)


def _zero(data: bytes, start: int, end: int, what: str) -> None:
    if any(data[start:end]):
        raise AttestationError(f"report: reserved bytes 0x{start:X}-0x{end - 1:X} ({what}) are not zero")


def parse_snp_report(data: bytes) -> SnpReport:
    """Parse a raw report strictly; :class:`AttestationError` names the first bad field."""
    if len(data) != REPORT_SIZE:
        raise AttestationError(f"report: SEV-SNP reports are {REPORT_SIZE} bytes, got {len(data)}")
    version, guest_svn, policy = struct.unpack_from("<IIQ", data, 0)
    if version not in SUPPORTED_VERSIONS:
        raise AttestationError(f"report: version {version} is not supported (2..5)")
    vmpl, sig_algo = struct.unpack_from("<II", data, 0x30)
    if vmpl > 3:
        raise AttestationError(f"report: VMPL {vmpl} is out of range 0..3")
    if sig_algo != SIG_ALGO_ECDSA_P384_SHA384:
        raise AttestationError(f"report: signature algorithm {sig_algo} is not ECDSA P-384 with SHA-384")
    if not policy & POLICY_RESERVED_ONE:
        raise AttestationError("report: guest policy bit 17 must be one")
    if policy & ~POLICY_DEFINED_MASK:
        raise AttestationError("report: guest policy reserved bits 26..63 are not zero")
    (platform_info,) = struct.unpack_from("<Q", data, 0x40)
    (key_bits,) = struct.unpack_from("<I", data, 0x48)
    if key_bits & ~0x1F:
        raise AttestationError("report: reserved bits of the key-selection word (0x48) are not zero")
    signing_key = (key_bits >> 2) & 0x7
    if signing_key not in (SIGNING_KEY_VCEK, SIGNING_KEY_VLEK):
        raise AttestationError(f"report: SIGNING_KEY {signing_key} (7 means the report is unsigned)")
    _zero(data, 0x4C, 0x50, "after key selection")
    if version >= 3:
        cpuid: tuple[int, int, int] | None = (data[0x188], data[0x189], data[0x18A])
        _zero(data, 0x18B, 0x1A0, "after CPUID")
    else:
        cpuid = None
        _zero(data, 0x188, 0x1A0, "before CHIP_ID")
    _zero(data, 0x1EB, 0x1EC, "after CURRENT_MAJOR")
    _zero(data, 0x1EF, 0x1F0, "after COMMITTED_MAJOR")
    # Version 5 adds LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR at 0x1F8..0x207.
    _zero(data, 0x208 if version >= 5 else 0x1F8, SIGNED_SIZE, "after LAUNCH_TCB")
    sig = data[SIGNED_SIZE:]
    r_le, s_le = sig[:SIG_COMPONENT_SIZE], sig[SIG_COMPONENT_SIZE : 2 * SIG_COMPONENT_SIZE]
    if any(r_le[48:]) or any(s_le[48:]) or any(sig[2 * SIG_COMPONENT_SIZE :]):
        raise AttestationError("report: signature padding (above 48-byte R/S and after S) is not zero")
    return SnpReport(
        raw=bytes(data),
        version=version,
        guest_svn=guest_svn,
        policy=policy,
        family_id=data[0x10:0x20],
        image_id=data[0x20:0x30],
        vmpl=vmpl,
        signature_algo=sig_algo,
        current_tcb=data[0x38:0x40],
        platform_info=platform_info,
        author_key_en=bool(key_bits & 1),
        mask_chip_key=bool(key_bits & 2),
        signing_key=signing_key,
        report_data=data[0x50:0x90],
        measurement=data[0x90:0xC0],
        host_data=data[0xC0:0xE0],
        id_key_digest=data[0xE0:0x110],
        author_key_digest=data[0x110:0x140],
        report_id=data[0x140:0x160],
        report_id_ma=data[0x160:0x180],
        reported_tcb=data[0x180:0x188],
        cpuid=cpuid,
        chip_id=data[0x1A0:0x1E0],
        committed_tcb=data[0x1E0:0x1E8],
        current_version=(data[0x1EA], data[0x1E9], data[0x1E8]),
        committed_version=(data[0x1EE], data[0x1ED], data[0x1EC]),
        launch_tcb=data[0x1F0:0x1F8],
        signature_r=int.from_bytes(r_le, "little"),
        signature_s=int.from_bytes(s_le, "little"),
    )


# -- trust ----------------------------------------------------------------------------------------


@cache
def _pinned_chain(product: str) -> tuple[x509.Certificate, x509.Certificate]:
    """(ASK, ARK) for ``product`` from ``roots/``; the ARK must match its pinned fingerprint."""
    certs = load_certificates((ROOTS_DIR / f"amd_{product.lower()}.pem").read_bytes())
    if len(certs) != 2:
        raise RuntimeError(f"roots/amd_{product.lower()}.pem must hold the ASK then the ARK")
    ask, ark = certs
    if fingerprint_sha256(ark) != AMD_ARK_SHA256[product]:
        raise RuntimeError(f"roots/amd_{product.lower()}.pem: ARK does not match its pinned fingerprint")
    return ask, ark


def amd_roots() -> dict[str, TrustRoot]:
    """The pinned AMD ARK per product (the only SNP roots trusted by default)."""
    return {product: TrustRoot(_pinned_chain(product)[1]) for product in PRODUCTS}


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (one or more) or a single DER certificate."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise AttestationError("certificate data is neither PEM nor DER X.509") from None


def _common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _verify_pss_signature(cert: x509.Certificate, issuer: x509.Certificate, what: str) -> None:
    """``cert`` must be signed by ``issuer`` with RSA-PSS/SHA-384 (the only scheme AMD uses)."""
    params = cert.signature_algorithm_parameters
    if not isinstance(params, padding.PSS) or not isinstance(cert.signature_hash_algorithm, hashes.SHA384):
        raise AttestationError(f"chain: {what} is not signed with RSA-PSS/SHA-384")
    if not isinstance(issuer.public_key(), rsa.RSAPublicKey):
        raise AttestationError(f"chain: the issuer of {what} has no RSA key")
    if cert.issuer != issuer.subject:
        raise AttestationError(f"chain: {what} is issued by '{_common_name(cert.issuer)}', "
                               f"not by '{_common_name(issuer.subject)}'")
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        raise AttestationError(f"chain: signature on {what} does not verify") from None


def _check_ca(cert: x509.Certificate, what: str) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise AttestationError(f"chain: {what} has no basicConstraints") from None
    if not bc.ca:
        raise AttestationError(f"chain: {what} is not a CA certificate")


def _check_validity(cert: x509.Certificate, now: dt.datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise AttestationError(
            f"validity: {what} '{_common_name(cert.subject)}' is not valid at {now.isoformat()} "
            f"(valid {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()})"
        )


def _ext_bytes(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _ext_int(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> int | None:
    raw = _ext_bytes(cert, oid)
    if raw is None:
        return None
    return der.integer(der.read_one(raw, der.TAG_INTEGER, f"VCEK extension {oid.dotted_string}"), "VCEK TCB")


def certificate_product(cert: x509.Certificate) -> str | None:
    """Product of a VCEK/VLEK: its productName extension ("Milan-B0") or its issuer ("SEV-Milan")."""
    raw = _ext_bytes(cert, OID_PRODUCT_NAME)
    if raw is not None:
        tlvs = der.read_tlvs(raw, "VCEK productName")
        text = (tlvs[0].value if len(tlvs) == 1 and tlvs[0].tag == der.TAG_IA5STRING else raw).decode(
            "ascii", "replace"
        )
        name = text.split("-")[0]
    else:
        name = _common_name(cert.issuer).rsplit("-", 1)[-1]
    return name if name in PRODUCTS else None


# -- verification ---------------------------------------------------------------------------------


class SnpVerifier:
    """Verifies SEV-SNP reports (raw, or in an evidence bundle) against pinned AMD roots.

    ``roots`` maps a product to its ARK; it defaults to :func:`amd_roots`. A root that is not the
    pinned ARK of its product must be an :class:`~.trust.UnsafeTrustRoot` (the simulator's).
    ``product`` fixes the expected product (otherwise it is read from the VCEK). ``minimum_tcb``
    (e.g. ``{"snp": 8, "microcode": 115}``) applies to the REPORTED_TCB. Debug-enabled guests
    (policy bit 19) are refused unless ``allow_debug``.
    """

    def __init__(
        self,
        *,
        roots: Mapping[str, TrustRoot] | None = None,
        clock: Clock = utc_now,
        product: str | None = None,
        policy: AttestationPolicy | None = None,
        allow_debug: bool = False,
        minimum_tcb: Mapping[str, int] | None = None,
    ) -> None:
        roots = dict(amd_roots() if roots is None else roots)
        for name, root in roots.items():
            if name not in PRODUCTS:
                raise ValueError(f"unknown SEV-SNP product {name!r} (one of {PRODUCTS})")
            if not root.unsafe and root.fingerprint != AMD_ARK_SHA256[name]:
                raise AttestationError(
                    f"a root other than the pinned ARK-{name} must be passed as UnsafeTrustRoot"
                )
        if product is not None and product not in PRODUCTS:
            raise ValueError(f"unknown SEV-SNP product {product!r} (one of {PRODUCTS})")
        self._roots = roots
        self._clock = clock
        self._product = product
        self._policy = policy
        self._allow_debug = allow_debug
        self._minimum_tcb = MinimumTcb(TEE_SEV_SNP, minimum_tcb) if minimum_tcb else None

    def verify(
        self,
        document: bytes,
        *,
        certificates: Sequence[x509.Certificate] = (),
        expected_nonce: bytes | None = None,
    ) -> VerifiedAttestation:
        """Verify a raw report or an evidence bundle; ``certificates`` adds a VCEK/VLEK or ASK."""
        document = bytes(document)
        if is_bundle(document):
            bundle = decode_bundle(document)
            if bundle.tee != TEE_SEV_SNP:
                raise AttestationError(f"evidence bundle is for {bundle.tee}, not sev-snp")
        else:
            bundle = EvidenceBundle(TEE_SEV_SNP, document)
        certs = [*(_load_der(c) for c in bundle.certificates), *certificates]
        return self._verify(bundle, certs, expected_nonce, hashlib.sha256(document).digest())

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("verifier clock must return an aware datetime")
        return now.astimezone(dt.UTC)

    def _verify(
        self,
        bundle: EvidenceBundle,
        certs: list[x509.Certificate],
        expected_nonce: bytes | None,
        digest: bytes,
    ) -> VerifiedAttestation:
        now = self._now()
        report = parse_snp_report(bundle.evidence)
        leaf_cn = "SEV-VCEK" if report.signing_key == SIGNING_KEY_VCEK else "SEV-VLEK"
        leaves = [c for c in certs if _common_name(c.subject) == leaf_cn]
        if not leaves:
            raise AttestationError(f"chain: no {leaf_cn} certificate supplied (the report is signed by the "
                                   f"{leaf_cn[4:]}; pass it with --cert or in the bundle)")
        leaf = leaves[0]
        product = self._product_of(report, leaf)
        root = self._roots.get(product)
        if root is None:
            raise AttestationError(f"chain: no trusted root for product {product}")
        if root.unsafe:
            logger.warning("verifying SEV-SNP report against UNSAFE root %s: no hardware guarantee",
                           root.fingerprint)
        self._verify_chain(leaf, certs, root, product, now)
        self._verify_signature(report, leaf)
        reported = TcbVersion.parse(report.reported_tcb, product, "REPORTED_TCB")
        self._check_leaf_tcb(report, reported, leaf)
        verified = self._result(report, bundle, reported, product, leaf, root, now, digest)
        if not self._allow_debug:
            NotDebugMode().verify(verified)
        self._check_binding(report, bundle, expected_nonce, verified)
        if self._minimum_tcb is not None:
            self._minimum_tcb.verify(verified)
        if self._policy is not None:
            self._policy.verify(verified)
        return verified

    def _product_of(self, report: SnpReport, leaf: x509.Certificate) -> str:
        product = certificate_product(leaf)
        if product is None:
            raise AttestationError("chain: the VCEK/VLEK names no known product (Milan, Genoa, Turin)")
        if self._product is not None and product != self._product:
            raise AttestationError(f"product: the VCEK is for {product}, expected {self._product}")
        if report.cpuid is not None and _cpuid_product(report.cpuid) not in (None, product):
            raise AttestationError(f"product: the report's CPUID is not a {product} processor")
        return product

    def _verify_chain(
        self,
        leaf: x509.Certificate,
        certs: Iterable[x509.Certificate],
        root: TrustRoot,
        product: str,
        now: dt.datetime,
    ) -> None:
        ark = root.certificate
        intermediates = [c for c in certs if c.subject == leaf.issuer and c.subject != c.issuer]
        if not root.unsafe:
            pinned_ask = _pinned_chain(product)[0]
            if pinned_ask.subject == leaf.issuer:
                intermediates.append(pinned_ask)
        if not intermediates:
            raise AttestationError(f"chain: no certificate '{_common_name(leaf.issuer)}' to verify the "
                                   f"{_common_name(leaf.subject)}")
        _verify_pss_signature(ark, ark, f"ARK '{_common_name(ark.subject)}' (self-signed)")
        failures = []
        for ask in intermediates:
            try:
                _verify_pss_signature(ask, ark, f"'{_common_name(ask.subject)}' by the {product} root")
                _verify_pss_signature(leaf, ask, f"'{_common_name(leaf.subject)}'")
                _check_ca(ask, _common_name(ask.subject))
                _check_ca(ark, _common_name(ark.subject))
                for cert, what in ((ark, "root"), (ask, "intermediate"), (leaf, "VCEK/VLEK")):
                    _check_validity(cert, now, what)
            except AttestationError as exc:
                failures.append(exc.reason)
                continue
            return
        raise AttestationError(failures[0])

    @staticmethod
    def _verify_signature(report: SnpReport, leaf: x509.Certificate) -> None:
        key = leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
            raise AttestationError("signature: the VCEK/VLEK key is not ECDSA P-384")
        try:
            key.verify(
                encode_dss_signature(report.signature_r, report.signature_s),
                report.signed_body,
                ec.ECDSA(hashes.SHA384()),
            )
        except InvalidSignature:
            raise AttestationError("signature: the report signature does not verify with the VCEK/VLEK") \
                from None

    @staticmethod
    def _check_leaf_tcb(report: SnpReport, reported: TcbVersion, leaf: x509.Certificate) -> None:
        for name, value in reported.as_dict().items():
            cert_value = _ext_int(leaf, TCB_OIDS[name])
            if report.signing_key == SIGNING_KEY_VLEK and cert_value is None:
                continue
            if cert_value != value:
                raise AttestationError(
                    f"tcb: REPORTED_TCB {name} SVN {value} differs from the certificate's {cert_value}"
                )
        if report.signing_key != SIGNING_KEY_VCEK:
            return
        hwid = _ext_bytes(leaf, OID_HWID)
        if hwid is None:
            raise AttestationError("tcb: the VCEK has no hwID extension")
        if len(hwid) != 64:  # some issuers wrap it in an OCTET STRING
            hwid = der.read_one(hwid, der.TAG_OCTET_STRING, "VCEK hwID")
        if report.mask_chip_key or not any(report.chip_id):
            raise AttestationError("tcb: CHIP_ID is masked, so the VCEK cannot be tied to this chip")
        if not hmac.compare_digest(hwid, report.chip_id):
            raise AttestationError("tcb: CHIP_ID differs from the VCEK's hwID")

    def _check_binding(
        self,
        report: SnpReport,
        bundle: EvidenceBundle,
        expected_nonce: bytes | None,
        verified: VerifiedAttestation,
    ) -> None:
        if bundle.has_claims:
            assert bundle.nonce is not None and bundle.user_data is not None and bundle.public_key is not None
            binding = report_data_binding(bundle.nonce, bundle.user_data, bundle.public_key)
            if not hmac.compare_digest(binding, report.report_data):
                raise MeasurementError("report_data: does not bind the bundle's nonce, user_data, public_key")
        if expected_nonce is not None:
            ExpectedNonce(expected_nonce).verify(verified)

    @staticmethod
    def _result(
        report: SnpReport,
        bundle: EvidenceBundle,
        reported: TcbVersion,
        product: str,
        leaf: x509.Certificate,
        root: TrustRoot,
        now: dt.datetime,
        digest: bytes,
    ) -> VerifiedAttestation:
        def tcb(raw: bytes, what: str) -> dict[str, int]:
            return TcbVersion.parse(raw, product, what).as_dict()

        facts: dict[str, Any] = {
            "product": product,
            "signing_key": "vcek" if report.signing_key == SIGNING_KEY_VCEK else "vlek",
            "version": report.version,
            "guest_svn": report.guest_svn,
            "policy": report.policy,
            "vmpl": report.vmpl,
            "platform_info": report.platform_info,
            "reported_tcb": reported.as_dict(),
            "current_tcb": tcb(report.current_tcb, "CURRENT_TCB"),
            "committed_tcb": tcb(report.committed_tcb, "COMMITTED_TCB"),
            "launch_tcb": tcb(report.launch_tcb, "LAUNCH_TCB"),
            "firmware": "{}.{}.{}".format(*report.current_version),
        }
        measurements = {
            "MEASUREMENT": report.measurement,
            "HOST_DATA": report.host_data,
            "FAMILY_ID": report.family_id,
            "IMAGE_ID": report.image_id,
            "ID_KEY_DIGEST": report.id_key_digest,
            "AUTHOR_KEY_DIGEST": report.author_key_digest,
        }
        return VerifiedAttestation(
            timestamp=now,
            public_key=bundle.public_key,
            user_data=bundle.user_data,
            nonce=bundle.nonce,
            document_sha256=digest,
            leaf_certificate=leaf,
            trusted_root_unsafe=root.unsafe,
            tee=TEE_SEV_SNP,
            measurements=measurements,
            report_data=report.report_data,
            tcb=facts,
            debug=report.debug,
        )


def _cpuid_product(cpuid: tuple[int, int, int]) -> str | None:
    family, model, _stepping = cpuid
    if family == 0x19:
        if model <= 0x0F:
            return "Milan"
        if 0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF:
            return "Genoa"
    if family == 0x1A and model <= 0x11:
        return "Turin"
    return None


def _load_der(der_bytes: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der_bytes)
    except ValueError:
        raise AttestationError("evidence bundle: a certificate is not DER X.509") from None
