"""Frozen known-answer vectors for the project's at-rest formats (``tests/vectors/``).

Each vector holds fixed inputs (key, nonce, plaintext) and the exact bytes the code must produce. A
failure here means the format changed: that must be a deliberate act (a new version and a new vector),
never a side effect. The fixed nonce goes in through a parameter production code never passes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from redactline.connectors.records import RecordMeta, Rejected
from redactline.pipelines.quarantine import Sealer, entry_for, entry_line, read_entries
from redactline.policies.reidentify import Vault, VaultError
from redactline.policies.sealing import HEADER, NONCE_BYTES, SealingError, SealingKey, associated_data

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _flips(blob: bytes) -> list[bytes]:
    """``blob`` with one bit flipped, for every bit."""
    out = []
    for i in range(len(blob)):
        for bit in range(8):
            damaged = bytearray(blob)
            damaged[i] ^= 1 << bit
            out.append(bytes(damaged))
    return out


def _hkdf(material: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(material)


def _check_layout(vector: dict[str, Any], key: bytes, info: str, plaintext: bytes) -> None:
    """The vector read with nothing but its own description: HKDF, header, nonce, raw AES-GCM."""
    blob = base64.b64decode(vector["sealed_base64"])
    nonce = bytes.fromhex(vector["nonce_hex"])
    derived = _hkdf(key, info)
    assert derived.hex() == vector["derived_aes_key_hex"]
    assert blob[: len(HEADER)] == b"RLSEAL\x01" and blob[len(HEADER) : len(HEADER) + NONCE_BYTES] == nonce
    ad = bytes.fromhex(vector["associated_data_hex"])
    assert AESGCM(derived).encrypt(nonce, plaintext, ad) == blob[len(HEADER) + NONCE_BYTES :]


# --------------------------------------------------------------------------- quarantine entry


@pytest.fixture(scope="module")
def quarantine() -> dict[str, Any]:
    return _load("quarantine-entry-v1.json")


def _rejected(vector: dict[str, Any]) -> Rejected:
    r = vector["rejected"]
    raw = base64.b64decode(r["raw_base64"])
    return Rejected(r["reason"], r["detail"], RecordMeta(r["source"], r["ref"]), raw)


def test_quarantine_entry_seals_to_the_frozen_bytes(quarantine):
    key, nonce = bytes.fromhex(quarantine["key_material_hex"]), bytes.fromhex(quarantine["nonce_hex"])
    rejected = _rejected(quarantine)
    sealer = Sealer(key)
    assert entry_for(rejected, sealer, nonce=nonce) == quarantine["entry"]
    assert entry_line(rejected, sealer, nonce=nonce) == quarantine["line"]
    assert quarantine["entry"]["sealed"] == quarantine["sealed_base64"]
    assert associated_data("quarantine", (rejected.meta.source, rejected.meta.ref)).hex() == \
        quarantine["associated_data_hex"]
    _check_layout(quarantine, key, "redactline/quarantine/aes-256-gcm/v1", rejected.raw)


def test_quarantine_entry_opens_from_the_frozen_line(quarantine, tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(quarantine["line"] + "\n", encoding="utf-8")
    [entry] = read_entries(path, bytes.fromhex(quarantine["key_material_hex"]))
    expected = {k: v for k, v in quarantine["entry"].items() if k != "sealed"}
    assert entry == {**expected, "raw": base64.b64decode(quarantine["rejected"]["raw_base64"])}


def test_quarantine_entry_fails_on_any_flipped_bit_and_on_a_wrong_binding(quarantine, tmp_path):
    sealer = Sealer(bytes.fromhex(quarantine["key_material_hex"]))
    entry = quarantine["entry"]
    blob = base64.b64decode(entry["sealed"])
    for damaged in _flips(blob):
        with pytest.raises(SealingError):
            sealer.open(base64.b64encode(damaged).decode(), entry["source"], entry["ref"])
    with pytest.raises(SealingError):
        sealer.open(entry["sealed"], entry["source"], "line 8")  # moved to another entry
    with pytest.raises(SealingError):
        sealer.open(entry["sealed"], "file:///data/other.csv", entry["ref"])
    with pytest.raises(SealingError):  # the same material, another purpose
        SealingKey(bytes.fromhex(quarantine["key_material_hex"]), "vault").open(blob, (entry["source"],
                                                                                       entry["ref"]))
    # and through the operator's reader: a wrong binding is an authentication failure, not a crash
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({**entry, "ref": "line 8"}) + "\n", encoding="utf-8")
    [back] = read_entries(path, bytes.fromhex(quarantine["key_material_hex"]))
    assert back["raw"] is None and back["error"] == "authentication failed"


# --------------------------------------------------------------------------- sealed vault


@pytest.fixture(scope="module")
def vault_vector() -> dict[str, Any]:
    return _load("sealed-vault-v1.json")


def test_sealed_vault_seals_to_the_frozen_bytes(vault_vector, tmp_path):
    key, nonce = bytes.fromhex(vault_vector["key_hex"]), bytes.fromhex(vault_vector["nonce_hex"])
    path = tmp_path / "vault.sealed"
    Vault(vault_vector["entries"]).seal(path, key, nonce=nonce)
    assert path.read_bytes() == base64.b64decode(vault_vector["sealed_base64"])
    plaintext = vault_vector["plaintext_utf8"].encode("utf-8")
    assert json.loads(plaintext) == vault_vector["entries"]
    assert associated_data("vault").hex() == vault_vector["associated_data_hex"]
    _check_layout(vault_vector, key, "redactline/vault/aes-256-gcm/v1", plaintext)


def test_sealed_vault_opens_from_the_frozen_bytes(vault_vector, tmp_path):
    path = tmp_path / "vault.sealed"
    path.write_bytes(base64.b64decode(vault_vector["sealed_base64"]))
    opened = Vault.open_sealed(path, bytes.fromhex(vault_vector["key_hex"]))
    entries = vault_vector["entries"]
    assert opened.placeholders() == frozenset(entries)
    assert opened.reidentify(" | ".join(entries)) == " | ".join(entries.values())


def test_sealed_vault_fails_on_any_flipped_bit_and_on_wrong_associated_data(vault_vector, tmp_path):
    key = bytes.fromhex(vault_vector["key_hex"])
    blob = base64.b64decode(vault_vector["sealed_base64"])
    sealing_key = SealingKey(key, "vault")
    assert sealing_key.open(blob) == vault_vector["plaintext_utf8"].encode("utf-8")
    for damaged in _flips(blob):
        with pytest.raises(SealingError):
            sealing_key.open(damaged)
    with pytest.raises(SealingError):
        sealing_key.open(blob, ("another binding",))
    with pytest.raises(SealingError):
        SealingKey(key, "quarantine").open(blob)
    path = tmp_path / "vault.sealed"
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(VaultError, match="wrong key or damaged"):
        Vault.open_sealed(path, key)
