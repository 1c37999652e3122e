"""Quarantine (dead letter): rejected records sealed under a local key, never written in plaintext.

File format: JSONL, one entry per rejected record::

    {"reason": "parse_error", "detail": "unclosed quote", "source": "file:///in.csv", "ref": "line 7",
     "key_id": "3f2a...", "sealed": "<base64 of nonce(12) || AES-256-GCM ciphertext+tag of the raw bytes>"}

The associated data binds the ciphertext to its place: ``json.dumps([source, ref])``, so an entry's
sealed bytes cannot be moved to another entry without failing authentication. The AES key is derived
with HKDF-SHA256 from the operator's key material (hex, or ``base64:`` + base64, at least 32 bytes),
and ``key_id`` is a separate HKDF output that names the key without revealing it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from redactline.connectors.records import Rejected
from redactline.policies.keys import KeyResolutionError, decode_key_material, resolve_key
from redactline.policies.keys import KeySpec as PolicyKeySpec

from . import progress

_AES_INFO = b"redactline/quarantine/aes-256-gcm/v1"
_ID_INFO = b"redactline/quarantine/key-id/v1"


class QuarantineKeyError(ValueError):
    """The quarantine key is missing, malformed or too short (message names the flag/file, never the key)."""


def parse_key(text: str, origin: str) -> bytes:
    """Decode key material in the policy-key encoding (hex or ``base64:`` + base64, >= 32 bytes).

    ``origin`` names the flag or file in errors; the material itself never appears in a message.
    """
    try:
        return decode_key_material(origin, text)
    except KeyResolutionError as exc:
        raise QuarantineKeyError(str(exc)) from None


@dataclass(frozen=True)
class KeySpec:
    """Where workers find the quarantine key. Holds a reference, never the key, so it pickles safely."""

    env: str | None = None
    file: str | None = None

    def load(self) -> bytes:
        # The same loading and decoding as policy keys; the flag stands in for the key's name in errors.
        if self.env:
            origin, spec = f"--quarantine-key-env {self.env}", PolicyKeySpec(env=self.env)
        elif self.file:
            origin, spec = f"--quarantine-key-file {self.file}", PolicyKeySpec(file=self.file)
        else:
            raise QuarantineKeyError("no quarantine key: pass --quarantine-key-env or --quarantine-key-file")
        try:
            return resolve_key(origin, spec, Path.cwd()).material
        except KeyResolutionError as exc:
            raise QuarantineKeyError(str(exc)) from None


def generate_key_file(path: Path) -> Path:
    """Write a fresh 32-byte key (hex) to ``path`` with mode 0600; refuses to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(os.urandom(32).hex() + "\n")
    return path


def resolve_key_spec(key_env: str | None, key_file: str | None, default_dir: Path) -> KeySpec:
    """The key to use for a run; generates one beside the outputs when none was given, and says so."""
    if key_env or key_file:
        spec = KeySpec(env=key_env, file=key_file)
        spec.load()  # fail at startup (exit 2), not in a worker
        return spec
    path = default_dir / "quarantine.key"
    if not path.exists():
        generate_key_file(path)
    # Loud on purpose, even with --quiet: a generated key next to the data is for local trials only.
    print(f"WARNING: no quarantine key given; using generated key file {path} (mode 0600). "
          "Production runs must pass --quarantine-key-env or --quarantine-key-file.", file=sys.stderr)
    return KeySpec(file=str(path))


class Sealer:
    """AES-256-GCM sealing of raw bytes with (source, ref) as associated data."""

    def __init__(self, key_material: bytes) -> None:
        self._aead = AESGCM(_hkdf(key_material, _AES_INFO))
        self.key_id = _hkdf(key_material, _ID_INFO)[:8].hex()

    @staticmethod
    def _aad(source: str, ref: str) -> bytes:
        return json.dumps([source, ref]).encode()

    def seal(self, raw: bytes, source: str, ref: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, raw, self._aad(source, ref))).decode()

    def open(self, sealed: str, source: str, ref: str) -> bytes:
        blob = base64.b64decode(sealed)
        return self._aead.decrypt(blob[:12], blob[12:], self._aad(source, ref))


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def entry_for(rejected: Rejected, sealer: Sealer) -> dict[str, Any]:
    """The quarantine file entry for one rejected record (the raw bytes sealed)."""
    return {
        "reason": rejected.reason,
        "detail": rejected.detail,
        "source": rejected.meta.source,
        "ref": rejected.meta.ref,
        "key_id": sealer.key_id,
        "sealed": sealer.seal(rejected.raw, rejected.meta.source, rejected.meta.ref),
    }


class _SealDoFn(beam.DoFn):
    def __init__(self, key_spec: KeySpec) -> None:
        self._key_spec = key_spec
        self._sealer: Sealer | None = None

    def setup(self) -> None:
        self._sealer = Sealer(self._key_spec.load())

    def process(self, rejected: Rejected) -> Iterator[str]:
        assert self._sealer is not None
        progress.note(quarantined=1)
        yield json.dumps(entry_for(rejected, self._sealer), sort_keys=True)


class WriteQuarantine(beam.PTransform):
    """Seal each ``Rejected`` and write one JSONL file at ``path`` (a single shard, exact name)."""

    def __init__(self, path: str, key_spec: KeySpec) -> None:
        super().__init__()
        self._path = path
        self._key_spec = key_spec

    def expand(self, rejected: beam.PCollection) -> beam.PCollection:
        return (
            rejected
            | "Seal" >> beam.ParDo(_SealDoFn(self._key_spec))
            | "Write" >> beam.io.WriteToText(self._path, num_shards=1, shard_name_template="")
        )


def read_entries(path: str | Path, key: bytes) -> Iterator[dict[str, Any]]:
    """Entries of a quarantine file with ``raw`` decrypted (for an operator; prints nothing itself).

    An entry sealed under another key, or tampered with, gets ``raw=None`` and ``error`` set.
    """
    sealer = Sealer(key)
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            entry = json.loads(line)
            out = {k: v for k, v in entry.items() if k != "sealed"}
            if entry.get("key_id") != sealer.key_id:
                out.update(raw=None, error="sealed under a different key")
            else:
                try:
                    out["raw"] = sealer.open(entry["sealed"], entry["source"], entry["ref"])
                except Exception:  # InvalidTag: tampered, or moved between entries
                    out.update(raw=None, error="authentication failed")
            yield out
