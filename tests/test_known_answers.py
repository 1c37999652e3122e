"""Frozen known-answer vectors for the project's at-rest and wire formats (``tests/vectors/``).

Each vector holds fixed inputs (key, nonce, plaintext) and the exact bytes the code must produce. A
failure here means the format changed: that must be a deliberate act (a new version and a new vector),
never a side effect. The fixed nonce goes in through a parameter production code never passes; for the
sealed envelope, through the private ``_seal_*_with`` functions that production calls only with fresh
random values (its HPKE key blocks are frozen as produced once, and checked by opening them).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from redactline.connectors.records import RecordMeta, Rejected
from redactline.enclave_sink import envelope as env
from redactline.enclave_sink.envelope import (
    BatchHeader,
    BatchOpener,
    EnvelopeError,
    ReplyHeader,
    open_batch,
    open_reply,
)
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


# --------------------------------------------------------------------------- sealed envelope v2


@pytest.fixture(scope="module")
def envelope_vector() -> dict[str, Any]:
    return _load("envelope-v2.json")


def _envelope_inputs(v: dict[str, Any]) -> dict[str, Any]:
    h = v["batch"]["header"]
    header = BatchHeader(
        batch_id=h["batch_id"],
        policy_hash=h["policy_hash"],
        region=h["region"],
        record_count=h["record_count"],
        reply_public_key=bytes.fromhex(v["reply_public_key_hex"]),
        created_at=dt.datetime.fromtimestamp(h["created_at_ms"] / 1000, dt.UTC),
    )
    return {
        "header": header,
        "enclave": x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["enclave_private_key_hex"])),
        "reply_key": x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["reply_private_key_hex"])),
        "digest": bytes.fromhex(v["attestation_digest_hex"]),
        "reply_created_at": dt.datetime.fromtimestamp(v["reply"]["created_at_ms"] / 1000, dt.UTC),
    }


def _check_envelope_layout(part: dict[str, Any], kind: int, ikm: bytes, binding: bytes) -> None:
    """One envelope read with nothing but the vector's description: prefix, HKDF, raw AES-GCM."""
    blob = bytes.fromhex(part["envelope_hex"])
    header, key_block, salt = (bytes.fromhex(part[f"{k}_hex"]) for k in ("header_cbor", "key_block", "salt"))
    plaintext = part["plaintext_utf8"].encode("utf-8")
    label = {1: b"batch", 2: b"reply"}[kind]
    okm = HKDF(algorithm=hashes.SHA256(), length=76 if kind == 1 else 44, salt=salt,
               info=b"redactline/envelope/v2/dem/" + label + b"\x00" + binding).derive(ikm)
    assert okm[:44].hex() == part["dem_key_hex"] + part["dem_nonce_hex"]
    prefix = struct.pack(">4sBBIQ", b"RLSE", 2, kind, len(header), len(plaintext) + 16)
    ad = prefix + header + key_block + salt
    assert ad.hex() == part["associated_data_hex"]
    assert ad + AESGCM(okm[:32]).encrypt(okm[32:44], plaintext, ad) == blob


def test_envelope_v2_seals_to_the_frozen_bytes(envelope_vector):
    v, i = envelope_vector, _envelope_inputs(envelope_vector)
    batch, reply = v["batch"], v["reply"]
    assert i["header"].encode().hex() == batch["header_cbor_hex"]
    session_secret = bytes.fromhex(batch["session_secret_hex"])
    # The seam production never calls with fixed values: explicit secret, key block and salt.
    sealed = env._seal_batch_with(
        i["header"], batch["plaintext_utf8"].encode("utf-8"), session_secret,
        bytes.fromhex(batch["key_block_hex"]), i["digest"], bytes.fromhex(batch["salt_hex"]),
    )
    assert sealed.envelope.hex() == batch["envelope_hex"]
    assert sealed.reply_secret.hex() == v["reply_secret_hex"]
    sealed_reply = env._seal_reply_with(
        i["header"], reply["plaintext_utf8"].encode("utf-8"), sealed.reply_secret,
        bytes.fromhex(reply["kem_secret_hex"]), bytes.fromhex(reply["key_block_hex"]),
        i["reply_created_at"], bytes.fromhex(reply["salt_hex"]),
    )
    assert sealed_reply.hex() == reply["envelope_hex"]
    # The same bytes from the description alone (HKDF + AES-GCM, no envelope code).
    binding = bytes.fromhex(v["request_binding_hex"])
    assert hashlib.sha256(bytes.fromhex(batch["header_cbor_hex"])).digest() == binding
    batch_okm = HKDF(algorithm=hashes.SHA256(), length=76, salt=bytes.fromhex(batch["salt_hex"]),
                     info=b"redactline/envelope/v2/dem/batch\x00" + i["digest"]).derive(session_secret)
    reply_secret = batch_okm[44:]  # after the batch's AES key and nonce
    assert reply_secret.hex() == v["reply_secret_hex"]
    _check_envelope_layout(batch, 1, session_secret, i["digest"])
    _check_envelope_layout(reply, 2, bytes.fromhex(reply["kem_secret_hex"]) + reply_secret, binding)
    # The frozen (randomised) key blocks open with the fixed private keys to the fixed secrets.
    assert env.SUITE.decrypt(bytes.fromhex(batch["key_block_hex"]), i["enclave"],
                             info=b"redactline/envelope/v2/kem/batch\x00" + i["digest"]) == session_secret
    assert env.SUITE.decrypt(bytes.fromhex(reply["key_block_hex"]), i["reply_key"],
                             info=b"redactline/envelope/v2/kem/reply\x00" + binding) == \
        bytes.fromhex(reply["kem_secret_hex"])


def test_envelope_v2_opens_from_the_frozen_bytes(envelope_vector):
    v, i = envelope_vector, _envelope_inputs(envelope_vector)
    batch_blob, reply_blob = (bytes.fromhex(v[part]["envelope_hex"]) for part in ("batch", "reply"))
    for opened in (open_batch(batch_blob, i["enclave"], i["digest"]),
                   BatchOpener(i["enclave"], i["digest"]).open(batch_blob)):
        assert opened.header == i["header"]
        assert opened.plaintext == v["batch"]["plaintext_utf8"].encode("utf-8")
        assert opened.reply_secret.hex() == v["reply_secret_hex"]
    reply_secret = bytes.fromhex(v["reply_secret_hex"])
    assert open_reply(reply_blob, i["reply_key"], i["header"], reply_secret) == \
        v["reply"]["plaintext_utf8"].encode("utf-8")
    assert ReplyHeader.decode(bytes.fromhex(v["reply"]["header_cbor_hex"])) == \
        ReplyHeader(i["header"].batch_id, i["reply_created_at"])


def test_envelope_v2_fails_on_any_flipped_bit_and_on_the_old_version(envelope_vector):
    v, i = envelope_vector, _envelope_inputs(envelope_vector)
    batch_blob, reply_blob = (bytes.fromhex(v[part]["envelope_hex"]) for part in ("batch", "reply"))
    reply_secret = bytes.fromhex(v["reply_secret_hex"])
    for damaged in _flips(batch_blob):
        with pytest.raises(EnvelopeError):
            open_batch(damaged, i["enclave"], i["digest"])
    for damaged in _flips(reply_blob):
        with pytest.raises(EnvelopeError):
            open_reply(damaged, i["reply_key"], i["header"], reply_secret)
    for damaged in _flips(reply_secret):  # a reply secret the enclave did not derive
        with pytest.raises(EnvelopeError, match="authentication failed"):
            open_reply(reply_blob, i["reply_key"], i["header"], damaged)
    with pytest.raises(EnvelopeError, match="unsupported envelope version 1"):
        open_batch(batch_blob[:4] + b"\x01" + batch_blob[5:], i["enclave"], i["digest"])
    with pytest.raises(EnvelopeError, match="unsupported envelope version 1"):
        open_reply(reply_blob[:4] + b"\x01" + reply_blob[5:], i["reply_key"], i["header"], reply_secret)
