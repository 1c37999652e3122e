"""Key references: resolution from env/file, encodings, errors that never leak material, derivation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import TypeAdapter, ValidationError

from redactline.policies.keys import (
    MIN_KEY_BYTES,
    Key,
    KeyResolutionError,
    KeySpec,
    resolve_key,
    resolve_keys,
)

MATERIAL = os.urandom(32)
HEX = MATERIAL.hex()


def test_env_key_hex(tmp_path: Path) -> None:
    key = resolve_key("pii", KeySpec(env="K"), tmp_path, environ={"K": f"  {HEX}\n"})
    assert key.material == MATERIAL
    assert key.name == "pii"


def test_env_key_uppercase_hex(tmp_path: Path) -> None:
    key = resolve_key("pii", KeySpec(env="K"), tmp_path, environ={"K": HEX.upper()})
    assert key.material == MATERIAL


def test_file_key_base64_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    material = os.urandom(48)
    (tmp_path / "keys" / "token.key").write_text("base64:" + base64.b64encode(material).decode() + "\n")
    key = resolve_key("tokens", KeySpec(file="keys/token.key"), tmp_path, environ={})
    assert key.material == material


def test_resolve_keys_reads_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDACTLINE_TEST_KEY", HEX)
    keys = resolve_keys({"a": KeySpec(env="REDACTLINE_TEST_KEY")}, tmp_path)
    assert set(keys) == {"a"}
    assert keys["a"].material == MATERIAL


def test_key_id_is_hmac_fingerprint_and_repr_hides_material() -> None:
    key = Key(name="pii", material=MATERIAL)
    expected = hmac.new(MATERIAL, b"redactline key id", hashlib.sha256).hexdigest()[:16]
    assert key.key_id == f"pii:{expected}"
    assert HEX not in repr(key)
    assert repr(MATERIAL) not in repr(key)
    assert key.key_id in repr(key)


def test_key_id_differs_between_keys() -> None:
    assert Key("k", os.urandom(32)).key_id != Key("k", os.urandom(32)).key_id


def test_key_rejects_short_material_directly() -> None:
    with pytest.raises(KeyResolutionError):
        Key("k", b"\x01" * (MIN_KEY_BYTES - 1))


def test_derive_is_hkdf_sha256_per_purpose() -> None:
    key = Key("k", MATERIAL)
    subkeys = {p: key.derive(p) for p in ("hmac", "aes-siv", "date-shift")}
    assert len(set(subkeys.values())) == 3
    assert all(sk != MATERIAL for sk in subkeys.values())
    assert len(key.derive("aes-siv", 64)) == 64
    assert key.derive("hmac") == key.derive("hmac")
    reference = HKDF(hashes.SHA256(), 32, salt=None, info=b"redactline/v1/hmac").derive(MATERIAL)
    assert subkeys["hmac"] == reference


def test_derive_rejects_unknown_purpose() -> None:
    with pytest.raises(ValueError, match="purpose"):
        Key("k", MATERIAL).derive("hmca")


# --- errors: each names the key, never the material -------------------------------------------------


def _error(spec: KeySpec, base_dir: Path, environ: dict[str, str]) -> KeyResolutionError:
    with pytest.raises(KeyResolutionError) as info:
        resolve_key("pii-hmac", spec, base_dir, environ)
    err = info.value
    assert err.key_name == "pii-hmac"
    assert "pii-hmac" in str(err)
    # No chained exception that could carry the material along in a traceback.
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None
    return err


def _assert_no_secret(err: Exception, secret: str) -> None:
    for text in (str(err), repr(err), *(str(a) for a in err.args)):
        assert secret not in text
        # Not even a sizeable piece of it.
        assert secret[:12] not in text


def test_missing_env_var(tmp_path: Path) -> None:
    err = _error(KeySpec(env="REDACTLINE_NOPE"), tmp_path, {})
    assert "REDACTLINE_NOPE" in str(err)


def test_empty_env_var(tmp_path: Path) -> None:
    err = _error(KeySpec(env="K"), tmp_path, {"K": "   "})
    assert "empty" in str(err)


def test_short_key(tmp_path: Path) -> None:
    short = os.urandom(16).hex()
    err = _error(KeySpec(env="K"), tmp_path, {"K": short})
    assert "16 bytes" in str(err)
    _assert_no_secret(err, short)


def test_short_base64_key(tmp_path: Path) -> None:
    secret = base64.b64encode(os.urandom(24)).decode()
    err = _error(KeySpec(env="K"), tmp_path, {"K": "base64:" + secret})
    assert "24 bytes" in str(err)
    _assert_no_secret(err, secret)


@pytest.mark.parametrize(
    "bad",
    [
        HEX[:-1] + "g",  # not hex
        HEX + "a",  # odd length
        HEX[:32] + " " + HEX[32:],  # inner whitespace
        "0x" + HEX,  # prefixed
        "base64:" + "!" * 44,  # bad base64
        "base64:" + base64.b64encode(MATERIAL).decode().rstrip("="),  # missing padding
        "ключ" * 16,  # non-ASCII
    ],
)
def test_bad_encodings(tmp_path: Path, bad: str) -> None:
    err = _error(KeySpec(env="K"), tmp_path, {"K": bad})
    _assert_no_secret(err, bad.removeprefix("base64:"))


def test_missing_file(tmp_path: Path) -> None:
    err = _error(KeySpec(file="keys/none.key"), tmp_path, {})
    assert "none.key" in str(err)
    assert "does not exist" in str(err)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    err = _error(KeySpec(file="d"), tmp_path, {})
    assert "cannot be read" in str(err)


def test_binary_file_is_rejected_without_quoting_it(tmp_path: Path) -> None:
    raw = b"\xff\xfe" + os.urandom(40)
    (tmp_path / "k.bin").write_bytes(raw)
    err = _error(KeySpec(file="k.bin"), tmp_path, {})
    assert "ASCII" in str(err)
    assert "0xff" not in str(err) and "\\xff" not in str(err)


def test_short_file_key_does_not_leak(tmp_path: Path) -> None:
    short = os.urandom(31).hex()
    (tmp_path / "k").write_text(short)
    err = _error(KeySpec(file="k"), tmp_path, {})
    _assert_no_secret(err, short)


def test_resolve_keys_stops_at_first_bad_key(tmp_path: Path) -> None:
    specs = {"good": KeySpec(env="A"), "bad": KeySpec(env="B")}
    with pytest.raises(KeyResolutionError) as info:
        resolve_keys(specs, tmp_path, environ={"A": HEX})
    assert info.value.key_name == "bad"


# --- KeySpec shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {"env": "A", "file": "b"},  # both
        {},  # neither
        {"env": ""},  # empty name
        {"env": "A", "value": HEX},  # inline material is not a field
    ],
)
def test_keyspec_rejects_bad_shapes(obj: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as info:
        KeySpec.model_validate(obj)
    # Someone pasting material inline must not see it echoed into logs by the validation error.
    assert HEX[:12] not in str(info.value)


def test_keyspec_inside_a_mapping() -> None:
    parsed = TypeAdapter(dict[str, KeySpec]).validate_python(
        {"pii-hmac": {"env": "REDACTLINE_HMAC_KEY"}, "tokens": {"file": "keys/token.key"}}
    )
    assert parsed["pii-hmac"].env == "REDACTLINE_HMAC_KEY"
    assert parsed["tokens"].file == "keys/token.key"
