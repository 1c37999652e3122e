"""Measurement policy objects and their YAML loader."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from redactline.enclave_sink.errors import MeasurementError
from redactline.enclave_sink.measurement import (
    AllOf,
    AnyOf,
    ExpectedNonce,
    ExpectedPublicKey,
    ExpectedUserData,
    NotDebugMode,
    PcrAllowlist,
    PolicyFileError,
    load_measurement_policy,
)
from redactline.enclave_sink.verified import VerifiedAttestation

PCR0 = hashlib.sha384(b"image").digest()
PCR8 = hashlib.sha384(b"signer").digest()


def _doc(pcr0: bytes = PCR0, debug: bool = False, **fields) -> VerifiedAttestation:
    pcrs = {i: bytes(48) for i in range(16)}
    if not debug:
        pcrs[0], pcrs[1], pcrs[2], pcrs[8] = pcr0, PCR0, PCR0, PCR8
    defaults = {"public_key": b"pk", "user_data": b"ud", "nonce": b"nonce"}
    defaults.update(fields)
    return VerifiedAttestation(
        module_id="i-test",
        timestamp=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        digest="SHA384",
        pcrs=pcrs,
        document_sha256=b"\0" * 32,
        leaf_certificate=None,  # type: ignore[arg-type]
        **defaults,
    )


def test_empty_allowlist_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        PcrAllowlist(0, [])


@pytest.mark.parametrize("index", [5, 16, -1, "0"])
def test_only_meaningful_pcr_indexes(index):
    with pytest.raises(ValueError, match="PCR index"):
        PcrAllowlist(index, [PCR0.hex()])


@pytest.mark.parametrize("value", ["zz" * 48, "ab" * 47, ""])
def test_allowlist_values_must_be_hex_digests(value):
    with pytest.raises(ValueError):
        PcrAllowlist(0, [value])


def test_allowlist_match_and_mismatch_names_the_pcr():
    policy = PcrAllowlist(0, [PCR8.hex(), PCR0.hex().upper()])
    policy.verify(_doc())
    other = hashlib.sha384(b"other").digest()
    with pytest.raises(MeasurementError) as info:
        policy.verify(_doc(pcr0=other))
    assert "PCR0" in info.value.reason
    assert other.hex()[:8] in info.value.reason and PCR0.hex()[:8] in info.value.reason


def test_not_debug_mode():
    NotDebugMode().verify(_doc())
    with pytest.raises(MeasurementError, match="debug mode"):
        NotDebugMode().verify(_doc(debug=True))


@pytest.mark.parametrize(
    ("check", "field"),
    [(ExpectedNonce, "nonce"), (ExpectedPublicKey, "public_key"), (ExpectedUserData, "user_data")],
)
def test_expected_bindings(check, field):
    check(b"right").verify(_doc(**{field: b"right"}))
    with pytest.raises(MeasurementError, match=f"{field} mismatch"):
        check(b"right").verify(_doc(**{field: b"wrong"}))
    with pytest.raises(MeasurementError, match=f"{field} is absent"):
        check(b"right").verify(_doc(**{field: None}))
    with pytest.raises(ValueError):
        check(b"")


def test_all_of_and_any_of():
    good, bad = PcrAllowlist(0, [PCR0.hex()]), PcrAllowlist(8, [PCR0.hex()])
    AllOf([good, NotDebugMode()]).verify(_doc())
    with pytest.raises(MeasurementError, match="PCR8"):
        AllOf([good, bad]).verify(_doc())
    AnyOf([bad, good]).verify(_doc())
    with pytest.raises(MeasurementError, match="no alternative matched: PCR8.*PCR0"):
        AnyOf([bad, PcrAllowlist(0, [PCR8.hex()])]).verify(_doc())
    for combinator in (AllOf, AnyOf):
        with pytest.raises(ValueError):
            combinator([])


def test_load_policy_from_yaml(tmp_path):
    path = tmp_path / "pcrs.yaml"
    path.write_text(f"pcrs:\n  0: ['{PCR0.hex()}']\n  PCR8: ['{PCR8.hex()}', '{PCR0.hex()}']\n")
    policy = load_measurement_policy(path)
    policy.verify(_doc())
    with pytest.raises(MeasurementError, match="PCR0"):
        policy.verify(_doc(pcr0=PCR8))
    with pytest.raises(MeasurementError, match="debug"):
        policy.verify(_doc(debug=True))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("pcrs:\n  0: []\n", "pcrs.0"),
        ("pcrs: {}\n", "pcrs must be a non-empty"),
        ("pcrs:\n  0: ['xyz']\n", "pcrs.0"),
        ("pcrs:\n  7: ['" + "00" * 48 + "']\n", "pcrs.7"),
        ("pcr:\n  0: ['" + "00" * 48 + "']\n", "unknown field"),
        ("- just a list\n", "top level"),
        ("pcrs: [: bad\n", "not valid YAML"),
        ("allow_debug: 'yes'\npcrs:\n  0: ['" + "00" * 48 + "']\n", "allow_debug"),
    ],
)
def test_policy_file_errors_name_file_and_field(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PolicyFileError) as info:
        load_measurement_policy(path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_measurement_policy(tmp_path / "absent.yaml")
