"""Clean exits (issue 14): signals end a run with a FAILED manifest and no temporary files; output paths
are checked before the job starts; user errors exit 2 with one line; failure details never hold values.

Before, measured on the same cases: SIGTERM killed the run with no manifest and left ``beam-temp-*``
folders; a directory as sink left a ``.tmp-<uuid>`` file of redacted rows (exit 1); an existing sink
was overwritten silently; ``/proc/...`` and ``/dev/null/x`` as sink gave exit 1 (a traceback for the
latter); ``quarantine show`` on a file that is not a quarantine gave a traceback.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import apache_beam as beam
import pytest
import yaml

from redactline.connectors.records import Record, RecordMeta
from redactline.pipelines.cli import main as cli_main
from redactline.pipelines.run import run
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record, pii_values, scan_for
from tests.support.servers import FakeOpenAI, llm_policy

KEY_HEX = "5a" * 32
PLANTED = "Planted-Value-7Q3X"  # a record value that a failing step quotes in its exception message


def _csv(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person_record(0)))
        writer.writeheader()
        for i in range(rows):
            writer.writerow(person_record(i))
    return path


def _leftovers(directory: Path) -> list[str]:
    """Temporary files and folders a run may leave beside its outputs."""
    return sorted(p.name for p in directory.iterdir()
                  if p.name.startswith("beam-temp-") or ".tmp-" in p.name or p.name.endswith(".counts.json"))


class _Run:
    """``python -m redactline.pipelines.run`` in a subprocess, its stderr read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "redactline.pipelines.run", *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env={**os.environ, "REDACTLINE_PROGRESS_SECONDS": "0.2", **env})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, predicate, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError("the run ended before the signal:\n" + "".join(self.lines)[-3000:])
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("the run did not start in time:\n" + "".join(self.lines)[-3000:])
            time.sleep(0.05)

    def redacted(self) -> int:
        counts = [int(m.group(1)) for line in list(self.lines)
                  for m in [re.match(r"redactline: \d+ read, (\d+) redacted", line)] if m]
        return max(counts, default=0)

    def stop(self, signum: int, timeout: float = 120.0) -> tuple[int, str]:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code, "".join(self.lines)


# ---- signals -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_ends_the_run_with_a_failed_manifest_and_no_temporary_files(tmp_path):
    src = _csv(tmp_path / "in.csv", 3000)  # minutes of redaction: still running when the signal comes
    out = tmp_path / "out"
    run_ = _Run(["--policy", str(DEMO_POLICY), "--source", str(src), "--sink", str(out / "r.jsonl"),
                 "--quarantine-key-env", "RL_TEST_QKEY", "--no-profile"], {"RL_TEST_QKEY": KEY_HEX})
    run_.wait_for(lambda: run_.redacted() > 0)
    code, err = run_.stop(signal.SIGTERM)
    assert code == 143, err
    assert "Traceback" not in err and "interrupted by SIGTERM" in err
    manifest = json.loads((out / "r.manifest.json").read_text())
    assert manifest["state"] == "FAILED (interrupted by SIGTERM)"
    assert manifest["interrupted"] == {"signal": "SIGTERM", "exit_code": 143}
    assert manifest["counts_status"] == "partial" and not manifest["check"]["holds"]
    assert "partial" in manifest["check"]["error"]
    assert 0 < manifest["counts"]["read"] <= 3000  # what was known when the run stopped
    assert _leftovers(out) == []
    assert scan_for([out], pii_values(), err) == []


@pytest.mark.slow
def test_sigint_on_the_llm_route_counts_the_requests_already_sent(tmp_path):
    src = _csv(tmp_path / "in.csv", 200)
    out = tmp_path / "out"
    with FakeOpenAI() as server:
        server.hold(0.5)  # slow answers: the interrupt comes while requests are in flight
        policy = tmp_path / "policy.yaml"
        prompt = {"template": "Customer {name} wrote: {notes}"}
        policy.write_text(yaml.safe_dump(llm_policy("llm-interrupt", {
            "assistant": server.destination(prompt=prompt, max_concurrency=2)}), sort_keys=False))
        run_ = _Run(["--policy", str(policy), "--source", str(src), "--sink", str(out / "a.jsonl"),
                     "--destination", "llm:assistant", "--quarantine-key-env", "RL_TEST_QKEY",
                     "--no-profile"],
                    {"RL_TEST_QKEY": KEY_HEX, "OPENAI_TEST_KEY": "sk-test-openai"})
        run_.wait_for(lambda: len(server.requests) > 0)
        code, err = run_.stop(signal.SIGINT)
        sent = len(server.requests)
    assert code == 130, err
    assert "Traceback" not in err
    manifest = json.loads((out / "a.manifest.json").read_text())
    assert manifest["state"] == "FAILED (interrupted by SIGINT)"
    assert manifest["counts_status"] == "partial"
    # every request that left is in the manifest, although none of those in flight was answered in time
    assert manifest["destination"]["counts"]["requests"] == sent > 0
    assert sent < 200  # the prompts not yet sent were cancelled, not sent after the interrupt
    assert _leftovers(out) == []


# ---- output paths, checked before the job starts -----------------------------------------------------


def _args(tmp_path: Path, **flags: str) -> list[str]:
    args = ["--policy", str(DEMO_POLICY), "--source", str(tmp_path / "in.csv"),
            "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--no-profile"]
    flags.setdefault("sink", str(tmp_path / "out" / "r.jsonl"))
    for flag, value in flags.items():
        args += [f"--{flag}", value]
    return args


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("WARNING:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("flags", "expected"), [
    ({"sink": "/proc/rl-test/r.jsonl"}, "--sink /proc/rl-test/r.jsonl: cannot create a file in /proc"),
    ({"sink": "/dev/null/x.jsonl"}, "--sink /dev/null/x.jsonl: /dev/null is not a directory"),
    ({"sink": "{tmp}/a-dir.jsonl"}, "a-dir.jsonl: is a directory"),
    ({"sink": "{tmp}/existing.jsonl"}, "existing.jsonl: already exists; add --overwrite"),
    ({"held": "/dev/null/h.jsonl"}, "--held /dev/null/h.jsonl: /dev/null is not a directory"),
    ({"quarantine": "/proc/self/q.jsonl"}, "--quarantine /proc/self/q.jsonl: cannot create a file in /proc"),
    ({"manifest": "/dev/null"}, "--manifest /dev/null: exists and is not a regular file"),
    ({"manifest": "{tmp}/a-dir.jsonl"}, "--manifest"),
    ({"held": "{tmp}/out/r.jsonl"}, "--held {tmp}/out/r.jsonl: --sink names the same file"),
])
def test_unusable_outputs_stop_the_run_before_it_starts(tmp_path, monkeypatch, capsys, flags, expected):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    _csv(tmp_path / "in.csv", 2)
    (tmp_path / "a-dir.jsonl").mkdir()
    (tmp_path / "existing.jsonl").write_text('{"earlier": "run"}\n')
    before = sorted(p.name for p in tmp_path.rglob("*"))
    flags = {k: v.replace("{tmp}", str(tmp_path)) for k, v in flags.items()}
    assert run(_args(tmp_path, **flags)) == 2
    line = _one_line_error(capsys)
    assert line.startswith("redactline run: error: --") and expected.replace("{tmp}", str(tmp_path)) in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created, nothing replaced
    assert (tmp_path / "existing.jsonl").read_text() == '{"earlier": "run"}\n'


def test_an_existing_sink_is_replaced_only_with_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    _csv(tmp_path / "in.csv", 3)
    sink = tmp_path / "out" / "r.jsonl"
    sink.parent.mkdir()
    sink.write_text('{"earlier": "run"}\n')
    assert run(_args(tmp_path, sink=str(sink))) == 2
    assert "add --overwrite" in _one_line_error(capsys)
    assert run([*_args(tmp_path, sink=str(sink)), "--overwrite"]) == 0
    assert [json.loads(line)["id"] for line in sink.read_text().splitlines()] == ["0", "1", "2"]
    # the second run's outputs exist now: a third run without --overwrite names the first one it meets
    assert run(_args(tmp_path, sink=str(sink))) == 2
    assert "already exists" in _one_line_error(capsys)


# ---- user errors: exit 2, one line, no traceback ----------------------------------------------------


def test_user_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    policy, sink = str(DEMO_POLICY), str(tmp_path / "o" / "r.jsonl")
    cases = [
        (["run", "--policy", policy, "--source", str(tmp_path / "missing.csv"), "--sink", sink,
          "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--no-profile"], "missing.csv"),
        (["run", "--policy", policy, "--source", str(tmp_path), "--sink", sink,
          "--quarantine-key-env", "RL_TEST_QKEY", "--quiet"], f"--source {tmp_path}: is a directory"),
        (["run", "--policy", policy, "--source", str(tmp_path / "fifo.csv"), "--sink", sink,
          "--quarantine-key-env", "RL_TEST_QKEY", "--quiet"], "fifo.csv: not a regular file"),
        (["run", "--policy", policy, "--source", "nope://bucket/x.csv", "--sink", sink], "--source"),
        (["run", "--policy", str(tmp_path / "nope.yaml"), "--source", "x.csv", "--sink", sink], "nope.yaml"),
        (["run", "--policy", str(tmp_path), "--source", "x.csv", "--sink", sink], "is a directory"),
        (["demo", "--out", "/dev/null/x", "--no-enclave", "--quiet"], "--out /dev/null/x"),
        (["demo", "--out", "/proc/rl-test", "--no-enclave", "--quiet"], "--out /proc/rl-test"),
        (["quarantine", "show", str(tmp_path), "--key-env", "RL_TEST_QKEY"], "is a directory"),
        (["quarantine", "show", str(tmp_path / "gone.jsonl"), "--key-env", "RL_TEST_QKEY"], "no such file"),
    ]
    os.mkfifo(tmp_path / "fifo.csv")
    garbage = {"text.jsonl": b"not json at all\n", "shape.jsonl": b'{"a": 1}\n', "list.jsonl": b"[1, 2]\n",
               "binary.jsonl": bytes(range(128, 256))}
    for name, data in garbage.items():
        (tmp_path / name).write_bytes(data)
        cases.append((["quarantine", "show", str(tmp_path / name), "--key-env", "RL_TEST_QKEY"],
                      "entry 1 is not a quarantine entry"))
    for argv, named in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if not ln.startswith(("WARNING:", "# decrypted"))]
        assert len(lines) == 1 and "Traceback" not in err, (argv, err)
        assert lines[0].startswith("redactline ") and named in lines[0], (argv, lines)


# ---- failure details: reachable with --log-level DEBUG, never a record value ------------------------


class _QuotingFn(beam.DoFn):
    """A step that fails on a record and quotes its value, as some libraries' exceptions do."""

    def process(self, record: Record):
        if record.fields.get("code") == PLANTED:
            raise ValueError(f"cannot convert {record.fields['code']!r} to int")
        yield record


class _FailingSource(beam.PTransform):
    def expand(self, pbegin):
        meta = RecordMeta("test://planted", "item 1", "DE")
        records = (pbegin | "Records" >> beam.Create([Record({"id": "1", "code": PLANTED}, meta)])
                   | "Quote" >> beam.ParDo(_QuotingFn()))
        return {"records": records, "rejected": pbegin | "None" >> beam.Create([])}


@pytest.fixture
def root_level():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def test_failure_details_are_at_debug_and_never_quote_a_value(tmp_path, monkeypatch, capsys, caplog,
                                                              root_level):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.DEBUG)
    sink = tmp_path / "out" / "r.jsonl"
    code = run(["--policy", str(DEMO_POLICY), "--source", "unused.jsonl", "--sink", str(sink),
                "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--no-profile", "--log-level", "DEBUG"],
               source=_FailingSource())
    err = capsys.readouterr().err
    assert code == 1
    # the failing step is named (a label of the run's own graph), the message withheld
    assert "pipeline error: ValueError in step 'Source/Quote' (details at DEBUG log level" in err
    details = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pipeline failed:")]
    assert details and "ValueError in step 'Source/Quote'" in details[0]
    assert "test_clean_exits.py:" in details[0]  # where it was raised: file:line in function
    manifest = (tmp_path / "out" / "r.manifest.json").read_text()
    everything = err + caplog.text + "\n".join(r.getMessage() for r in caplog.records) + manifest
    assert PLANTED not in everything
    assert "Traceback" not in err
    assert json.loads(manifest)["counts_status"] == "partial"
    assert _leftovers(tmp_path / "out") == []


def test_log_level_reaches_the_details_from_the_redactline_command(tmp_path, monkeypatch, capsys, caplog,
                                                                   root_level):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    _csv(tmp_path / "in.csv", 1)
    # the sink is a database that refuses the rows (no server on that port): a failed run
    argv = ["run", "--policy", str(DEMO_POLICY), "--source", str(tmp_path / "in.csv"),
            "--sink", "postgresql://nobody@127.0.0.1:1/none#t", "--manifest", str(tmp_path / "m.json"),
            "--held", str(tmp_path / "h.jsonl"), "--quarantine", str(tmp_path / "q.jsonl"),
            "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--no-profile", "--overwrite"]
    caplog.handler.setLevel(logging.DEBUG)  # the root logger's level, set by the command, decides
    assert cli_main(argv) == 1
    assert not [r for r in caplog.records if r.getMessage().startswith("pipeline failed:")]
    monkeypatch.setenv("REDACTLINE_LOG_LEVEL", "debug")
    assert cli_main(argv) == 1
    assert [r for r in caplog.records if r.getMessage().startswith("pipeline failed:")]
    caplog.clear()
    monkeypatch.delenv("REDACTLINE_LOG_LEVEL")
    logging.getLogger().setLevel(logging.WARNING)
    assert cli_main(["--log-level", "DEBUG", *argv]) == 1
    assert [r for r in caplog.records if r.getMessage().startswith("pipeline failed:")]
    capsys.readouterr()
    monkeypatch.setenv("REDACTLINE_LOG_LEVEL", "LOUD")
    assert cli_main(argv) == 2
    assert "REDACTLINE_LOG_LEVEL" in capsys.readouterr().err
