"""End to end through the simulator: attest, verify with the explicit unsafe root, seal, open, reply."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from redactline.enclave_sink.attestation import AttestationError, NitroAttestationVerifier
from redactline.enclave_sink.envelope import (
    BatchHeader,
    EnvelopeError,
    enclave_public_key_from_attestation,
    open_batch,
    open_reply,
    seal_batch,
    seal_reply,
)
from redactline.enclave_sink.measurement import AllOf, ExpectedPublicKey, PcrAllowlist
from redactline.enclave_sink.simulator import UnsafeSimulatedNitro


def _header(reply_key: x25519.X25519PrivateKey, batch_id: str = "b-1") -> BatchHeader:
    import datetime as dt

    raw = reply_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return BatchHeader(batch_id, "ab" * 32, "us-east-1", 2, raw, dt.datetime.now(dt.UTC))


def test_attest_verify_seal_open_reply():
    sim = UnsafeSimulatedNitro()
    nonce = os.urandom(32)
    policy = AllOf([PcrAllowlist(0, [sim.pcrs[0].hex()]), ExpectedPublicKey(sim.public_key_der)])
    verified = NitroAttestationVerifier(root=sim.unsafe_trust_root(), policy=policy).verify(
        sim.attest(nonce), expected_nonce=nonce
    )
    reply_key = x25519.X25519PrivateKey.generate()
    header = _header(reply_key)
    sealed = seal_batch(header, b'{"text": "[REDACTED]"}', verified.public_key, verified.document_sha256)
    got_header, plaintext, reply_secret = open_batch(
        sealed.envelope, sim.private_key, verified.document_sha256
    )
    assert plaintext == b'{"text": "[REDACTED]"}' and got_header == header
    reply = seal_reply(got_header, b"answer", reply_secret)
    assert open_reply(reply, reply_key, header, sealed.reply_secret) == b"answer"


def test_key_rotation_changes_the_published_key():
    sim = UnsafeSimulatedNitro()
    verifier = NitroAttestationVerifier(root=sim.unsafe_trust_root())
    first = verifier.verify(sim.attest(b"1"))
    old_private = sim.private_key
    sim.rotate_key()
    second = verifier.verify(sim.attest(b"2"))
    assert first.public_key != second.public_key
    header = _header(x25519.X25519PrivateKey.generate())
    sealed = seal_batch(
        header, b"x", enclave_public_key_from_attestation(second), second.document_sha256
    ).envelope
    assert open_batch(sealed, sim.private_key, second.document_sha256)[1] == b"x"
    with pytest.raises(EnvelopeError):
        open_batch(sealed, old_private, second.document_sha256)
    with pytest.raises(EnvelopeError):  # a batch is bound to the document it was sealed against
        open_batch(sealed, sim.private_key, first.document_sha256)


def test_debug_simulator_refused_unless_allowed():
    sim = UnsafeSimulatedNitro(debug=True)
    with pytest.raises(AttestationError, match="debug"):
        NitroAttestationVerifier(root=sim.unsafe_trust_root()).verify(sim.attest(b"n"))
    assert (
        NitroAttestationVerifier(root=sim.unsafe_trust_root(), allow_debug=True)
        .verify(sim.attest(b"n"))
        .is_debug
    )
