"""Enclave key lifecycle: rotation with a grace period, per-key document registry and replay cache.

Each :class:`EnclaveKey` is an X25519 key pair that lives in process memory only. It records the
digests of the attestation documents that published it (a batch is sealed against one document: the
envelope binds that digest) and the batch ids it has answered. Both die with the key, and at most two
keys live at once (current + previous during its grace period).

Rotation happens on the key's lifetime (or when its replay cache is full, a bound only answered
batches can reach), never because of attestation traffic: the document registry is a bounded LRU
index (``max_documents_per_key``) whose oldest entries are forgotten, not a rotation trigger. A batch
sealed against a forgotten document still opens: the service then tries the live keys themselves
(see :meth:`KeyRing.live_keys`). The replaced key keeps opening batches for ``grace`` (batches sealed
just before rotation, still in flight), then it is dropped. A batch against a dropped or unknown key
gets :class:`UnknownKeyError`, which the HTTP layer turns into 409 ``reattest``.

Replay: a batch id is *begun* on a key after the envelope authenticated (so forged envelopes cannot
fill the cache) and *committed* only once its reply is sealed. While it is in flight a duplicate gets
:class:`InFlightError`; after a failure (nothing sealed) it is released and a retry is processed; once
committed, a repeat raises :class:`ReplayError`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from ..envelope import BatchHeader, BatchOpener

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnknownKeyError(Exception):
    """The batch names an attestation document of no live key (rotated out, or never issued here)."""


class ReplayError(Exception):
    """This batch id was already answered (its reply sealed) under this key."""


class InFlightError(Exception):
    """This batch id is being processed right now under this key."""


class KeyExhaustedError(Exception):
    """The key's replay cache is full; the key was retired and the client must re-attest."""


@dataclass
class EnclaveKey:
    """One enclave key pair plus what it has published and opened (all in memory, never exported)."""

    key_id: str
    private_key: x25519.X25519PrivateKey
    created_at: dt.datetime
    retired_at: dt.datetime | None = None
    openers: OrderedDict[bytes, BatchOpener] = field(default_factory=OrderedDict)  # oldest use first
    seen_batch_ids: set[str] = field(default_factory=set)  # committed: a reply was sealed
    in_flight: set[str] = field(default_factory=set)
    open_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def public_key_der(self) -> bytes:
        """X25519 SubjectPublicKeyInfo DER, what the attestation document's ``public_key`` carries."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def generate(cls, now: dt.datetime) -> EnclaveKey:
        return cls(key_id=os.urandom(8).hex(), private_key=x25519.X25519PrivateKey.generate(), created_at=now)


class KeyRing:
    """Thread-safe holder of the current enclave key and, during its grace period, the previous one."""

    def __init__(
        self,
        *,
        lifetime: dt.timedelta,
        grace: dt.timedelta,
        max_documents_per_key: int,
        max_batches_per_key: int,
        clock: Clock = utc_now,
    ) -> None:
        self._lifetime = lifetime
        self._grace = grace
        self._max_documents = max_documents_per_key
        self._max_batches = max_batches_per_key
        self._clock = clock
        self._lock = threading.Lock()
        self._current = EnclaveKey.generate(clock())
        self._previous: EnclaveKey | None = None
        self._by_digest: dict[bytes, EnclaveKey] = {}
        self.rotations = 0

    # -- rotation ------------------------------------------------------------------------------

    def _expire(self, now: dt.datetime) -> None:
        prev = self._previous
        if prev is not None and prev.retired_at is not None and now >= prev.retired_at + self._grace:
            self._drop(prev)
            self._previous = None
        if now >= self._current.created_at + self._lifetime:
            self._rotate(now, "lifetime reached")

    def _drop(self, key: EnclaveKey) -> None:
        for digest in key.openers:
            self._by_digest.pop(digest, None)
        key.openers.clear()
        key.seen_batch_ids.clear()
        key.in_flight.clear()
        logger.info("enclave key %s dropped after its grace period", key.key_id)

    def _rotate(self, now: dt.datetime, reason: str) -> None:
        if self._previous is not None:
            self._drop(self._previous)
        old = self._current
        old.retired_at = now
        self._previous = old
        self._current = EnclaveKey.generate(now)
        self.rotations += 1
        logger.info("enclave key %s rotated to %s (%s)", old.key_id, self._current.key_id, reason)

    def rotate(self) -> EnclaveKey:
        """Rotate now (operator action or tests); return the new current key."""
        with self._lock:
            self._rotate(self._clock(), "requested")
            return self._current

    def current(self) -> EnclaveKey:
        """The key to publish in the next attestation document (rotating first if it is due)."""
        with self._lock:
            self._expire(self._clock())
            return self._current

    def live_key_ids(self) -> list[str]:
        """Ids of :meth:`live_keys` (for ``/healthz``)."""
        return [k.key_id for k in self.live_keys()]

    def live_keys(self) -> list[EnclaveKey]:
        """The keys that may open batches now: the current one, then the previous one in its grace."""
        with self._lock:
            self._expire(self._clock())
            return [k for k in (self._current, self._previous) if k is not None]

    # -- documents and batches -----------------------------------------------------------------

    def register_document(self, key: EnclaveKey, document_sha256: bytes) -> None:
        """Remember that ``key`` was published in the document with this digest (bounded, LRU)."""
        with self._lock:
            if key is not self._current and key is not self._previous:
                raise UnknownKeyError("key rotated out while the document was being issued")
            key.openers[document_sha256] = BatchOpener(key.private_key, document_sha256, cache_size=8)
            key.openers.move_to_end(document_sha256)
            self._by_digest[document_sha256] = key
            # A full registry forgets its least recently used document; it never rotates the key, so
            # attestation requests (unauthenticated) cannot push sealed batches out of their grace.
            while len(key.openers) > self._max_documents:
                forgotten, _ = key.openers.popitem(last=False)
                self._by_digest.pop(forgotten, None)

    def opener_for(self, document_sha256: bytes) -> tuple[EnclaveKey, BatchOpener]:
        """The live key and opener for a batch sealed against ``document_sha256`` (a registered one)."""
        with self._lock:
            self._expire(self._clock())
            key = self._by_digest.get(document_sha256)
            if key is None:
                raise UnknownKeyError("no live enclave key was published in that attestation document")
            key.openers.move_to_end(document_sha256)
            return key, key.openers[document_sha256]

    def begin_batch(self, key: EnclaveKey, header: BatchHeader) -> None:
        """Mark ``header.batch_id`` in flight under ``key``; refuse a replay, a duplicate or a dropped key."""
        with self._lock:
            if key is not self._current and key is not self._previous:
                raise UnknownKeyError("enclave key rotated out")
            if header.batch_id in key.seen_batch_ids:
                raise ReplayError(header.batch_id)
            if header.batch_id in key.in_flight:
                raise InFlightError(header.batch_id)
            if len(key.seen_batch_ids) + len(key.in_flight) >= self._max_batches:
                if key is self._current:
                    self._rotate(self._clock(), "replay cache full")
                raise KeyExhaustedError("enclave key has opened its maximum number of batches")
            key.in_flight.add(header.batch_id)

    def finish_batch(self, key: EnclaveKey, batch_id: str, *, committed: bool) -> None:
        """End an in-flight batch: remember it when its reply was sealed, else let a retry in."""
        with self._lock:
            key.in_flight.discard(batch_id)
            if committed and (key is self._current or key is self._previous):
                key.seen_batch_ids.add(batch_id)

    def claim_batch(self, key: EnclaveKey, header: BatchHeader) -> None:
        """Begin and commit at once (a batch answered without a separate processing step)."""
        self.begin_batch(key, header)
        self.finish_batch(key, header.batch_id, committed=True)
