"""``--format json`` of ``policy validate`` and ``policy diff``: one JSON document on stdout, stable keys,
the exit codes of text mode, errors in the document too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redactline.pipelines.cli import main

POLICY = """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: json-test, version: VERSION}
transforms:
  entities: {PERSON: OPERATOR, EMAIL_ADDRESS: replace}
"""


def write(tmp_path: Path, name: str, version: str = "1.0.0", operator: str = "replace") -> Path:
    path = tmp_path / name
    path.write_text(POLICY.replace("VERSION", version).replace("OPERATOR", operator), encoding="utf-8")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)  # the whole of stdout is one document


def test_validate_json_valid_invalid_and_refused(tmp_path, capsys):
    good = write(tmp_path, "good.yaml")
    code, doc = run_json(capsys, "policy", "validate", str(good))
    assert code == 0 and doc["ok"] is True and doc["exit_code"] == 0
    [entry] = doc["policies"]
    assert entry["valid"] is True and entry["name"] == "json-test" and len(entry["sha256"]) == 64
    assert set(entry) == {"file", "valid", "errors", "name", "version", "sha256", "document_sha256"}

    bad = write(tmp_path, "bad.yaml", operator="shred")
    code, doc = run_json(capsys, "policy", "validate", str(good), str(bad))
    assert code == 1 and doc["ok"] is False and doc["exit_code"] == 1
    assert [p["valid"] for p in doc["policies"]] == [True, False]
    assert "bad.yaml" in doc["policies"][1]["errors"][0]

    missing = str(tmp_path / "missing.yaml")
    text_code = main(["policy", "validate", missing])
    capsys.readouterr()
    code, doc = run_json(capsys, "policy", "validate", missing)
    assert code == text_code == doc["exit_code"] != 0 and "missing.yaml" in doc["policies"][0]["errors"][0]


def test_diff_json_flags_loosening_with_the_same_exit_codes(tmp_path, capsys):
    old = write(tmp_path, "old.yaml")
    new = write(tmp_path, "new.yaml", version="1.1.0", operator="keep")
    code, doc = run_json(capsys, "policy", "diff", str(old), str(new))
    assert code == 0 and doc["loosening"] is True and doc["errors"] == []
    [pair] = doc["policies"]
    assert pair["old"]["version"] == "1.0.0" and pair["current"]["version"] == "1.1.0"
    change = next(c for c in pair["changes"] if c["subject"] == "PERSON")
    assert change["effect"] == "loosening" and change["after"] == "keep"
    assert set(change) == {"section", "subject", "before", "after", "effect", "note"}

    code, doc = run_json(capsys, "policy", "diff", "--fail-on-loosening", str(old), str(new))
    assert code == 1 and doc["ok"] is False and doc["loosening"] is True

    code, doc = run_json(capsys, "policy", "diff", str(old))
    assert code == 2 and doc["errors"] == ["policy diff: give OLD NEW, or --base REF FILE..."]

    broken = write(tmp_path, "broken.yaml", operator="shred")
    code, doc = run_json(capsys, "policy", "diff", str(old), str(broken))
    assert code == 1 and "broken.yaml" in doc["errors"][0]
