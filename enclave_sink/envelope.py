"""Sealed envelopes: batches sealed to an attested enclave key, replies only that enclave can produce.

Construction (KEM/DEM, all primitives from ``cryptography``):

* KEM: HPKE (RFC 9180) base mode, suite X25519 / HKDF-SHA256 / AES-256-GCM, single-shot, wraps a
  random 32-byte *session secret* to the recipient's X25519 key. The HPKE ``info`` binds the purpose
  and, for batches, the SHA-256 of the attestation document that published the enclave key (for
  replies: the SHA-256 of the request header, hence its batch id). X25519 because Nitro documents
  carry arbitrary key bytes and X25519 keys are small and fast; AES-256-GCM because these hosts have
  AES-NI (about 1.5x ChaCha20-Poly1305 here) and 256-bit keys leave margin.
* DEM: per envelope, HKDF-SHA256(secret, salt = 32 random bytes) derives a fresh AES-256-GCM key and
  nonce; the payload is encrypted with *everything before it* as associated data (prefix, canonical
  header, key block, salt), so any changed header byte fails authentication.

Replies are authenticated (version 2). ``reply_public_key`` travels in the clear header, so a reply
that is merely sealed to it could come from anyone on the path, the untrusted host included. Each
sealed batch therefore yields a *reply secret*, the 32 bytes that follow the AES key and nonce in the
batch's own DEM expansion::

    key 32 | nonce 12 | reply_secret 32 = HKDF-SHA256(batch session secret, salt = the batch's salt,
                                          info = "redactline/envelope/v2/dem/batch" 0x00 attestation digest)

Only the two holders of the batch session secret can compute it: the client that sealed the batch and
the enclave that unwrapped its key block with the attested private key. The batch salt is random per
envelope, so a reply secret belongs to exactly one sealed batch (one HKDF call for both keeps the
per-batch cost flat). The reply's DEM key is derived from ``reply KEM secret || reply_secret`` with the
SHA-256 of the request header in its ``info``, so a reply built without the batch session secret, or
moved to another batch, fails authentication at the client.

The reply KEM to ``reply_public_key`` stays because it still adds something: the session secret is
shared by up to ``max_batches`` batches of a :class:`BatchSealer` and cached by the enclave, while the
reply private key is fresh per batch and never leaves the client; with the KEM, reading a reply also
needs that key, so a leaked session secret, or the enclave key leaking later beside recorded traffic,
does not open replies as well. The client keeps only the per-batch reply secret
(:attr:`SealedEnvelope.reply_secret`) until the reply is opened, never the session secret; the enclave
gets the same value from :meth:`BatchOpener.open` (:attr:`OpenedBatch.reply_secret`).

The cryptography HPKE API is single-shot and has no AAD argument, hence the header goes through the
DEM's AAD. Wrapping a session secret (rather than the payload) also lets :class:`BatchSealer` reuse
one HPKE encapsulation for many batches, which removes the X25519 cost from the per-batch path.

Wire format (big-endian)::

    magic "RLSE" | version u8 = 2 | kind u8 (1 batch, 2 reply) | header_len u32 | ciphertext_len u64
    | header (canonical CBOR) | key block (HPKE enc 32 + sealed secret 48) | salt 32 | ciphertext+tag

Version 1 (replies sealed to ``reply_public_key`` alone, hence forgeable by the host) is refused.
``tests/vectors/envelope-v2.json`` freezes the format.

Enclave keys are X25519. In an attestation document's ``public_key`` we accept the raw 32 bytes or
an X25519 SubjectPublicKeyInfo (DER, 44 bytes); the simulator publishes SPKI DER because it names its
algorithm. Reply keys travel in the header as raw 32 bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import struct
from collections import OrderedDict
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .envelope_header import MAX_HEADER_BYTES, BatchHeader, EnvelopeError, ReplyHeader
from .verified import VerifiedAttestation

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_PLAINTEXT_BYTES",
    "BatchHeader",
    "BatchOpener",
    "BatchSealer",
    "EnvelopeError",
    "OpenedBatch",
    "ReplyHeader",
    "SealedEnvelope",
    "enclave_public_key_from_attestation",
    "open_batch",
    "open_reply",
    "seal_batch",
    "seal_reply",
]

MAGIC = b"RLSE"
FORMAT_VERSION = 2
KIND_BATCH = 1
KIND_REPLY = 2
MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)

_PREFIX = struct.Struct(">4sBBIQ")
_SECRET_LEN = 32
_KEY_BLOCK_LEN = 32 + _SECRET_LEN + 16  # X25519 enc + sealed secret + HPKE tag
_SALT_LEN = 32
_TAG_LEN = 16
_DIGEST_LEN = 32
_LABELS = {KIND_BATCH: b"batch", KIND_REPLY: b"reply"}
_LABEL_PREFIX = b"redactline/envelope/v2/"
_X25519_SPKI_PREFIX = bytes.fromhex("302a300506032b656e032100")


class SealedEnvelope(NamedTuple):
    """A sealed batch and the secret its reply must be opened with (keep it until the reply is open)."""

    envelope: bytes
    reply_secret: bytes


class OpenedBatch(NamedTuple):
    """An authenticated batch: header, plaintext, and the secret the enclave seals the reply with."""

    header: BatchHeader
    plaintext: bytes
    reply_secret: bytes


# ---------------------------------------------------------------------------------------------- keys


def enclave_public_key_from_attestation(doc: VerifiedAttestation | bytes) -> x25519.X25519PublicKey:
    """The enclave's X25519 key from a verified document's ``public_key`` (raw 32 bytes or SPKI DER)."""
    raw = doc.public_key if isinstance(doc, VerifiedAttestation) else doc
    if raw is None:
        raise EnvelopeError("attestation document carries no public_key")
    if len(raw) == 32:
        return x25519.X25519PublicKey.from_public_bytes(raw)
    if len(raw) == len(_X25519_SPKI_PREFIX) + 32 and raw.startswith(_X25519_SPKI_PREFIX):
        key = serialization.load_der_public_key(raw)
        if isinstance(key, x25519.X25519PublicKey):
            return key
    raise EnvelopeError("attestation public_key is not an X25519 key (raw 32 bytes or SPKI DER)")


def _public_key(key: x25519.X25519PublicKey | bytes) -> x25519.X25519PublicKey:
    return key if isinstance(key, x25519.X25519PublicKey) else enclave_public_key_from_attestation(key)


def _check_digest(attestation_digest: bytes) -> bytes:
    if not isinstance(attestation_digest, bytes) or len(attestation_digest) != _DIGEST_LEN:
        raise ValueError("attestation_digest must be the 32-byte SHA-256 of the attestation document")
    return attestation_digest


def _check_secret(reply_secret: bytes) -> bytes:
    if not isinstance(reply_secret, bytes) or len(reply_secret) != _SECRET_LEN:
        raise ValueError("reply_secret must be the 32 bytes returned when the batch was sealed or opened")
    return reply_secret


def _kem_info(kind: int, binding: bytes) -> bytes:
    return _LABEL_PREFIX + b"kem/" + _LABELS[kind] + b"\x00" + binding


def _dem_key(secret: bytes, salt: bytes, kind: int, binding: bytes) -> tuple[AESGCM, bytes, bytes]:
    """AES-256-GCM key and nonce of one envelope; for a batch also its reply secret (same expansion)."""
    info = _LABEL_PREFIX + b"dem/" + _LABELS[kind] + b"\x00" + binding
    length = 32 + 12 + (_SECRET_LEN if kind == KIND_BATCH else 0)
    okm = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)
    return AESGCM(okm[:32]), okm[32:44], okm[44:]


def _request_binding(request_header: BatchHeader) -> bytes:
    return hashlib.sha256(request_header.encode()).digest()


# ------------------------------------------------------------------------------------------- framing


def _seal(
    kind: int, header: bytes, plaintext: bytes, secret: bytes, key_block: bytes, binding: bytes, salt: bytes
) -> tuple[bytes, bytes]:
    """The envelope, and for a batch its reply secret."""
    if len(header) > MAX_HEADER_BYTES:
        raise EnvelopeError(f"header is {len(header)} bytes, over {MAX_HEADER_BYTES}")
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise EnvelopeError(f"payload is {len(plaintext)} bytes, over {MAX_PLAINTEXT_BYTES}")
    aad = b"".join(
        (
            _PREFIX.pack(MAGIC, FORMAT_VERSION, kind, len(header), len(plaintext) + _TAG_LEN),
            header,
            key_block,
            salt,
        )
    )
    aead, nonce, reply_secret = _dem_key(secret, salt, kind, binding)
    # One allocation for the whole envelope; the ciphertext is written in place.
    out = bytearray(len(aad) + len(plaintext) + _TAG_LEN)
    out[: len(aad)] = aad
    aead.encrypt_into(nonce, plaintext, aad, memoryview(out)[len(aad) :])
    return bytes(out), reply_secret


class _Parsed:
    __slots__ = ("aad", "ciphertext", "header", "key_block", "salt")

    def __init__(self, envelope: bytes, kind: int) -> None:
        view = memoryview(envelope)
        if len(view) < _PREFIX.size:
            raise EnvelopeError(
                f"truncated envelope: {len(view)} bytes, shorter than the {_PREFIX.size}-byte prefix"
            )
        magic, version, got_kind, header_len, ct_len = _PREFIX.unpack_from(view)
        if magic != MAGIC:
            raise EnvelopeError("not a redactline sealed envelope (bad magic)")
        if version != FORMAT_VERSION:
            raise EnvelopeError(f"unsupported envelope version {version} (this side speaks {FORMAT_VERSION})")
        if got_kind != kind:
            raise EnvelopeError(
                f"envelope kind is {_LABELS.get(got_kind, got_kind)!r}, expected {_LABELS[kind]!r}"
            )
        # Refuse oversized declarations before slicing or allocating anything.
        if header_len > MAX_HEADER_BYTES:
            raise EnvelopeError(f"declared header of {header_len} bytes is over {MAX_HEADER_BYTES}")
        if not _TAG_LEN <= ct_len <= MAX_PLAINTEXT_BYTES + _TAG_LEN:
            raise EnvelopeError(f"declared ciphertext of {ct_len} bytes is out of range")
        ct_off = _PREFIX.size + header_len + _KEY_BLOCK_LEN + _SALT_LEN
        expected = ct_off + ct_len
        if len(view) < expected:
            raise EnvelopeError(f"truncated envelope: {len(view)} of {expected} bytes")
        if len(view) > expected:
            raise EnvelopeError(f"{len(view) - expected} unexpected trailing bytes after the envelope")
        self.header = bytes(view[_PREFIX.size : _PREFIX.size + header_len])
        kb_off = _PREFIX.size + header_len
        self.key_block = bytes(view[kb_off : kb_off + _KEY_BLOCK_LEN])
        self.salt = bytes(view[kb_off + _KEY_BLOCK_LEN : ct_off])
        self.aad = bytes(view[:ct_off])
        self.ciphertext = view[ct_off:]

    def decrypt(self, secret: bytes, kind: int, binding: bytes) -> tuple[bytes, bytes]:
        """The plaintext, and for a batch its reply secret."""
        aead, nonce, reply_secret = _dem_key(secret, self.salt, kind, binding)
        try:
            return aead.decrypt(nonce, self.ciphertext, self.aad), reply_secret
        except InvalidTag:
            raise EnvelopeError(
                "envelope authentication failed (header or payload altered, or a reply not sealed by the "
                "enclave that opened the batch)"
            ) from None


def _unwrap_secret(key_block: bytes, private_key: x25519.X25519PrivateKey, info: bytes) -> bytes:
    try:
        secret = SUITE.decrypt(key_block, private_key, info=info)
    except (InvalidTag, ValueError):
        raise EnvelopeError(
            "cannot open the key block: wrong private key, other attestation/request binding, or tampering"
        ) from None
    if len(secret) != _SECRET_LEN:
        raise EnvelopeError("key block carries a secret of the wrong length")
    return secret


# ------------------------------------------------------------------------------------------- batches


def _seal_batch_with(
    header: BatchHeader,
    plaintext: bytes,
    session_secret: bytes,
    key_block: bytes,
    attestation_digest: bytes,
    salt: bytes,
) -> SealedEnvelope:
    """Seal with explicit session secret, key block and salt (random in production; fixed in vectors)."""
    return SealedEnvelope(
        *_seal(KIND_BATCH, header.encode(), plaintext, session_secret, key_block, attestation_digest, salt)
    )


def seal_batch(
    header: BatchHeader,
    plaintext: bytes,
    enclave_public_key: x25519.X25519PublicKey | bytes,
    attestation_digest: bytes,
) -> SealedEnvelope:
    """Seal one batch to the enclave key published in the attestation document ``attestation_digest``.

    ``enclave_public_key`` is an X25519 key or the document's ``public_key`` bytes; ``attestation_digest``
    is :attr:`VerifiedAttestation.document_sha256`. Fresh HPKE encapsulation per call; use
    :class:`BatchSealer` to amortise it over many batches.
    """
    return BatchSealer(enclave_public_key, attestation_digest, max_batches=1).seal(header, plaintext)


def open_batch(
    envelope: bytes, enclave_private_key: x25519.X25519PrivateKey, attestation_digest: bytes
) -> OpenedBatch:
    """Authenticate and decrypt a batch (header, plaintext, reply secret) or raise :class:`EnvelopeError`."""
    return BatchOpener(enclave_private_key, attestation_digest, cache_size=0).open(envelope)


class BatchSealer:
    """Seals batches for one enclave key, reusing one HPKE encapsulation for up to ``max_batches``.

    Each batch still gets its own random salt, hence its own AES key, nonce and reply secret. Batches of
    one session share the key block, so an observer can tell they come from the same sealer (not what
    they hold). Rotating to a new session does not affect replies to earlier batches: each
    :class:`SealedEnvelope` carries its own reply secret.
    """

    def __init__(
        self,
        enclave_public_key: x25519.X25519PublicKey | bytes,
        attestation_digest: bytes,
        *,
        max_batches: int = 1024,
    ) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be at least 1")
        self._public_key = _public_key(enclave_public_key)
        self._digest = _check_digest(attestation_digest)
        self._max_batches = max_batches
        self._used = max_batches  # forces a fresh session on first use
        self._secret = b""
        self._key_block = b""

    def seal(self, header: BatchHeader, plaintext: bytes) -> SealedEnvelope:
        if not isinstance(header, BatchHeader):
            raise TypeError("header must be a BatchHeader")
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise EnvelopeError(f"payload is {len(plaintext)} bytes, over {MAX_PLAINTEXT_BYTES}")
        if self._used >= self._max_batches:
            self._secret = os.urandom(_SECRET_LEN)
            self._key_block = SUITE.encrypt(
                self._secret, self._public_key, info=_kem_info(KIND_BATCH, self._digest)
            )
            self._used = 0
        self._used += 1
        return _seal_batch_with(
            header, plaintext, self._secret, self._key_block, self._digest, os.urandom(_SALT_LEN)
        )


class BatchOpener:
    """Opens batches for one enclave key; caches up to ``cache_size`` unwrapped session secrets."""

    def __init__(
        self, enclave_private_key: x25519.X25519PrivateKey, attestation_digest: bytes, *, cache_size: int = 64
    ) -> None:
        if not isinstance(enclave_private_key, x25519.X25519PrivateKey):
            raise TypeError("enclave_private_key must be an X25519PrivateKey")
        self._private_key = enclave_private_key
        self._digest = _check_digest(attestation_digest)
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()

    def open(self, envelope: bytes) -> OpenedBatch:
        parsed = _Parsed(envelope, KIND_BATCH)
        header = BatchHeader.decode(parsed.header)
        secret = self._cache.get(parsed.key_block)
        if secret is None:
            secret = _unwrap_secret(parsed.key_block, self._private_key, _kem_info(KIND_BATCH, self._digest))
        plaintext, reply_secret = parsed.decrypt(secret, KIND_BATCH, self._digest)
        # Cache only after the payload authenticated, so forged key blocks never occupy the cache.
        if self._cache_size > 0:
            self._cache[parsed.key_block] = secret
            self._cache.move_to_end(parsed.key_block)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return OpenedBatch(header, plaintext, reply_secret)


# ------------------------------------------------------------------------------------------- replies


def _seal_reply_with(
    request_header: BatchHeader,
    plaintext: bytes,
    reply_secret: bytes,
    kem_secret: bytes,
    key_block: bytes,
    created_at: dt.datetime,
    salt: bytes,
) -> bytes:
    """Seal a reply with explicit KEM secret, key block and salt (random in production; fixed in vectors)."""
    reply_header = ReplyHeader(batch_id=request_header.batch_id, created_at=created_at).encode()
    binding = _request_binding(request_header)
    dem_secret = kem_secret + _check_secret(reply_secret)
    return _seal(KIND_REPLY, reply_header, plaintext, dem_secret, key_block, binding, salt)[0]


def seal_reply(
    request_header: BatchHeader,
    plaintext: bytes,
    reply_secret: bytes,
    *,
    created_at: dt.datetime | None = None,
) -> bytes:
    """Seal the enclave's reply to ``request_header.reply_public_key``, bound to that exact request and
    authenticated by ``reply_secret`` (:attr:`OpenedBatch.reply_secret` of the batch it answers)."""
    binding = _request_binding(request_header)
    kem_secret = os.urandom(_SECRET_LEN)
    recipient = x25519.X25519PublicKey.from_public_bytes(request_header.reply_public_key)
    key_block = SUITE.encrypt(kem_secret, recipient, info=_kem_info(KIND_REPLY, binding))
    when = created_at or dt.datetime.now(dt.UTC)
    return _seal_reply_with(
        request_header, plaintext, reply_secret, kem_secret, key_block, when, os.urandom(_SALT_LEN)
    )


def open_reply(
    envelope: bytes,
    reply_private_key: x25519.X25519PrivateKey,
    request_header: BatchHeader,
    reply_secret: bytes,
) -> bytes:
    """Open a reply to ``request_header`` sealed by the party that opened that batch.

    ``reply_secret`` is :attr:`SealedEnvelope.reply_secret` of the batch. Replies to any other batch or
    request, and replies built without the batch's session secret (by the host, say), are refused.
    """
    _check_secret(reply_secret)
    parsed = _Parsed(envelope, KIND_REPLY)
    reply_header = ReplyHeader.decode(parsed.header)
    if reply_header.batch_id != request_header.batch_id:
        raise EnvelopeError("reply answers a different batch id")
    binding = _request_binding(request_header)
    kem_secret = _unwrap_secret(parsed.key_block, reply_private_key, _kem_info(KIND_REPLY, binding))
    return parsed.decrypt(kem_secret + reply_secret, KIND_REPLY, binding)[0]
