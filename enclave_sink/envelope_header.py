"""Envelope headers: what travels in clear (but authenticated) in front of a sealed batch or reply.

Headers are canonical CBOR maps (RFC 8949 core deterministic encoding via ``cbor2`` ``canonical=True``)
with text keys. Decoding re-encodes and compares, so one header has exactly one accepted byte form.
Every field is range-checked while decoding (before anyone uses it): a value out of range is a
:class:`HeaderFieldError`, never an arithmetic or datetime overflow.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import cbor2

from .cose import strict_cbor_loads
from .errors import AttestationError

HEADER_FORMAT_VERSION = 1
MAX_HEADER_BYTES = 4096
X25519_PUBLIC_KEY_LEN = 32
_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_POLICY_HASH = re.compile(r"[0-9a-f]{64}")
_REGION = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_MAX_RECORDS = 2**32
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# created_at bounds (ms since the epoch): 2000-01-01 .. 9999-12-31 (the end of Python's datetime range).
# How far into the future a header may be is the receiver's decision (it has the clock).
MIN_CREATED_AT_MS = 946_684_800_000
MAX_CREATED_AT_MS = 253_402_300_799_999


class EnvelopeError(Exception):
    """A sealed envelope is malformed, truncated, oversized or fails authentication."""


class HeaderFieldError(EnvelopeError, ValueError):
    """A header field has the wrong type or is out of range (the enclave answers 400 ``bad-header``)."""


def _ms(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return int(value.timestamp() * 1000)


def _from_ms(value: Any) -> dt.datetime:
    if type(value) is not int or not MIN_CREATED_AT_MS <= value <= MAX_CREATED_AT_MS:
        raise HeaderFieldError("header created_at must be an integer (ms) between the years 2000 and 9999")
    return _EPOCH + dt.timedelta(milliseconds=value)  # exact integer arithmetic: no float, no overflow


def _check_batch_id(batch_id: object) -> None:
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        raise ValueError("batch_id must be 1-128 chars of [A-Za-z0-9._:-], starting alphanumeric")


@dataclass(frozen=True)
class BatchHeader:
    """Metadata of one sealed batch (client -> enclave). All fields are authenticated.

    ``policy_hash`` is the lower-case hex SHA-256 of the canonical redaction policy; ``region`` the
    residency region the batch is allowed into; ``reply_public_key`` the raw 32-byte X25519 key the
    enclave must seal its reply to; ``created_at`` is kept at millisecond precision.
    """

    batch_id: str
    policy_hash: str
    region: str
    record_count: int
    reply_public_key: bytes
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _check_batch_id(self.batch_id)
        if not isinstance(self.policy_hash, str) or not _POLICY_HASH.fullmatch(self.policy_hash):
            raise ValueError("policy_hash must be 64 lower-case hex digits (SHA-256)")
        if not isinstance(self.region, str) or not _REGION.fullmatch(self.region):
            raise ValueError("region must be 1-64 chars of [a-z0-9._-]")
        if type(self.record_count) is not int or not 0 <= self.record_count < _MAX_RECORDS:
            raise ValueError("record_count must be an integer in 0..2^32-1")
        if (
            not isinstance(self.reply_public_key, bytes)
            or len(self.reply_public_key) != X25519_PUBLIC_KEY_LEN
        ):
            raise ValueError("reply_public_key must be a raw 32-byte X25519 public key")
        # Normalise to ms so that encode(decode(x)) == x.
        object.__setattr__(self, "created_at", _from_ms(_ms(self.created_at)))

    def encode(self) -> bytes:
        """Canonical CBOR bytes of this header."""
        return cbor2.dumps(
            {
                "v": HEADER_FORMAT_VERSION,
                "batch_id": self.batch_id,
                "policy_hash": self.policy_hash,
                "region": self.region,
                "record_count": self.record_count,
                "reply_key": self.reply_public_key,
                "created_at": _ms(self.created_at),
            },
            canonical=True,
        )

    @classmethod
    def decode(cls, data: bytes) -> BatchHeader:
        fields = _decode_map(
            data, {"v", "batch_id", "policy_hash", "region", "record_count", "reply_key", "created_at"}
        )
        try:
            header = cls(
                batch_id=fields["batch_id"],
                policy_hash=fields["policy_hash"],
                region=fields["region"],
                record_count=fields["record_count"],
                reply_public_key=fields["reply_key"],
                created_at=_from_ms(fields["created_at"]),
            )
        except ValueError as exc:
            raise HeaderFieldError(f"invalid batch header: {exc}") from None
        _require_canonical(header.encode(), data)
        return header


@dataclass(frozen=True)
class ReplyHeader:
    """Metadata of a reply (enclave -> client): which batch it answers, and when."""

    batch_id: str
    created_at: dt.datetime

    def __post_init__(self) -> None:
        _check_batch_id(self.batch_id)
        object.__setattr__(self, "created_at", _from_ms(_ms(self.created_at)))

    def encode(self) -> bytes:
        return cbor2.dumps(
            {"v": HEADER_FORMAT_VERSION, "batch_id": self.batch_id, "created_at": _ms(self.created_at)},
            canonical=True,
        )

    @classmethod
    def decode(cls, data: bytes) -> ReplyHeader:
        fields = _decode_map(data, {"v", "batch_id", "created_at"})
        try:
            header = cls(batch_id=fields["batch_id"], created_at=_from_ms(fields["created_at"]))
        except ValueError as exc:
            raise HeaderFieldError(f"invalid reply header: {exc}") from None
        _require_canonical(header.encode(), data)
        return header


def _decode_map(data: bytes, keys: set[str]) -> dict[str, Any]:
    if len(data) > MAX_HEADER_BYTES:
        raise EnvelopeError(f"header is {len(data)} bytes, over {MAX_HEADER_BYTES}")
    try:
        fields = strict_cbor_loads(bytes(data), "envelope header", max_depth=2)
    except AttestationError as exc:
        raise EnvelopeError(exc.reason) from None
    if not isinstance(fields, dict) or set(fields) != keys:
        raise EnvelopeError("header fields are missing or unexpected")
    if fields["v"] != HEADER_FORMAT_VERSION or type(fields["v"]) is not int:
        raise EnvelopeError(f"unsupported header version {fields['v']!r}")
    return fields


def _require_canonical(expected: bytes, data: bytes) -> None:
    if expected != bytes(data):
        raise EnvelopeError("header is not canonically encoded")
