"""Structural rules of the verifier, probed with simulator-signed documents (validly signed, so each
refusal is due to the rule under test, not to a broken signature)."""

from __future__ import annotations

import datetime as dt
import logging
import os

import cbor2
import pytest

from redactline.enclave_sink.attestation import AttestationError, NitroAttestationVerifier
from redactline.enclave_sink.simulator import UnsafeSimulatedNitro
from redactline.enclave_sink.trust import TrustRoot, UnsafeTrustRoot

NOW = dt.datetime(2030, 5, 17, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sim() -> UnsafeSimulatedNitro:
    return UnsafeSimulatedNitro(clock=lambda: NOW)


@pytest.fixture(scope="module")
def verifier(sim) -> NitroAttestationVerifier:
    return NitroAttestationVerifier(root=sim.unsafe_trust_root(), clock=lambda: NOW)


def test_simulated_document_has_the_real_shape(sim):
    nonce = os.urandom(32)
    item = cbor2.loads(sim.attest(nonce))
    assert isinstance(item, list) and len(item) == 4  # untagged
    protected, unprotected, payload, signature = item
    assert protected == bytes.fromhex("a1013822") and unprotected == {} and len(signature) == 96
    fields = cbor2.loads(payload)
    nsm_order = ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"]
    assert list(fields) == [*nsm_order, "public_key", "user_data", "nonce"]
    assert fields["digest"] == "SHA384" and fields["timestamp"] == int(NOW.timestamp() * 1000)
    assert sorted(fields["pcrs"]) == list(range(16)) and {len(v) for v in fields["pcrs"].values()} == {48}
    assert fields["user_data"] is None and fields["nonce"] == nonce
    assert len(fields["cabundle"]) == 2
    assert sim.unsafe_trust_root().matches_der(fields["cabundle"][0])


def test_simulated_document_verifies_with_explicit_unsafe_root(sim, verifier, caplog):
    nonce = os.urandom(16)
    with caplog.at_level(logging.WARNING):
        verified = verifier.verify(sim.attest(nonce, b"ud"), expected_nonce=nonce)
    assert verified.trusted_root_unsafe and verified.nonce == nonce and verified.user_data == b"ud"
    assert "UNSAFE" in caplog.text


def test_simulated_document_refused_by_default_root(sim):
    default = NitroAttestationVerifier(clock=lambda: NOW)
    with pytest.raises(AttestationError, match="cabundle\\[0\\] is not the trusted root"):
        default.verify(sim.attest(b"n"))


def test_non_aws_root_must_be_named_unsafe(sim):
    plain = TrustRoot(sim.unsafe_trust_root().certificate)  # same cert, not flagged unsafe
    with pytest.raises(AttestationError, match="UnsafeTrustRoot"):
        NitroAttestationVerifier(root=plain)
    assert UnsafeTrustRoot.from_pem(sim.root_pem).unsafe


def test_wrong_nonce_refused(sim, verifier):
    with pytest.raises(AttestationError, match="nonce mismatch"):
        verifier.verify(sim.attest(b"nonce-a"), expected_nonce=b"nonce-b")
    with pytest.raises(AttestationError, match="nonce is absent"):
        verifier.verify(sim.attest(None), expected_nonce=b"nonce-b")


def test_tagged_document_accepted(sim, verifier):
    doc = sim.sign_document(sim.payload_fields(b"n"), tagged=True)
    assert cbor2.loads(doc).tag == 18
    assert verifier.verify(doc).nonce == b"n"


def _mutated(sim, **changes) -> bytes:
    fields = sim.payload_fields(b"nonce")
    for key, value in changes.items():
        if value is _DELETE:
            del fields[key]
        else:
            fields[key] = value
    return sim.sign_document(fields)


_DELETE = object()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"timestamp": int(NOW.timestamp())}, "milliseconds"),
        ({"digest": "SHA256"}, "SHA384"),
        ({"cabundle": []}, "cabundle must be a non-empty list"),
        ({"cabundle": None}, "cabundle must be a non-empty list"),
        ({"pcrs": {0: b"\0" * 47}}, "pcrs\\[0\\] must be 32, 48 or 64"),
        ({"pcrs": {"0": b"\0" * 48}}, "pcrs: index"),
        ({"pcrs": {}}, "pcrs must be a map"),
        ({"user_data": b"x" * 1025}, "user_data is 1025 bytes"),
        ({"nonce": b"x" * 1025}, "nonce is 1025 bytes"),
        ({"public_key": b"x" * 1025}, "public_key is 1025 bytes"),
        ({"nonce": "text"}, "nonce must be a byte string or null"),
        ({"module_id": ""}, "module_id"),
        ({"extra": 1}, "unknown field"),
        ({"certificate": _DELETE}, "missing field"),
    ],
)
def test_structural_deviation_refused_with_reason(sim, verifier, changes, reason):
    with pytest.raises(AttestationError, match=reason):
        verifier.verify(_mutated(sim, **changes))


def test_max_size_optional_fields_accepted(sim, verifier):
    verified = verifier.verify(_mutated(sim, user_data=b"u" * 1024, nonce=b"n" * 1024))
    assert len(verified.user_data) == 1024 and len(verified.nonce) == 1024


@pytest.mark.parametrize("unprotected", [None, [], b""])
def test_unprotected_header_must_be_a_map(sim, verifier, unprotected):
    with pytest.raises(AttestationError, match="unprotected header must be a map"):
        verifier.verify(sim.sign_document(sim.payload_fields(b"n"), unprotected=unprotected))


def test_trailing_bytes_refused(sim, verifier):
    with pytest.raises(AttestationError, match="trailing bytes"):
        verifier.verify(sim.attest(b"n") + b"\x00")


def test_other_tag_refused(sim, verifier):
    item = cbor2.loads(sim.attest(b"n"))
    with pytest.raises(AttestationError, match="unexpected CBOR tag"):
        verifier.verify(cbor2.dumps(cbor2.CBORTag(98, item)))


def test_protected_header_must_be_es384(sim, verifier):
    protected, unprotected, payload, signature = cbor2.loads(sim.attest(b"n"))
    other = cbor2.dumps([cbor2.dumps({1: -7}), unprotected, payload, signature])
    with pytest.raises(AttestationError, match="ES384"):
        verifier.verify(other)


def test_document_from_the_future_refused(sim):
    # The leaf is valid from NOW - 5 s, so this clock is inside the certificate window.
    early = NitroAttestationVerifier(
        root=sim.unsafe_trust_root(),
        clock=lambda: NOW - dt.timedelta(seconds=2),
        max_future_skew=dt.timedelta(0),
    )
    with pytest.raises(AttestationError, match="ahead of the verifier clock"):
        early.verify(sim.attest(b"n"))


def test_oversized_document_refused_before_parsing(verifier):
    with pytest.raises(AttestationError, match="over"):
        verifier.verify(b"\x84" + b"\x00" * (64 * 1024))
