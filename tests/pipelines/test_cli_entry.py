"""The ``redactline`` entry point itself: ``--version``, ``python -m redactline``, a closed pipe."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from redactline.pipelines.cli import EXIT_BROKEN_PIPE, main


def test_version_comes_from_package_metadata(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"redactline {importlib.metadata.version('redactline')}"


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redactline", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("redactline ")


def test_closed_pipe_exits_quietly() -> None:
    # the reader closes its end before the command writes: every write fails with EPIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "redactline", "policy", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, EXIT_BROKEN_PIPE)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_beams_apitools_import_warning_is_dropped_and_nothing_else():
    import logging

    from redactline.pipelines.cli import configure_logging

    configure_logging("WARNING")
    records: list[str] = []
    root = logging.getLogger()
    handler = root.handlers[0]
    seen = [r for r in (logging.makeLogRecord({"name": "root", "msg": m, "levelno": logging.WARNING})
                        for m in ("apitools not found, and bigquery client libraries are not available",
                                  "No semi_persistent_directory found:  User registered objects",
                                  "something else")) if root.filter(r) and handler.filter(r)]
    records.extend(str(r.msg) for r in seen)
    assert records == ["something else"]


def test_importing_a_beam_module_directly_prints_no_apitools_notice():
    """``python -m redactline.pipelines.run`` imports Beam before it configures logging: the notice is
    dropped by the root logger's filter, set when the redactline package is imported."""
    proc = subprocess.run([sys.executable, "-c", "import redactline.pipelines.runners"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "apitools" not in proc.stderr
