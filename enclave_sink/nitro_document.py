"""The Nitro attestation payload (the CBOR map inside COSE_Sign1): strict shape checks only.

Shape per the AWS NSM API: ``module_id`` text, ``digest`` "SHA384", ``timestamp`` uint (ms since the
epoch), ``pcrs`` {index: 32/48/64 bytes}, ``certificate`` DER, ``cabundle`` [DER, ...] root first,
and optional ``public_key``/``user_data``/``nonce`` that real documents send as CBOR null when absent.
No cryptography happens here; :mod:`.attestation` does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .cose import strict_cbor_loads
from .errors import AttestationError

REQUIRED_FIELDS = ("module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle")
OPTIONAL_FIELDS = ("public_key", "user_data", "nonce")
MAX_OPTIONAL_FIELD_BYTES = 1024
MAX_PCRS = 32
PCR_LENGTHS = (32, 48, 64)
MAX_CERT_BYTES = 1024
MAX_CABUNDLE = 16  # Nitro sends 4; anything near this bound is not a real document
# A millisecond timestamp is >= 1e12 from September 2001 on; a seconds value is far below.
MIN_TIMESTAMP_MS = 1_000_000_000_000


@dataclass(frozen=True)
class NitroPayload:
    """The decoded, shape-checked payload fields (not yet cryptographically verified)."""

    module_id: str
    digest: str
    timestamp_ms: int
    pcrs: dict[int, bytes]
    certificate: bytes
    cabundle: tuple[bytes, ...]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None


def parse_payload(payload: bytes) -> NitroPayload:
    """Decode and check the payload map; raise :class:`AttestationError` naming the first bad field."""
    # Indefinite lengths allowed: the 2026 NSM document in the fixtures encodes its map that way.
    doc = strict_cbor_loads(payload, "attestation payload", max_depth=4, allow_indefinite=True)
    if not isinstance(doc, dict):
        raise AttestationError("attestation payload must be a CBOR map")
    keys = set(doc)
    missing = [k for k in REQUIRED_FIELDS if k not in keys]
    if missing:
        raise AttestationError(f"attestation payload: missing field(s) {', '.join(missing)}")
    unknown = sorted(str(k) for k in keys - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise AttestationError(f"attestation payload: unknown field(s) {', '.join(unknown)}")

    module_id = doc["module_id"]
    if not isinstance(module_id, str) or not module_id:
        raise AttestationError("module_id must be a non-empty text string")
    if doc["digest"] != "SHA384" or not isinstance(doc["digest"], str):
        raise AttestationError('digest must be "SHA384"')
    timestamp = doc["timestamp"]
    if type(timestamp) is not int or timestamp <= 0:
        raise AttestationError("timestamp must be a positive integer")
    if timestamp < MIN_TIMESTAMP_MS:
        raise AttestationError("timestamp must be in milliseconds since the epoch (looks like seconds)")

    return NitroPayload(
        module_id=module_id,
        digest=doc["digest"],
        timestamp_ms=timestamp,
        pcrs=_parse_pcrs(doc["pcrs"]),
        certificate=_bytes_field(doc["certificate"], "certificate", MAX_CERT_BYTES),
        cabundle=_parse_cabundle(doc["cabundle"]),
        public_key=_optional_field(doc, "public_key"),
        user_data=_optional_field(doc, "user_data"),
        nonce=_optional_field(doc, "nonce"),
    )


def _parse_pcrs(value: Any) -> dict[int, bytes]:
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_PCRS:
        raise AttestationError(f"pcrs must be a map of 1..{MAX_PCRS} entries")
    pcrs: dict[int, bytes] = {}
    lengths = set()
    for index, digest in value.items():
        if type(index) is not int or not 0 <= index < MAX_PCRS:
            raise AttestationError(f"pcrs: index {index!r} is not an integer in 0..{MAX_PCRS - 1}")
        if not isinstance(digest, bytes) or len(digest) not in PCR_LENGTHS:
            raise AttestationError(f"pcrs[{index}] must be 32, 48 or 64 bytes")
        lengths.add(len(digest))
        pcrs[index] = digest
    if lengths != {48}:
        # digest is SHA384, so every PCR must be a SHA-384 value.
        raise AttestationError("pcrs: with digest SHA384 every PCR must be 48 bytes")
    return dict(sorted(pcrs.items()))


def _parse_cabundle(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, list) or not value:
        raise AttestationError("cabundle must be a non-empty list")
    if len(value) > MAX_CABUNDLE:
        raise AttestationError(f"cabundle has {len(value)} entries, more than {MAX_CABUNDLE}")
    return tuple(_bytes_field(c, f"cabundle[{i}]", MAX_CERT_BYTES) for i, c in enumerate(value))


def _bytes_field(value: Any, name: str, limit: int) -> bytes:
    if not isinstance(value, bytes) or not 1 <= len(value) <= limit:
        raise AttestationError(f"{name} must be a byte string of 1..{limit} bytes")
    return value


def _optional_field(doc: dict[Any, Any], name: str) -> bytes | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise AttestationError(f"{name} must be a byte string or null")
    if len(value) > MAX_OPTIONAL_FIELD_BYTES:
        raise AttestationError(f"{name} is {len(value)} bytes, more than {MAX_OPTIONAL_FIELD_BYTES}")
    return value
