"""Reading attestation documents stored as raw CBOR, base64 or hex text."""

from __future__ import annotations

import base64
import binascii
import string

from .errors import AttestationError

_HEX = frozenset(string.hexdigits.encode())
# A raw COSE_Sign1 starts with a CBOR array(4) header or tag 18; neither is printable text.
_RAW_PREFIXES = (0x84, 0xD2)


def decode_document(data: bytes) -> bytes:
    """Return the raw document from ``data`` that is raw CBOR, hex text or base64 text.

    Raises :class:`AttestationError` when it is none of these (for example, corrupted base64).
    """
    if not data:
        raise AttestationError("attestation document is empty")
    if data[0] in _RAW_PREFIXES:
        return data
    text = b"".join(data.split())  # drop whitespace and line breaks
    if text and len(text) % 2 == 0 and all(c in _HEX for c in text):
        return bytes.fromhex(text.decode("ascii"))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        raise AttestationError("attestation document is neither raw CBOR, hex nor valid base64") from None
