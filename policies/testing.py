"""Run a policy's inline golden cases (``tests:``), and report them as text, JSON or JUnit XML."""

from __future__ import annotations

import difflib
import fnmatch
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree

from .engine import RedactionEngine
from .lineage import strip_lineage
from .policy import Policy
from .schema import TestCase


@dataclass
class CaseResult:
    policy: str
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _diff(expected: Any, actual: Any) -> str:
    lines = difflib.unified_diff(
        _render(expected).splitlines(), _render(actual).splitlines(), "expected", "actual", lineterm=""
    )
    return "\n".join(lines)


def run_case(engine: RedactionEngine, case: TestCase) -> list[str]:
    """Problems found with one case (empty when it passes)."""
    problems: list[str] = []
    if case.text is not None:
        result = engine.redact_text(case.text)
        original: Any = case.text
        output: Any = result.text
    else:
        record_result = engine.redact_record(case.record or {})
        original, output = case.record, strip_lineage(record_result.record)
        result = record_result
    found = Counter(f.entity_type for f in result.findings)
    if case.expect is not None and output != case.expect:
        problems.append("output differs from expect:\n" + _diff(case.expect, output))
    if case.unchanged and output != original:
        problems.append("input must stay unchanged but was changed:\n" + _diff(original, output))
    if case.expect_entities is not None:
        missing = Counter(case.expect_entities) - found
        if missing:
            expected, actual = sorted(missing.elements()), sorted(found.elements())
            problems.append(f"expected entities not found: {expected}; found: {actual}")
    rendered = _render(output)
    for needle in case.must_not_contain:
        if needle in rendered:
            problems.append(f"output still contains {needle!r}")
    return problems


def run_policy_tests(
    policy: Policy, pattern: str | None = None, engine: RedactionEngine | None = None
) -> list[CaseResult]:
    engine = engine or policy.engine()
    results = []
    for case in policy.document.tests:
        if pattern and not (fnmatch.fnmatch(case.name, pattern) or pattern in case.name):
            continue
        start = time.perf_counter()
        problems = run_case(engine, case)
        results.append(
            CaseResult(
                str(policy.path), case.name, not problems, problems, round(time.perf_counter() - start, 4)
            )
        )
    return results


def format_text(results: list[CaseResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.policy} :: {r.name}")
        for problem in r.problems:
            lines.extend("      " + line for line in problem.splitlines())
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def format_json(results: list[CaseResult]) -> str:
    failed = sum(not r.passed for r in results)
    payload = {"passed": len(results) - failed, "failed": failed, "cases": [asdict(r) for r in results]}
    return json.dumps(payload, indent=2, ensure_ascii=False)


def format_junit(results: list[CaseResult]) -> str:
    suites = ElementTree.Element("testsuites")
    by_policy: dict[str, list[CaseResult]] = {}
    for r in results:
        by_policy.setdefault(r.policy, []).append(r)
    for policy, cases in by_policy.items():
        suite = ElementTree.SubElement(
            suites,
            "testsuite",
            name=policy,
            tests=str(len(cases)),
            failures=str(sum(not c.passed for c in cases)),
        )
        for c in cases:
            case = ElementTree.SubElement(
                suite, "testcase", classname=policy, name=c.name, time=str(c.seconds)
            )
            if not c.passed:
                failure = ElementTree.SubElement(case, "failure", message=c.problems[0].splitlines()[0])
                failure.text = "\n\n".join(c.problems)
    return ElementTree.tostring(suites, encoding="unicode")
