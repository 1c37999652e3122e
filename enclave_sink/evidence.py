"""Evidence containers for SEV-SNP and TDX, and telling the three TEE formats apart.

A Nitro document carries its nonce, user data and public key inside the signed payload. An SNP
report or a TDX quote only has 64 bytes of ``report_data``; the service therefore sends a small
CBOR *evidence bundle* beside it::

    {"format": "redactline-evidence/1", "tee": "sev-snp" | "tdx", "evidence": <report or quote>,
     "certificates": [<DER>, ...], "nonce": b, "user_data": b, "public_key": b}

and the report binds the three claims through ``report_data = report_data_binding(nonce, user_data,
public_key)`` (:mod:`.verified`). ``certificates`` carries what the evidence itself does not (the
SNP VCEK/VLEK, optionally the ASK); a TDX quote brings its own PCK chain. The claims are only
trusted after the verifier has checked that binding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cbor2

from .cose import strict_cbor_loads
from .errors import AttestationError
from .verified import TEE_NITRO, TEE_SEV_SNP, TEE_TDX

__all__ = ["BUNDLE_FORMAT", "EvidenceBundle", "decode_bundle", "detect_tee", "encode_bundle"]

BUNDLE_FORMAT = "redactline-evidence/1"
MAX_BUNDLE_BYTES = 64 * 1024
MAX_CLAIM_BYTES = 1024
MAX_CERTIFICATES = 8
_FIELDS = {"format", "tee", "evidence", "certificates", "nonce", "user_data", "public_key"}
SNP_REPORT_SIZE = 0x4A0
TDX_TEE_TYPE = 0x81


@dataclass(frozen=True)
class EvidenceBundle:
    """A raw SNP report or TDX quote plus certificates and the claims ``report_data`` binds."""

    tee: str
    evidence: bytes
    certificates: tuple[bytes, ...] = ()
    nonce: bytes | None = None
    user_data: bytes | None = None
    public_key: bytes | None = None

    @property
    def has_claims(self) -> bool:
        return self.nonce is not None and self.user_data is not None and self.public_key is not None


def encode_bundle(bundle: EvidenceBundle) -> bytes:
    """Canonical CBOR of ``bundle`` (what a provider sends)."""
    body = {
        "format": BUNDLE_FORMAT,
        "tee": bundle.tee,
        "evidence": bundle.evidence,
        "certificates": list(bundle.certificates),
        "nonce": bundle.nonce,
        "user_data": bundle.user_data,
        "public_key": bundle.public_key,
    }
    return cbor2.dumps(body, canonical=True)


def is_bundle(data: bytes) -> bool:
    """Cheap test: a CBOR map (major type 5) that is not a COSE array or tag."""
    return bool(data) and data[0] >> 5 == 5


def decode_bundle(data: bytes) -> EvidenceBundle:
    """Strictly decode an evidence bundle; :class:`AttestationError` names the first bad field."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise AttestationError(f"evidence bundle is {len(data)} bytes, over {MAX_BUNDLE_BYTES}")
    doc = strict_cbor_loads(data, "evidence bundle", max_depth=3)
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise AttestationError(f"evidence bundle must be a map with exactly the fields {sorted(_FIELDS)}")
    if doc["format"] != BUNDLE_FORMAT:
        raise AttestationError(f"evidence bundle format must be {BUNDLE_FORMAT!r}")
    if doc["tee"] not in (TEE_SEV_SNP, TEE_TDX):
        raise AttestationError("evidence bundle tee must be 'sev-snp' or 'tdx'")
    if not isinstance(doc["evidence"], bytes) or not doc["evidence"]:
        raise AttestationError("evidence bundle: evidence must be non-empty bytes")
    certs = doc["certificates"]
    if not isinstance(certs, list) or len(certs) > MAX_CERTIFICATES:
        raise AttestationError(f"evidence bundle: certificates must be a list of at most {MAX_CERTIFICATES}")
    if not all(isinstance(c, bytes) and 0 < len(c) <= 8192 for c in certs):
        raise AttestationError("evidence bundle: every certificate must be DER bytes")
    claims = {}
    for name in ("nonce", "user_data", "public_key"):
        value = doc[name]
        if value is not None and (not isinstance(value, bytes) or len(value) > MAX_CLAIM_BYTES):
            raise AttestationError(f"evidence bundle: {name} must be null or at most {MAX_CLAIM_BYTES} bytes")
        claims[name] = value
    present = [v is not None for v in claims.values()]
    if any(present) and not all(present):
        raise AttestationError("evidence bundle: nonce, user_data and public_key come together or not at all")
    return EvidenceBundle(doc["tee"], doc["evidence"], tuple(certs), **claims)


def detect_tee(data: bytes) -> str:
    """``nitro``, ``sev-snp`` or ``tdx`` from the raw bytes (bundle, COSE_Sign1, report or quote)."""
    if not data:
        raise AttestationError("evidence is empty")
    if is_bundle(data):
        return decode_bundle(data).tee
    if data[0] in (0x84, 0xD2):  # untagged COSE_Sign1 array(4) or tag 18
        return TEE_NITRO
    if len(data) >= 8:
        version, _key_type, tee_type = struct.unpack_from("<HHI", data)
        if version in (4, 5) and tee_type == TDX_TEE_TYPE:
            return TEE_TDX
        if len(data) == SNP_REPORT_SIZE and 2 <= int.from_bytes(data[:4], "little") <= 5:
            return TEE_SEV_SNP
    raise AttestationError("cannot tell the TEE type: not a Nitro document, SEV-SNP report or TDX quote")
