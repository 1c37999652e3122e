"""Sealed envelopes: round trips and every refusal path."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, x25519

from redactline.enclave_sink import envelope as env
from redactline.enclave_sink.envelope import (
    BatchHeader,
    BatchOpener,
    BatchSealer,
    EnvelopeError,
    enclave_public_key_from_attestation,
    open_batch,
    open_reply,
    seal_batch,
    seal_reply,
)

DIGEST = hashlib.sha256(b"attestation document").digest()


def _raw(key: x25519.X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture()
def keys():
    return x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()


@pytest.fixture()
def header(keys):
    return BatchHeader(
        batch_id="batch-0001",
        policy_hash=hashlib.sha256(b"policy").hexdigest(),
        region="eu-west-1",
        record_count=3,
        reply_public_key=_raw(keys[1]),
        created_at=dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
    )


def test_round_trip(keys, header):
    plaintext = os.urandom(100_000)
    sealed = seal_batch(header, plaintext, keys[0].public_key(), DIGEST)
    assert plaintext not in sealed
    got_header, got = open_batch(sealed, keys[0], DIGEST)
    assert got == plaintext and got_header == header
    assert got_header.created_at.microsecond == 678000  # kept at ms precision


def test_seal_is_randomised(keys, header):
    a = seal_batch(header, b"same", keys[0].public_key(), DIGEST)
    b = seal_batch(header, b"same", keys[0].public_key(), DIGEST)
    assert a != b


def test_empty_payload_round_trips(keys, header):
    assert open_batch(seal_batch(header, b"", keys[0].public_key(), DIGEST), keys[0], DIGEST)[1] == b""


def test_changed_header_byte_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST)
    tampered = sealed.replace(b"eu-west-1", b"eu-west-2", 1)  # still a valid, canonical header
    assert tampered != sealed
    with pytest.raises(EnvelopeError, match="authentication failed"):
        open_batch(tampered, keys[0], DIGEST)


@pytest.mark.parametrize("offset", [20, 40, 90])
def test_any_header_byte_flip_refused(keys, header, offset):
    sealed = bytearray(seal_batch(header, b"records", keys[0].public_key(), DIGEST))
    sealed[offset] ^= 0x01
    with pytest.raises(EnvelopeError):
        open_batch(bytes(sealed), keys[0], DIGEST)


@pytest.mark.parametrize("where", ["key_block", "salt", "ciphertext", "tag"])
def test_body_byte_flip_refused(keys, header, where):
    sealed = bytearray(seal_batch(header, b"records" * 10, keys[0].public_key(), DIGEST))
    header_len = struct.unpack_from(">I", sealed, 6)[0]
    start = 18 + header_len
    offsets = {
        "key_block": start + 5,
        "salt": start + 80 + 3,
        "ciphertext": start + 112 + 2,
        "tag": len(sealed) - 1,
    }
    sealed[offsets[where]] ^= 0x80
    with pytest.raises(EnvelopeError):
        open_batch(bytes(sealed), keys[0], DIGEST)


def test_different_attestation_digest_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST)
    with pytest.raises(EnvelopeError, match="key block"):
        open_batch(sealed, keys[0], hashlib.sha256(b"another document").digest())


def test_wrong_key_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST)
    with pytest.raises(EnvelopeError, match="key block"):
        open_batch(sealed, x25519.X25519PrivateKey.generate(), DIGEST)


@pytest.mark.parametrize("cut", [1, 16, 17, 100, 1000])
def test_truncated_envelope_refused(keys, header, cut):
    sealed = seal_batch(header, os.urandom(2000), keys[0].public_key(), DIGEST)
    with pytest.raises(EnvelopeError, match="truncated"):
        open_batch(sealed[:-cut], keys[0], DIGEST)


def test_trailing_bytes_and_bad_magic_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST)
    with pytest.raises(EnvelopeError, match="trailing"):
        open_batch(sealed + b"\0", keys[0], DIGEST)
    with pytest.raises(EnvelopeError, match="magic"):
        open_batch(b"XXXX" + sealed[4:], keys[0], DIGEST)
    with pytest.raises(EnvelopeError, match="version"):
        open_batch(sealed[:4] + b"\x02" + sealed[5:], keys[0], DIGEST)


def test_oversized_declarations_refused_before_reading(keys):
    huge_header = struct.pack(">4sBBIQ", b"RLSE", 1, 1, 1 << 30, 32)
    with pytest.raises(EnvelopeError, match="declared header"):
        open_batch(huge_header, keys[0], DIGEST)
    huge_payload = struct.pack(">4sBBIQ", b"RLSE", 1, 1, 10, 1 << 40)
    with pytest.raises(EnvelopeError, match="declared ciphertext"):
        open_batch(huge_payload, keys[0], DIGEST)


def test_oversized_payload_refused_when_sealing(keys, header, monkeypatch):
    monkeypatch.setattr(env, "MAX_PLAINTEXT_BYTES", 1000)
    with pytest.raises(EnvelopeError, match="over 1000"):
        seal_batch(header, b"x" * 1001, keys[0].public_key(), DIGEST)


def test_session_sealer_reuses_encapsulation_and_opens_everywhere(keys, header):
    sealer = BatchSealer(keys[0].public_key(), DIGEST, max_batches=2)
    opener = BatchOpener(keys[0], DIGEST)
    sealed = [sealer.seal(header, f"batch {i}".encode()) for i in range(3)]
    header_len = struct.unpack_from(">I", sealed[0], 6)[0]
    key_blocks = [s[18 + header_len : 18 + header_len + 80] for s in sealed]
    assert key_blocks[0] == key_blocks[1] != key_blocks[2]
    for i, s in enumerate(sealed):
        assert opener.open(s)[1] == f"batch {i}".encode()
        assert open_batch(s, keys[0], DIGEST)[1] == f"batch {i}".encode()


def test_reply_round_trip_and_binding(keys, header):
    reply = seal_reply(header, b"results")
    assert open_reply(reply, keys[1], header) == b"results"
    other = BatchHeader(
        batch_id="batch-0002",
        policy_hash=header.policy_hash,
        region=header.region,
        record_count=header.record_count,
        reply_public_key=header.reply_public_key,
        created_at=header.created_at,
    )
    with pytest.raises(EnvelopeError, match="different batch"):
        open_reply(reply, keys[1], other)
    with pytest.raises(EnvelopeError, match="key block"):
        open_reply(reply, keys[0], header)
    with pytest.raises(EnvelopeError, match="kind"):
        open_batch(reply, keys[1], DIGEST)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_id", ""),
        ("batch_id", "has space"),
        ("policy_hash", "ABC"),
        ("region", "EU West"),
        ("record_count", -1),
        ("reply_public_key", b"short"),
    ],
)
def test_header_validation(header, field, value):
    fields = {f: getattr(header, f) for f in header.__dataclass_fields__}
    fields[field] = value
    with pytest.raises(ValueError):
        BatchHeader(**fields)


def test_header_must_be_canonical(header):
    import cbor2

    decoded = cbor2.loads(header.encode())
    non_canonical = cbor2.dumps(dict(reversed(list(decoded.items()))))
    assert BatchHeader.decode(header.encode()) == header
    with pytest.raises(EnvelopeError, match="canonical"):
        BatchHeader.decode(non_canonical)


def test_enclave_key_formats(keys):
    pub = keys[0].public_key()
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for form in (_raw(keys[0]), spki):
        assert _raw_pub(enclave_public_key_from_attestation(form)) == _raw(keys[0])
    rsa_spki = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(EnvelopeError, match="not an X25519"):
        enclave_public_key_from_attestation(rsa_spki)


def _raw_pub(key: x25519.X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_attestation_digest_must_be_sha256(keys, header):
    with pytest.raises(ValueError, match="32-byte"):
        seal_batch(header, b"x", keys[0].public_key(), b"short")
