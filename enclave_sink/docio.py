"""Reading attestation documents stored as raw CBOR, base64 or hex text.

A document file is read with a bounded read (:func:`read_document_file`): a file larger than any
encoding of a document the verifier accepts is refused before it is read.
"""

from __future__ import annotations

import base64
import binascii
import os
import string

from redactline.policies.bounded_io import KIB, read_bounded

from .attestation import MAX_DOCUMENT_BYTES
from .errors import AttestationError

#: Largest document file read: hex text of the largest accepted document, plus room for line breaks.
MAX_DOCUMENT_FILE_BYTES = 2 * MAX_DOCUMENT_BYTES + 4 * KIB

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


def read_document_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a stored attestation document; ``BoundedReadError`` when ``path`` is not a regular
    file or holds more than :data:`MAX_DOCUMENT_FILE_BYTES` (checked before reading)."""
    return read_bounded(path, MAX_DOCUMENT_FILE_BYTES)
