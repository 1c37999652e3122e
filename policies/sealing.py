"""At-rest sealing: the one format for what redactline keeps on disk under a local key (the raw bytes
of quarantined records, sealed vaults). Plain ``cryptography``, no Beam.

A sealed blob, version 1::

    b"RLSEAL" (6) || version 0x01 (1) || nonce (12) || AES-256-GCM ciphertext || tag (16)

* The AES-256 key is derived per *purpose* with HKDF-SHA256 from the operator's key material (at least
  32 bytes), info ``redactline/<purpose>/aes-256-gcm/v1``; ``key_id`` (16 hex digits, from info
  ``redactline/<purpose>/key-id/v1``) names the key without revealing it. One key file can so serve
  the quarantine and a vault without either blob ever opening as the other.
* The associated data is the 7-byte header followed by the compact JSON array ``[purpose, *binding]``:
  the version, the purpose and what the blob belongs to (the quarantine binds an entry's source and
  ref) are authenticated, so a blob moved to another entry, purpose or version fails to open.
* The nonce is 12 random bytes per blob. ``seal(..., nonce=)`` exists for the frozen known-answer
  vectors in ``tests/vectors/``; production code never passes it.

A change to any of this is a new version byte and a deliberate edit of those vectors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"RLSEAL"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])
NONCE_BYTES = 12
TAG_BYTES = 16
MIN_KEY_BYTES = 32


class SealingError(ValueError):
    """A blob that does not open (wrong key, wrong binding, damaged). Never names the content."""


class NotSealed(SealingError):
    """Bytes that are not a sealed blob of a version this code reads."""


def associated_data(purpose: str, binding: Sequence[str] = ()) -> bytes:
    """What a blob is authenticated together with: the header, the purpose and the binding."""
    return HEADER + json.dumps([purpose, *binding], ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _hkdf(material: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode("utf-8")).derive(material)


class SealingKey:
    """The AES-256-GCM key of one purpose, derived from key material; seals and opens blobs."""

    def __init__(self, material: bytes, purpose: str) -> None:
        if not isinstance(material, bytes | bytearray) or len(material) < MIN_KEY_BYTES:
            raise SealingError(f"sealing key material must be at least {MIN_KEY_BYTES} bytes")
        self.purpose = purpose
        self._aead = AESGCM(_hkdf(bytes(material), f"redactline/{purpose}/aes-256-gcm/v1"))
        self.key_id = _hkdf(bytes(material), f"redactline/{purpose}/key-id/v1")[:8].hex()

    def seal(self, plaintext: bytes, binding: Sequence[str] = (), *, nonce: bytes | None = None) -> bytes:
        """The sealed blob of ``plaintext`` bound to ``binding``; ``nonce`` only for known-answer tests."""
        if nonce is None:
            nonce = os.urandom(NONCE_BYTES)
        elif len(nonce) != NONCE_BYTES:
            raise ValueError(f"a nonce is {NONCE_BYTES} bytes")
        return HEADER + nonce + self._aead.encrypt(nonce, plaintext, associated_data(self.purpose, binding))

    def open(self, blob: bytes, binding: Sequence[str] = ()) -> bytes:
        """The plaintext of ``blob``; :class:`NotSealed` or :class:`SealingError` when it does not open."""
        if len(blob) < len(HEADER) + NONCE_BYTES + TAG_BYTES or not blob.startswith(MAGIC):
            raise NotSealed("not a sealed redactline blob")
        if blob[: len(HEADER)] != HEADER:
            raise NotSealed(f"sealed blob version {blob[len(MAGIC)]} is not supported (expected {VERSION})")
        nonce = blob[len(HEADER) : len(HEADER) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[len(HEADER) + NONCE_BYTES :],
                                      associated_data(self.purpose, binding))
        except InvalidTag:
            raise SealingError("authentication failed: wrong key, wrong binding or damaged blob") from None

    def __repr__(self) -> str:
        return f"SealingKey(purpose={self.purpose!r}, key_id={self.key_id!r})"
