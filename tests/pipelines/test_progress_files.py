"""Live counts from worker processes through the run's progress directory (pipelines/progress_files.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from redactline.pipelines import progress_files
from redactline.pipelines.progress import LINE_METRICS, Progress
from redactline.pipelines.run import run
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record

# a worker process: counts published often (throttled to one write a second), then a final forced write
_WRITER = """
import sys
from redactline.pipelines import progress_files
base = int(sys.argv[1])
for i in range(1, 200):
    progress_files.publish(lambda: {"read": base * i, "redacted": i, "delivered": 1, "held": 0,
                                    "quarantined": 2})
progress_files.publish(lambda: {"read": base * 200, "redacted": 200, "delivered": 1, "held": 0,
                                "quarantined": 2}, force=True)
"""


def _write_in_process(directory: Path, base: int) -> None:
    env = {**os.environ, progress_files.DIR_ENV: str(directory)}
    subprocess.run([sys.executable, "-c", _WRITER, str(base)], env=env, check=True, timeout=30)


def test_two_worker_processes_add_up_and_broken_files_are_skipped(tmp_path):
    assert progress_files.total(str(tmp_path), LINE_METRICS) is None  # no file yet: nothing to show
    _write_in_process(tmp_path, 3)
    _write_in_process(tmp_path, 5)
    written = sorted(tmp_path.glob("*.json"))
    assert len(written) == 2 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    (tmp_path / "1.json").write_text('{"read": 1000, "redac')  # half written
    (tmp_path / "2.json").write_bytes(b"\xff\x00garbage")
    (tmp_path / "3.json").write_text('[1, 2, 3]')
    (tmp_path / "4.json").write_text('{"read": "9", "redacted": 9}')
    (tmp_path / "5.json").write_text('{"read": true}')
    (tmp_path / "6.json.7.part").write_text('{"read": 1000}')  # a write in progress
    assert progress_files.total(str(tmp_path), LINE_METRICS) == {
        "read": 3 * 200 + 5 * 200, "redacted": 400, "delivered": 2, "held": 0, "quarantined": 4}


def test_the_run_dir_is_private_named_for_the_workers_and_removed_on_failure():
    with pytest.raises(KeyboardInterrupt), progress_files.run_dir() as path:
        assert path is not None and os.environ[progress_files.DIR_ENV] == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        progress_files.write(path, {"read": 1})
        raise KeyboardInterrupt
    assert not os.path.exists(path) and progress_files.DIR_ENV not in os.environ
    with progress_files.run_dir(enabled=False) as nothing:
        assert nothing is None and progress_files.DIR_ENV not in os.environ


def test_the_live_line_adds_up_the_files_and_the_final_line_does_not(tmp_path):
    counts = {"read": 7, "redacted": 5, "delivered": 4, "held": 1, "quarantined": 2}
    progress_files.write(str(tmp_path), counts)
    shown = Progress(enabled=False, counts_visible=False, progress_dir=str(tmp_path))
    assert "7 read, 5 redacted, 4 delivered, 1 held, 2 quarantined" in shown.line()
    assert "running in worker processes" in shown.line(final=True)  # no metrics here: elapsed time
    remote = Progress(enabled=False, counts_visible=False).line()  # no dir: e.g. --dask_client_address
    assert "remote workers (no live counts here)" in remote


_LINE = re.compile(r"redactline: (\d+) read, (\d+) redacted, (\d+) delivered")


def test_a_multi_process_run_shows_live_counts_and_removes_its_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", "11" * 32)
    monkeypatch.setenv("REDACTLINE_PROGRESS_SECONDS", "0.1")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(person_record(0)))
        writer.writeheader()
        writer.writerows(person_record(i) for i in range(300))
    sink = str(tmp_path / "out" / "r.jsonl")
    code = run(["--policy", str(DEMO_POLICY), "--source", str(src), "--sink", sink,
                "--quarantine-key-env", "RL_TEST_QKEY", "--direct_num_workers", "2",
                "--direct_running_mode", "multi_processing"])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [m for m in map(_LINE.search, err.splitlines()) if m]
    *live, final = [tuple(int(n) for n in m.groups()) for m in lines]
    assert any(read > 0 and redacted > 0 for read, redacted, _ in live), err
    counts = json.loads((tmp_path / "out" / "r.manifest.json").read_text())["counts"]
    assert final[0] == counts["read"] == 300  # the final line: the job's metrics, as before
    assert list(temp.glob("redactline-progress-*")) == []
    assert progress_files.DIR_ENV not in os.environ
