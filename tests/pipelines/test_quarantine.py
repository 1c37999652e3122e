"""Quarantine sealing, keys, the progress line, and the test network guard itself."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest

from redactline.connectors.records import RecordMeta, Rejected
from redactline.pipelines.progress import Progress, note
from redactline.pipelines.quarantine import (
    KeySpec,
    QuarantineKeyError,
    Sealer,
    entry_for,
    parse_key,
    read_entries,
    resolve_key_spec,
)

KEY = bytes(range(32))


def test_seal_roundtrip_and_binding_to_source_and_ref():
    sealer = Sealer(KEY)
    sealed = sealer.seal(b"Jane Roe,555-0100", "file:///in.csv", "line 3")
    assert b"Jane" not in sealed.encode()
    assert sealer.open(sealed, "file:///in.csv", "line 3") == b"Jane Roe,555-0100"
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag: moved to another entry
        sealer.open(sealed, "file:///in.csv", "line 4")
    with pytest.raises(Exception):  # noqa: B017 - another key
        Sealer(bytes(32)).open(sealed, "file:///in.csv", "line 3")
    assert Sealer(KEY).key_id == sealer.key_id != Sealer(bytes(32)).key_id
    assert KEY.hex() not in sealer.key_id


def test_quarantine_file_entries_read_back_and_tampering_is_detected(tmp_path):
    sealer = Sealer(KEY)
    rejected = [Rejected("parse_error", "bad row", RecordMeta("s", f"line {i}"), f"raw {i}".encode())
                for i in range(2)]
    entries = [entry_for(r, sealer) for r in rejected]
    entries[1]["sealed"], entries[0]["sealed"] = entries[0]["sealed"], entries[1]["sealed"]  # swap
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    back = list(read_entries(path, KEY))
    assert [e["raw"] for e in back] == [None, None]
    assert {e["error"] for e in back} == {"authentication failed"}


def test_key_parsing_and_sources(tmp_path, monkeypatch):
    assert parse_key("ab" * 32, "x") == bytes([0xAB]) * 32
    assert parse_key("base64:" + "A" * 44, "x") == bytes(33)
    for bad in ("ab" * 8, "zz" * 32, "base64:%%%"):
        with pytest.raises(QuarantineKeyError) as info:
            parse_key(bad, "--quarantine-key-env QK")
        assert "--quarantine-key-env QK" in str(info.value) and bad not in str(info.value)
    monkeypatch.setenv("QK", "cd" * 32)
    assert KeySpec(env="QK").load() == bytes([0xCD]) * 32
    with pytest.raises(QuarantineKeyError, match="NOT_SET"):
        KeySpec(env="NOT_SET").load()
    monkeypatch.setenv("REDACTLINE_STATE_DIR", str(tmp_path / "state"))
    spec = resolve_key_spec(None, None)
    key_file = tmp_path / "state" / "quarantine.key"  # per user, never beside the sealed data
    assert spec.file == str(key_file) and key_file.stat().st_mode & 0o777 == 0o600
    assert len(spec.load()) == 32
    assert resolve_key_spec(None, None).load() == spec.load()  # reused, not replaced


def test_progress_line_counts():
    stream = io.StringIO()
    with Progress(enabled=True, stream=stream, interval=0.01) as progress:
        note(processed=5)
        note(quarantined=2)  # not a second count: quarantined records are tallied where the manifest counts
        assert "5 redacted" in progress.line() and "0 quarantined" in progress.line()
    assert "5 redacted" in stream.getvalue()
    assert "\r" not in stream.getvalue()  # not a terminal: whole lines only


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_writes_lines_to_logs():
    terminal = FakeTerminal()
    with Progress(enabled=True, stream=terminal, interval=0.01):
        note(processed=3)
        time.sleep(0.05)
    assert terminal.getvalue().startswith("\r") and terminal.getvalue().count("\n") == 1
    log = io.StringIO()
    with Progress(enabled=True, stream=log, interval=0.01, log_interval=0.01):
        note(processed=3)
        time.sleep(0.05)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("redactline: ") for line in lines)


def test_progress_quiet():
    silent = io.StringIO()
    with Progress(enabled=False, stream=silent):
        note(processed=1)
    assert silent.getvalue() == ""


def test_network_guard_blocks_non_loopback(no_remote_network):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(OSError, match="forbids"):
        sock.connect(("192.0.2.1", 443))
    sock.close()
    assert no_remote_network == [("192.0.2.1", 443)]
