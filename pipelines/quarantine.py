"""Quarantine (dead letter): rejected records sealed under a local key, never written in plaintext.

File format: JSONL, one entry per rejected record (keys sorted)::

    {"detail": "unclosed quote", "key_id": "3f2a...", "reason": "parse_error", "ref": "line 7",
     "sealed": "<base64 of a sealed blob of the raw bytes>", "source": "file:///in.csv"}

``sealed`` uses the project's one at-rest format (:mod:`redactline.policies.sealing`, purpose
``quarantine``): AES-256-GCM under a key derived with HKDF-SHA256 from the operator's key material
(hex, or ``base64:`` + base64, at least 32 bytes), a versioned header, and ``[source, ref]`` bound as
associated data, so an entry's sealed bytes cannot be moved to another entry without failing
authentication. ``key_id`` names the key without revealing it. ``tests/vectors/quarantine-entry-v1.json``
freezes an entry byte for byte.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam

from redactline.connectors.records import Rejected
from redactline.policies.keys import KeyResolutionError, decode_key_material, resolve_key
from redactline.policies.keys import KeySpec as PolicyKeySpec
from redactline.policies.sealing import SealingKey

PURPOSE = "quarantine"  # the sealing purpose: derives the quarantine's own key from the material


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


STATE_DIR_ENV = "REDACTLINE_STATE_DIR"


def default_key_path() -> Path:
    """The per-user generated key: ``$REDACTLINE_STATE_DIR``, else ``$XDG_STATE_HOME/redactline``, else
    ``~/.local/state/redactline``, then ``quarantine.key``. Never beside the sealed data it opens."""
    state = os.environ.get(STATE_DIR_ENV)
    if not state:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state = str(Path(xdg) / "redactline")
    return Path(state) / "quarantine.key"


def resolve_key_spec(key_env: str | None, key_file: str | None) -> KeySpec:
    """The key to use for a run; without a flag, the per-user generated key (created once), and says so."""
    if key_env or key_file:
        spec = KeySpec(env=key_env, file=key_file)
        spec.load()  # fail at startup (exit 2), not in a worker
        return spec
    path = default_key_path()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        generate_key_file(path)
    spec = KeySpec(file=str(path))
    # Loud on purpose, even with --quiet: a generated per-user key is for local trials only.
    print(f"WARNING: no quarantine key given; sealing under the generated per-user key {path} "
          f"(key id {key_id(spec)}, mode 0600). Production runs must pass --quarantine-key-env or "
          "--quarantine-key-file.", file=sys.stderr)
    return spec


def key_id(spec: KeySpec) -> str:
    """The fingerprint entries and the manifest name the key by (reveals nothing about the key)."""
    return Sealer(spec.load()).key_id


class Sealer:
    """Raw bytes sealed in the at-rest format with (source, ref) bound; base64 text for the entry."""

    def __init__(self, key_material: bytes) -> None:
        self._key = SealingKey(key_material, PURPOSE)
        self.key_id = self._key.key_id

    def seal(self, raw: bytes, source: str, ref: str, *, nonce: bytes | None = None) -> str:
        """``nonce`` only for the known-answer vectors; production draws a fresh one."""
        return base64.b64encode(self._key.seal(raw, (source, ref), nonce=nonce)).decode("ascii")

    def open(self, sealed: str, source: str, ref: str) -> bytes:
        return self._key.open(base64.b64decode(sealed, validate=True), (source, ref))


def entry_for(rejected: Rejected, sealer: Sealer, *, nonce: bytes | None = None) -> dict[str, Any]:
    """The quarantine file entry for one rejected record (the raw bytes sealed)."""
    return {
        "reason": rejected.reason,
        "detail": rejected.detail,
        "source": rejected.meta.source,
        "ref": rejected.meta.ref,
        "key_id": sealer.key_id,
        "sealed": sealer.seal(rejected.raw, rejected.meta.source, rejected.meta.ref, nonce=nonce),
    }


def entry_line(rejected: Rejected, sealer: Sealer, *, nonce: bytes | None = None) -> str:
    """One line of the quarantine file (without its newline), exactly as the run writes it."""
    return json.dumps(entry_for(rejected, sealer, nonce=nonce), sort_keys=True)


class _SealDoFn(beam.DoFn):
    def __init__(self, key_spec: KeySpec) -> None:
        self._key_spec = key_spec
        self._sealer: Sealer | None = None

    def setup(self) -> None:
        self._sealer = Sealer(self._key_spec.load())

    def process(self, rejected: Rejected) -> Iterator[str]:
        assert self._sealer is not None
        yield entry_line(rejected, self._sealer)


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
    if "://" in str(path) and not str(path).startswith("file://"):  # s3://, gs://: through Beam
        from apache_beam.io.filesystems import FileSystems

        handle: Any = io.TextIOWrapper(FileSystems.open(str(path)), encoding="utf-8")
    else:
        handle = open(str(path).removeprefix("file://"), encoding="utf-8")  # noqa: SIM115 - closed below
    with handle:
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
