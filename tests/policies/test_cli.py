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


KEYED = """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: keyed, version: 1.0.0}
keys: {k: {env: RL_CLI_SECRET_KEY}}
transforms:
  entities: {EMAIL_ADDRESS: {type: hash, key: k}}
tests:
  - name: email is hashed
    text: "write to jane@example.com"
    expect: "write to <EMAIL_ADDRESS:EXPECTED>"
  - name: the address never survives
    text: "write to jane@example.com"
    must_not_contain: ["jane@example.com"]
"""


@pytest.fixture()
def keyed(tmp_path, monkeypatch) -> Path:
    """A policy whose expect was written under the real key (absent here, as in CI)."""
    from redactline.policies import load_policy

    monkeypatch.setenv("RL_CLI_SECRET_KEY", "cd" * 32)
    path = tmp_path / "keyed.yaml"
    path.write_text(KEYED.replace("EXPECTED", "0" * 16), encoding="utf-8")
    real = load_policy(path).engine().redact_text("write to jane@example.com").text
    path.write_text(KEYED.replace("write to <EMAIL_ADDRESS:EXPECTED>", real), encoding="utf-8")
    monkeypatch.delenv("RL_CLI_SECRET_KEY")
    return path


def test_policy_test_without_secrets_errors_clearly_or_runs_with_test_keys(keyed, capsys):
    assert main(["policy", "test", str(keyed)]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "0 passed, 0 failed, 1 error" in out and "--test-keys" in out
    assert main(["policy", "test", "--test-keys", str(keyed)]) == 0
    out = capsys.readouterr().out
    assert "2 passed, 0 failed" in out and "compared by shape" in out
    broken = keyed.read_text(encoding="utf-8").replace('must_not_contain: ["jane@example.com"]',
                                                       'must_not_contain: ["write"]')
    keyed.write_text(broken, encoding="utf-8")
    assert main(["policy", "test", "--test-keys", str(keyed)]) == 1  # key-independent checks still bite


def test_test_keys_shape_does_not_hide_a_leak(tmp_path, capsys):
    # under test keys, an expect with a digest still fails when the output shape differs
    path = tmp_path / "p.yaml"
    path.write_text(KEYED.replace("EXPECTED", "0123456789abcdef").replace(
        '"write to <EMAIL_ADDRESS:0123456789abcdef>"', '"mail <EMAIL_ADDRESS:0123456789abcdef>"'),
        encoding="utf-8")
    assert main(["policy", "test", "--test-keys", str(path)]) == 1


def test_junit_reports_a_policy_that_fails_to_load_as_an_error(tmp_path, good, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("PERSON: replace", "PERSON: shred"), encoding="utf-8")
    junit = tmp_path / "report.xml"
    assert main(["policy", "test", str(good), str(bad), "--format", "junit", "-o", str(junit)]) == 1
    suites = {s.get("name"): s for s in ElementTree.parse(junit).getroot().iter("testsuite")}
    broken = suites[str(bad)]
    assert broken.get("errors") == "1" and broken.get("tests") == "1"
    error = broken.find("testcase/error")
    assert error is not None and "transforms.entities.PERSON" in (error.text or "")
    assert suites[str(good)].get("errors") == "0"
    assert main(["policy", "test", str(bad), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"] == 1
