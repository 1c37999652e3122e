"""Run a policy's inline golden cases (``tests:``), and report them as text, JSON or JUnit XML.

A policy that cannot be loaded is an *errored* case in every report (never silently absent). With
throwaway keys (:func:`throwaway_keys`, ``policy test --test-keys``) cases run without the real key
material; an ``expect`` whose output depends on key values (hash digests, tokens, shifted dates,
field-name placeholders) is then compared by shape (:func:`output_shape`) and says so.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree

from .engine import RedactionEngine
from .keys import Key
from .lineage import strip_lineage
from .policy import Policy
from .schema import PolicyDocument, TestCase

_TEST_KEY_LABEL = b"redactline throwaway test key v1:"
_HEX_RUN = re.compile(r"[0-9a-f]{8,}")
_TOKEN = re.compile(r"_TOK\([A-Z2-7=]+\)")
_MONTH = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")


@dataclass
class CaseResult:
    policy: str
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: the policy could not be loaded (``problems`` holds why); reported as an error, not a failure
    errored: bool = False
    #: how the case was checked when not exactly (e.g. by shape under throwaway keys)
    note: str | None = None


def load_error(policy: str, message: str) -> CaseResult:
    """The result standing for a policy file that could not be loaded."""
    return CaseResult(policy, "(policy could not be loaded)", False, [message], errored=True)


def throwaway_keys(document: PolicyDocument) -> dict[str, Key]:
    """A fixed, public key per declared key name: cases run without secrets (never use for data)."""
    return {
        name: Key(name, hashlib.sha256(_TEST_KEY_LABEL + name.encode("utf-8")).digest())
        for name in document.keys
    }


def output_shape(value: Any) -> str:
    """``value`` rendered with key-dependent parts abstracted: hex runs (digests, placeholders), tokens,
    month names and digits (shifted dates)."""
    text = _HEX_RUN.sub("#", _render(value))
    text = _TOKEN.sub("_TOK(#)", text)
    return _DIGITS.sub("9", _MONTH.sub("<month>", text))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _diff(expected: Any, actual: Any) -> str:
    lines = difflib.unified_diff(
        _render(expected).splitlines(), _render(actual).splitlines(), "expected", "actual", lineterm=""
    )
    return "\n".join(lines)


def run_case(
    engine: RedactionEngine, case: TestCase, by_shape: bool = False, notes: list[str] | None = None
) -> list[str]:
    """Problems found with one case (empty when it passes). ``by_shape``: an ``expect`` that differs
    passes when it has the same :func:`output_shape` (outputs under throwaway keys; noted in ``notes``)."""
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
        if by_shape and output_shape(output) == output_shape(case.expect):
            if notes is not None:
                notes.append("expect compared by shape: the output depends on key values (throwaway keys)")
        else:
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
    policy: Policy,
    pattern: str | None = None,
    engine: RedactionEngine | None = None,
    *,
    test_keys: bool = False,
) -> list[CaseResult]:
    """Run the cases of ``policy`` (``test_keys``: under :func:`throwaway_keys`, outputs that depend on
    key values compared by shape)."""
    if test_keys:
        policy.keys = throwaway_keys(policy.document)
    engine = engine or policy.engine()
    results = []
    for case in policy.document.tests:
        if pattern and not (fnmatch.fnmatch(case.name, pattern) or pattern in case.name):
            continue
        start = time.perf_counter()
        notes: list[str] = []
        problems = run_case(engine, case, by_shape=test_keys and bool(policy.keys), notes=notes)
        results.append(
            CaseResult(
                str(policy.path),
                case.name,
                not problems,
                problems,
                round(time.perf_counter() - start, 4),
                note="; ".join(notes) or None,
            )
        )
    return results


def _counts(results: list[CaseResult]) -> tuple[int, int, int]:
    errors = sum(r.errored for r in results)
    failed = sum(not r.passed and not r.errored for r in results)
    return len(results) - failed - errors, failed, errors


def format_text(results: list[CaseResult]) -> str:
    lines = []
    for r in results:
        status = "ERROR" if r.errored else "PASS" if r.passed else "FAIL"
        lines.append(f"{status}  {r.policy} :: {r.name}")
        if r.note:
            lines.append(f"      ({r.note})")
        for problem in r.problems:
            lines.extend("      " + line for line in problem.splitlines())
    passed, failed, errors = _counts(results)
    summary = f"{passed} passed, {failed} failed"
    if errors:
        summary += f", {errors} error{'' if errors == 1 else 's'}"
    lines.append(summary)
    if not results:
        lines.append("no test cases ran")
    return "\n".join(lines)


def format_json(results: list[CaseResult]) -> str:
    passed, failed, errors = _counts(results)
    payload = {"passed": passed, "failed": failed, "errors": errors, "cases": [asdict(r) for r in results]}
    return json.dumps(payload, indent=2, ensure_ascii=False)


def format_junit(results: list[CaseResult]) -> str:
    suites = ElementTree.Element("testsuites")
    by_policy: dict[str, list[CaseResult]] = {}
    for r in results:
        by_policy.setdefault(r.policy, []).append(r)
    for policy, cases in by_policy.items():
        _, failed, errors = _counts(cases)
        suite = ElementTree.SubElement(
            suites,
            "testsuite",
            name=policy,
            tests=str(len(cases)),
            failures=str(failed),
            errors=str(errors),
        )
        for c in cases:
            case = ElementTree.SubElement(
                suite, "testcase", classname=policy, name=c.name, time=str(c.seconds)
            )
            if not c.passed:
                tag = "error" if c.errored else "failure"
                element = ElementTree.SubElement(case, tag, message=c.problems[0].splitlines()[0])
                element.text = "\n\n".join(c.problems)
            if c.note:
                ElementTree.SubElement(case, "system-out").text = c.note
    return ElementTree.tostring(suites, encoding="unicode")
