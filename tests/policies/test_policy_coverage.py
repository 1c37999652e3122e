"""``policy test --coverage`` / ``--fail-under`` and the ``expect_miss`` marker of inline cases."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from redactline.pipelines.cli import main

POLICY = """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: cov, version: 1.0.0}
detection:
  use_predefined: false
  recognizers:
    - name: ticket_ids
      supported_entity: TICKET_ID
      patterns: [{name: t, regex: 'TCK-\\d{6}', score: 0.9}]
    - name: badge_ids
      supported_entity: BADGE_ID
      patterns: [{name: b, regex: 'BDG-\\d{4}', score: 0.9}]
transforms:
  entities: {TICKET_ID: redact, BADGE_ID: redact}
  fields: {customer.note: redact, 'items[*].sku': keep, unused: drop_field}
tests:
  - name: ticket in text
    text: "see TCK-123456"
    expect: "see "
  - name: record
    record: {customer: {note: "x"}, items: [{sku: "A1"}]}
    must_not_contain: ["x"]
"""

MISS_CASES = """
  - name: spaced tickets are a known gap
    text: "see TCK 123456"
    expect_entities: [TICKET_ID]
    expect_miss: "the pattern wants a dash"
  - name: closed gap
    text: "see TCK-654321"
    expect_entities: [TICKET_ID]
    expect_miss: "was missed before 1.1"
"""


@pytest.fixture()
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "cov.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def test_coverage_text_names_what_was_not_exercised(policy: Path, capsys) -> None:
    assert main(["policy", "test", "--coverage", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "2 passed, 0 failed" in out
    # 7 items (2 recognizers, 2 entity types, 3 field rules); reached: ticket_ids, TICKET_ID, 2 fields
    assert f"coverage {policy}: 4/7 (57.1%)" in out
    assert "recognizers: 1/2; not exercised: badge_ids" in out
    assert "entity types: 1/2; not exercised: BADGE_ID" in out
    assert "field rules: 2/3; not exercised: unused" in out


def test_coverage_json_and_fail_under(policy: Path, capsys) -> None:
    assert main(["policy", "test", "--coverage", "--format", "json", str(policy)]) == 0
    payload = json.loads(capsys.readouterr().out)
    (cov,) = payload["coverage"]
    assert (cov["covered"], cov["total"], cov["percent"]) == (4, 7, 57.1)
    assert cov["recognizers"] == {"covered": ["ticket_ids"], "missed": ["badge_ids"]}
    assert cov["fields"]["covered"] == ["customer.note", "items[*].sku"]
    assert main(["policy", "test", "--fail-under", "50", str(policy)]) == 0
    capsys.readouterr()
    assert main(["policy", "test", "--fail-under", "60", str(policy)]) == 1
    assert "is 57.1%, under 60%" in capsys.readouterr().err


def test_fail_under_message_and_junit_coverage_on_stderr(policy: Path, capsys) -> None:
    assert main(["policy", "test", "--format", "junit", "--fail-under", "90", str(policy)]) == 1
    captured = capsys.readouterr()
    ElementTree.fromstring(captured.out)  # stdout stays valid JUnit XML
    assert f"coverage {policy}: 4/7" in captured.err
    assert f"FAIL: coverage of {policy} is 57.1%, under 90%" in captured.err


def test_without_coverage_flag_no_coverage(policy: Path, capsys) -> None:
    assert main(["policy", "test", "--format", "json", str(policy)]) == 0
    assert "coverage" not in json.loads(capsys.readouterr().out)


def test_expected_miss_does_not_fail_and_closed_gap_is_reported(policy: Path, capsys) -> None:
    policy.write_text(POLICY + MISS_CASES, encoding="utf-8")
    assert main(["policy", "test", str(policy)]) == 0
    out = capsys.readouterr().out
    assert f"XMISS  {policy} :: spaced tickets are a known gap" in out
    assert "(expected miss: the pattern wants a dash)" in out
    assert f"XPASS  {policy} :: closed gap" in out
    assert "unexpectedly passing: was missed before 1.1; the gap is closed: remove expect_miss" in out
    assert "4 passed, 0 failed, 1 expected miss, 1 unexpectedly passing" in out

    assert main(["policy", "test", "--format", "json", str(policy)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["expected_misses"], payload["unexpectedly_passing"], payload["failed"]) == (1, 1, 0)
    outcomes = {c["name"]: c["outcome"] for c in payload["cases"]}
    assert outcomes["closed gap"] == "unexpectedly passing"
    assert outcomes["spaced tickets are a known gap"] == "expected miss"

    assert main(["policy", "test", "--format", "junit", str(policy)]) == 0
    suite = ElementTree.fromstring(capsys.readouterr().out).find("testsuite")
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["spaced tickets are a known gap"]
    assert suite.get("failures") == "0"


def test_expect_miss_needs_a_reason(policy: Path, capsys) -> None:
    policy.write_text(POLICY + MISS_CASES.replace('"the pattern wants a dash"', '""'), encoding="utf-8")
    assert main(["policy", "validate", "--no-keys", str(policy)]) == 1
    assert "tests[2].expect_miss" in capsys.readouterr().err
