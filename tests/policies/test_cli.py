"""``redactline policy ...`` verbs as a CI job runs them: exit codes, messages, report formats."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from redactline.pipelines.cli import main

GOOD = """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: cli-test, version: 1.0.0}
transforms:
  entities: {PERSON: replace}
tests:
  - name: email is replaced
    text: "write to jane@example.com"
    expect: "write to <EMAIL_ADDRESS>"
  - name: plain text stays
    text: "the weather is mild"
    unchanged: true
"""


@pytest.fixture()
def good(tmp_path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_validate_ok_and_broken(tmp_path, good, capsys):
    assert main(["policy", "validate", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("PERSON: replace", "PERSON: shred"), encoding="utf-8")
    assert main(["policy", "validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:5:" in err and "transforms.entities.PERSON" in err


def test_policy_test_passes_and_fails_with_a_readable_diff(tmp_path, good, capsys):
    assert main(["policy", "test", str(good)]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
    failing = tmp_path / "failing.yaml"
    failing.write_text(GOOD.replace('"write to <EMAIL_ADDRESS>"', '"write to <EMAIL>"'), encoding="utf-8")
    assert main(["policy", "test", str(failing)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "-write to <EMAIL>" in out and "+write to <EMAIL_ADDRESS>" in out
    assert "1 passed, 1 failed" in out


def test_policy_test_formats_and_filter(tmp_path, good, capsys):
    assert main(["policy", "test", str(good), "--format", "json", "-k", "email*"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] == 1 and report["cases"][0]["name"] == "email is replaced"
    junit = tmp_path / "report.xml"
    assert main(["policy", "test", str(good), "--format", "junit", "-o", str(junit)]) == 0
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "0"
    assert main(["policy", "test", str(good), "-k", "no-such-case"]) == 1


def test_explain_prints_findings_without_original_values(good, capsys):
    assert main(["policy", "explain", str(good), "--text", "Jane Doe: jane@example.com"]) == 0
    out = capsys.readouterr().out
    assert "EMAIL_ADDRESS" in out and "EmailRecognizer" in out and "-> replace" in out
    assert "jane@example.com" not in out and "Jane Doe" not in out


def test_schema_prints_json_schema(capsys):
    assert main(["policy", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["properties"]["apiVersion"]


def test_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["policy", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("validate", "test", "diff", "explain", "schema"):
        assert verb in out
