"""Nitro attestation verification against the real AWS documents in ../shared/test-vectors.

These tests FAIL (never skip) when the shared test vectors are missing: a green run must mean the
verifier was checked against real documents.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from redactline.enclave_sink.attestation import AttestationError, NitroAttestationVerifier, verify_attestation
from redactline.enclave_sink.docio import decode_document
from redactline.enclave_sink.trust import AWS_NITRO_ROOT_PEM, AWS_NITRO_ROOT_SHA256, fingerprint_sha256

SHARED = Path(os.environ.get("REDACTLINE_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
NITRO = SHARED / "test-vectors" / "attestation" / "nitro"
MANIFEST = NITRO / "MANIFEST.json"


def _entries() -> list:
    if not MANIFEST.is_file():
        return [pytest.param(None, id="shared-test-vectors-missing")]
    entries = json.loads(MANIFEST.read_text())
    return [pytest.param(e, id=Path(e["local_path"]).name[:40]) for e in entries]


ENTRIES = _entries()


def _require(entry: dict | None) -> dict:
    if entry is None:
        pytest.fail(
            f"shared test vectors not found: {MANIFEST} (set REDACTLINE_SHARED or check out ../shared)"
        )
    return entry


def _load(entry: dict) -> bytes:
    return decode_document((SHARED / "test-vectors" / "attestation" / entry["local_path"]).read_bytes())


def _doc_time(entry: dict) -> dt.datetime:
    return dt.datetime.fromtimestamp(entry["timestamp_ms"] / 1000, dt.UTC)


def _verify_at(doc: bytes, at: dt.datetime, allow_debug: bool) -> object:
    return NitroAttestationVerifier(clock=lambda: at, allow_debug=allow_debug).verify(doc)


def test_shared_vectors_present():
    if not MANIFEST.is_file():
        pytest.fail(f"shared test vectors not found: {MANIFEST}")
    assert len(json.loads(MANIFEST.read_text())) >= 10


def test_embedded_root_is_the_published_aws_root():
    if not (NITRO / "aws_nitro_root.pem").is_file():
        pytest.fail(f"shared AWS root not found under {NITRO}")
    from cryptography import x509

    shared = x509.load_pem_x509_certificate((NITRO / "aws_nitro_root.pem").read_bytes())
    embedded = x509.load_pem_x509_certificate(AWS_NITRO_ROOT_PEM)
    assert fingerprint_sha256(shared) == fingerprint_sha256(embedded) == AWS_NITRO_ROOT_SHA256


@pytest.mark.parametrize("entry", ENTRIES)
def test_real_document_verifies_at_its_own_timestamp(entry):
    entry = _require(entry)
    doc = _load(entry)
    debug = entry["debug_mode_pcrs_zero"]
    verified = _verify_at(doc, _doc_time(entry) + dt.timedelta(seconds=1), allow_debug=debug)
    assert verified.module_id == entry["module_id"]
    assert verified.document_sha256.hex() == entry["doc_sha256"]
    assert verified.timestamp == _doc_time(entry)
    assert verified.is_debug is debug
    assert verified.pcrs[0].hex() == entry["pcr0"]
    assert verified.pcrs[8].hex() == entry["pcr8"]
    for name in ("public_key", "user_data", "nonce"):
        value = getattr(verified, name)
        assert (None if value is None else len(value)) == entry[f"{name}_len"], name


@pytest.mark.parametrize("entry", ENTRIES)
def test_debug_documents_refused_unless_allowed(entry):
    entry = _require(entry)
    doc = _load(entry)
    at = _doc_time(entry) + dt.timedelta(seconds=1)
    if entry["debug_mode_pcrs_zero"]:
        with pytest.raises(AttestationError, match="debug mode"):
            _verify_at(doc, at, allow_debug=False)
    else:
        assert not _verify_at(doc, at, allow_debug=False).is_debug


@pytest.mark.parametrize("entry", ENTRIES)
def test_real_document_fails_today(entry):
    entry = _require(entry)
    with pytest.raises(AttestationError, match="not valid at the verifier time"):
        verify_attestation(_load(entry), allow_debug=True)


@pytest.mark.parametrize("entry", ENTRIES)
def test_real_document_fails_when_older_than_max_age(entry):
    entry = _require(entry)
    doc = _load(entry)
    late = _doc_time(entry) + dt.timedelta(minutes=6)  # leaf still valid (3 h), document too old
    with pytest.raises(AttestationError, match="maximum age"):
        _verify_at(doc, late, allow_debug=True)
    # A verifier with a longer max age accepts the same instant: the age rule is what refused it.
    NitroAttestationVerifier(clock=lambda: late, max_age=dt.timedelta(minutes=10), allow_debug=True).verify(
        doc
    )


@pytest.mark.parametrize("entry", ENTRIES)
def test_real_document_fails_before_its_timestamp(entry):
    entry = _require(entry)
    early = _doc_time(entry) - dt.timedelta(minutes=5)
    with pytest.raises(AttestationError):
        _verify_at(_load(entry), early, allow_debug=True)


def _flip(doc: bytes, offset: int) -> bytes:
    out = bytearray(doc)
    out[offset] ^= 0x01
    return bytes(out)


def _region(doc: bytes, part: int) -> tuple[int, int]:
    import cbor2

    item = cbor2.loads(doc)
    blob = item[part]
    start = doc.rindex(blob) if part == 3 else doc.index(blob)
    return start, len(blob)


@pytest.mark.parametrize("fraction", [0.0, 0.03, 0.2, 0.45, 0.7, 0.97])
@pytest.mark.parametrize("entry", ENTRIES)
def test_single_bit_change_in_payload_is_refused(entry, fraction):
    entry = _require(entry)
    doc = _load(entry)
    start, length = _region(doc, 2)
    tampered = _flip(doc, start + int(fraction * (length - 1)))
    with pytest.raises(AttestationError):
        _verify_at(tampered, _doc_time(entry) + dt.timedelta(seconds=1), allow_debug=True)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("entry", ENTRIES)
def test_single_bit_change_in_signature_is_refused(entry, fraction):
    entry = _require(entry)
    doc = _load(entry)
    start, length = _region(doc, 3)
    tampered = _flip(doc, start + int(fraction * (length - 1)))
    with pytest.raises(AttestationError, match="signature does not verify"):
        _verify_at(tampered, _doc_time(entry) + dt.timedelta(seconds=1), allow_debug=True)


def test_self_signed_simulated_document_is_refused():
    path = NITRO / "blocky-nitrite" / "internal" / "testdata" / "selfsigned_attestation.b64"
    if not path.is_file():
        pytest.fail(f"shared negative fixture not found: {path}")
    doc = decode_document(path.read_bytes())
    with pytest.raises(AttestationError, match="unprotected header must be a map"):
        verify_attestation(doc, allow_debug=True)


def test_corrupted_base64_document_is_refused():
    path = NITRO / "base-nitro-validator" / "real_attestation_as_published_corrupted.b64"
    if not path.is_file():
        pytest.fail(f"shared negative fixture not found: {path}")
    with pytest.raises(AttestationError, match="not valid CBOR"):
        verify_attestation(decode_document(path.read_bytes()), allow_debug=True)
