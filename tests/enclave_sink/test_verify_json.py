"""``redactline enclave verify --format json``: every outcome is one JSON document with ``verdict`` and
``exit_code`` (PASS 0, FAIL 1, ERROR 2 for usage and file errors), the exit codes of text mode."""

from __future__ import annotations

import json

import pytest

from redactline.pipelines.cli import main
from tests.enclave_sink.test_verify_cli_tee import REPORT, VCEK


def verify_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["enclave", "verify", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_pass_fail_and_errors_are_json_with_the_exit_code(capsys, tmp_path):
    if not REPORT.is_file():
        pytest.fail(f"shared attestation vector not found: {REPORT}")
    code, doc = verify_json(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2023-01-01", "--allow-debug")
    assert code == 0 == doc["exit_code"] and doc["verdict"] == "PASS"
    code, doc = verify_json(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2023-01-01")
    assert code == 1 == doc["exit_code"] and doc["verdict"] == "FAIL" and doc["check"] == "debug"
    for argv, needle in [
        ([str(tmp_path / "missing.bin")], "cannot read"),
        ([str(REPORT), "--nonce", "zz"], "--nonce must be hex"),
        ([], "give an evidence file DOC or --manifest M"),
        (["--manifest", str(REPORT)], "is not JSON"),
    ]:
        code, doc = verify_json(capsys, *argv)
        assert code == 2 == doc["exit_code"] and doc["verdict"] == "ERROR" and needle in doc["error"], argv
