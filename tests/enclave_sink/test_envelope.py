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
    sealed = seal_batch(header, plaintext, keys[0].public_key(), DIGEST).envelope
    assert plaintext not in sealed
    got_header, got, _ = open_batch(sealed, keys[0], DIGEST)
    assert got == plaintext and got_header == header
    assert got_header.created_at.microsecond == 678000  # kept at ms precision


def test_seal_is_randomised(keys, header):
    a = seal_batch(header, b"same", keys[0].public_key(), DIGEST).envelope
    b = seal_batch(header, b"same", keys[0].public_key(), DIGEST).envelope
    assert a != b


def test_empty_payload_round_trips(keys, header):
    sealed = seal_batch(header, b"", keys[0].public_key(), DIGEST).envelope
    assert open_batch(sealed, keys[0], DIGEST)[1] == b""


def test_changed_header_byte_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST).envelope
    tampered = sealed.replace(b"eu-west-1", b"eu-west-2", 1)  # still a valid, canonical header
    assert tampered != sealed
    with pytest.raises(EnvelopeError, match="authentication failed"):
        open_batch(tampered, keys[0], DIGEST)


@pytest.mark.parametrize("offset", [20, 40, 90])
def test_any_header_byte_flip_refused(keys, header, offset):
    sealed = bytearray(seal_batch(header, b"records", keys[0].public_key(), DIGEST).envelope)
    sealed[offset] ^= 0x01
    with pytest.raises(EnvelopeError):
        open_batch(bytes(sealed), keys[0], DIGEST)


@pytest.mark.parametrize("where", ["key_block", "salt", "ciphertext", "tag"])
def test_body_byte_flip_refused(keys, header, where):
    sealed = bytearray(seal_batch(header, b"records" * 10, keys[0].public_key(), DIGEST).envelope)
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
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST).envelope
    with pytest.raises(EnvelopeError, match="key block"):
        open_batch(sealed, keys[0], hashlib.sha256(b"another document").digest())


def test_wrong_key_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST).envelope
    with pytest.raises(EnvelopeError, match="key block"):
        open_batch(sealed, x25519.X25519PrivateKey.generate(), DIGEST)


@pytest.mark.parametrize("cut", [1, 16, 17, 100, 1000])
def test_truncated_envelope_refused(keys, header, cut):
    sealed = seal_batch(header, os.urandom(2000), keys[0].public_key(), DIGEST).envelope
    with pytest.raises(EnvelopeError, match="truncated"):
        open_batch(sealed[:-cut], keys[0], DIGEST)


def test_trailing_bytes_and_bad_magic_refused(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST).envelope
    with pytest.raises(EnvelopeError, match="trailing"):
        open_batch(sealed + b"\0", keys[0], DIGEST)
    with pytest.raises(EnvelopeError, match="magic"):
        open_batch(b"XXXX" + sealed[4:], keys[0], DIGEST)
    with pytest.raises(EnvelopeError, match="version"):
        open_batch(sealed[:4] + b"\x03" + sealed[5:], keys[0], DIGEST)


def test_oversized_declarations_refused_before_reading(keys):
    huge_header = struct.pack(">4sBBIQ", b"RLSE", env.FORMAT_VERSION, 1, 1 << 30, 32)
    with pytest.raises(EnvelopeError, match="declared header"):
        open_batch(huge_header, keys[0], DIGEST)
    huge_payload = struct.pack(">4sBBIQ", b"RLSE", env.FORMAT_VERSION, 1, 10, 1 << 40)
    with pytest.raises(EnvelopeError, match="declared ciphertext"):
        open_batch(huge_payload, keys[0], DIGEST)


def test_oversized_payload_refused_when_sealing(keys, header, monkeypatch):
    monkeypatch.setattr(env, "MAX_PLAINTEXT_BYTES", 1000)
    with pytest.raises(EnvelopeError, match="over 1000"):
        seal_batch(header, b"x" * 1001, keys[0].public_key(), DIGEST)


def test_session_sealer_reuses_encapsulation_and_opens_everywhere(keys, header):
    sealer = BatchSealer(keys[0].public_key(), DIGEST, max_batches=2)
    opener = BatchOpener(keys[0], DIGEST)
    sealed = [sealer.seal(header, f"batch {i}".encode()).envelope for i in range(3)]
    header_len = struct.unpack_from(">I", sealed[0], 6)[0]
    key_blocks = [s[18 + header_len : 18 + header_len + 80] for s in sealed]
    assert key_blocks[0] == key_blocks[1] != key_blocks[2]
    for i, s in enumerate(sealed):
        assert opener.open(s)[1] == f"batch {i}".encode()
        assert open_batch(s, keys[0], DIGEST)[1] == f"batch {i}".encode()


def test_reply_round_trip_and_binding(keys, header):
    sealed = seal_batch(header, b"records", keys[0].public_key(), DIGEST)
    opened = open_batch(sealed.envelope, keys[0], DIGEST)
    assert opened.reply_secret == sealed.reply_secret
    reply = seal_reply(header, b"results", opened.reply_secret)
    assert open_reply(reply, keys[1], header, sealed.reply_secret) == b"results"
    other = BatchHeader(
        batch_id="batch-0002",
        policy_hash=header.policy_hash,
        region=header.region,
        record_count=header.record_count,
        reply_public_key=header.reply_public_key,
        created_at=header.created_at,
    )
    with pytest.raises(EnvelopeError, match="different batch"):
        open_reply(reply, keys[1], other, sealed.reply_secret)
    with pytest.raises(EnvelopeError, match="key block"):
        open_reply(reply, keys[0], header, sealed.reply_secret)
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


# ------------------------------------------------------------------------ authenticated replies (v2)


def _wire_header(envelope: bytes) -> BatchHeader:
    """What anyone on the path reads from a sealed batch: the clear (authenticated) header."""
    header_len = struct.unpack_from(">I", envelope, 6)[0]
    return BatchHeader.decode(envelope[18 : 18 + header_len])


def _seal_v1(kind: int, header: bytes, plaintext: bytes, recipient: x25519.X25519PublicKey, binding: bytes):
    """The version-1 construction, by hand: a fresh secret HPKE-sealed to ``recipient`` and nothing else.

    Version 1 sealed replies like this, with ``recipient`` the clear ``reply_public_key``: anyone could.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    label = {1: b"batch", 2: b"reply"}[kind]
    secret, salt = os.urandom(32), os.urandom(32)
    key_block = env.SUITE.encrypt(
        secret, recipient, info=b"redactline/envelope/v1/kem/" + label + b"\0" + binding
    )
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=44,
        salt=salt,
        info=b"redactline/envelope/v1/dem/" + label + b"\0" + binding,
    ).derive(secret)
    aad = (
        struct.pack(">4sBBIQ", b"RLSE", 1, kind, len(header), len(plaintext) + 16) + header + key_block + salt
    )
    return aad + AESGCM(okm[:32]).encrypt(okm[32:], plaintext, aad)


def test_a_reply_built_from_everything_on_the_wire_is_refused(keys, header):
    """The host sees the sealed batch, its clear header (with reply_public_key) and the attestation
    document (enclave key, digest). Whatever it builds from those, the client refuses."""
    enclave_public = keys[0].public_key()
    sealed = seal_batch(header, b'{"records": ["a", "b", "c"]}', enclave_public, DIGEST)
    seen = _wire_header(sealed.envelope)
    assert seen == header and seen.reply_public_key == _raw(keys[1])
    forged = b'{"results": ["forged", "forged", "forged"]}'
    key_block = sealed.envelope[18 + len(header.encode()) :][:80]
    # Any value the host can compute in place of the reply secret: all fail authentication.
    guesses = [
        bytes(32),
        hashlib.sha256(sealed.envelope).digest(),
        hashlib.sha256(header.encode()).digest(),
        key_block[:32],
        DIGEST,
        _raw(keys[0]),
        os.urandom(32),
    ]
    for guess in guesses:
        with pytest.raises(EnvelopeError, match="authentication failed"):
            open_reply(seal_reply(seen, forged, guess), keys[1], header, sealed.reply_secret)
    # What version 1 accepted (sealed to reply_public_key alone) is now an unsupported version.
    binding = hashlib.sha256(header.encode()).digest()
    reply_header = env.ReplyHeader(header.batch_id, header.created_at).encode()
    v1 = _seal_v1(
        2, reply_header, forged, x25519.X25519PublicKey.from_public_bytes(seen.reply_public_key), binding
    )
    with pytest.raises(EnvelopeError, match="unsupported envelope version 1"):
        open_reply(v1, keys[1], header, sealed.reply_secret)
    # v1 framing with the v2 version byte: still no reply secret, so authentication fails.
    with pytest.raises(EnvelopeError):
        open_reply(v1[:4] + b"\x02" + v1[5:], keys[1], header, sealed.reply_secret)
    # The genuine reply (sealed by the holder of the batch's session secret) opens.
    opened = open_batch(sealed.envelope, keys[0], DIGEST)
    assert (
        open_reply(
            seal_reply(opened.header, b"ok", opened.reply_secret), keys[1], header, sealed.reply_secret
        )
        == b"ok"
    )


def test_a_genuine_reply_cannot_be_moved_to_another_batch_of_the_session(keys, header):
    sealer = BatchSealer(keys[0].public_key(), DIGEST)
    opener = BatchOpener(keys[0], DIGEST)
    other_header = BatchHeader(
        "batch-0002", header.policy_hash, header.region, 1, header.reply_public_key, header.created_at
    )
    first, second = sealer.seal(header, b"one"), sealer.seal(other_header, b"two")
    assert first.reply_secret != second.reply_secret  # same session secret, distinct per batch
    reply_to_first = seal_reply(header, b"results", opener.open(first.envelope).reply_secret)
    with pytest.raises(EnvelopeError, match="different batch"):
        open_reply(reply_to_first, keys[1], other_header, second.reply_secret)
    with pytest.raises(EnvelopeError, match="authentication failed"):  # right batch, wrong secret
        open_reply(reply_to_first, keys[1], header, second.reply_secret)
    # Resealing the very same header gives another reply secret: a reply answers one envelope.
    again = sealer.seal(header, b"one")
    with pytest.raises(EnvelopeError, match="authentication failed"):
        open_reply(reply_to_first, keys[1], header, again.reply_secret)


def test_version_1_envelopes_are_refused(keys, header):
    v1 = _seal_v1(1, header.encode(), b"records", keys[0].public_key(), DIGEST)
    with pytest.raises(EnvelopeError, match="unsupported envelope version 1"):
        open_batch(v1, keys[0], DIGEST)
    with pytest.raises(EnvelopeError, match="unsupported envelope version 1"):
        BatchOpener(keys[0], DIGEST).open(v1)
    assert env.FORMAT_VERSION == 2 and seal_batch(header, b"x", keys[0].public_key(), DIGEST).envelope[4] == 2


def test_replies_open_after_the_sealer_rotated_its_session(keys, header):
    sealer = BatchSealer(keys[0].public_key(), DIGEST, max_batches=2)
    opener = BatchOpener(keys[0], DIGEST, cache_size=1)
    headers = [
        BatchHeader(
            f"batch-{i}", header.policy_hash, header.region, 1, header.reply_public_key, header.created_at
        )
        for i in range(5)
    ]
    sealed = [sealer.seal(h, f"batch {i}".encode()) for i, h in enumerate(headers)]  # 3 sessions
    key_blocks = {s.envelope[18 + len(h.encode()) :][:80] for s, h in zip(sealed, headers, strict=True)}
    assert len(key_blocks) == 3
    # The enclave opens them all (evicting cached sessions), replies come back after every rotation.
    replies = []
    for s in sealed:
        opened = opener.open(s.envelope)
        replies.append(seal_reply(opened.header, b"re: " + opened.plaintext, opened.reply_secret))
    for i in reversed(range(5)):
        got = open_reply(replies[i], keys[1], headers[i], sealed[i].reply_secret)
        assert got == f"re: batch {i}".encode()


def test_reply_secret_must_be_32_bytes(keys, header):
    with pytest.raises(ValueError, match="reply_secret"):
        seal_reply(header, b"x", b"short")
