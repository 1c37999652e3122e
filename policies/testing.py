"""Run a policy's inline golden cases (``tests:``), and report them as text, JSON or JUnit XML.

A policy that cannot be loaded is an *errored* case in every report (never silently absent). With
throwaway keys (:func:`throwaway_keys`, ``policy test --test-keys``) cases run without the real key
material; an ``expect`` whose output depends on key values (hash digests, tokens, shifted dates,
field-name placeholders) is then compared by shape (:func:`output_shape`) and says so.

A case with ``expect_miss: REASON`` documents a known gap: its failure is an *expected miss* (not a
failure) and, once the gap closes, it is reported as *unexpectedly passing* (remove the marker).
:class:`Coverage` records which of the policy's recognizers, entity types and field rules the cases
exercised (``policy test --coverage``, ``--fail-under``).
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
    #: ``expect_miss`` case: "expected miss" (it failed as documented) or "unexpectedly passing"
    outcome: str | None = None


EXPECTED_MISS, UNEXPECTED_PASS = "expected miss", "unexpectedly passing"


@dataclass
class Coverage:
    """What one policy's cases exercised: each configured recognizer (found something), entity type
    (found) and field rule (its path held a value in a record case) maps to whether it was reached."""

    policy: str
    recognizers: dict[str, bool] = field(default_factory=dict)
    entities: dict[str, bool] = field(default_factory=dict)
    fields: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, policy: Policy) -> Coverage:
        """The items of ``policy`` to cover, none reached yet."""
        detection, transforms = policy.document.detection, policy.document.transforms
        recognizers = [r.name for r in detection.recognizers if r.enabled]
        entities = set(transforms.entities) | set(detection.entities or ())
        entities |= {r.supported_entity for r in detection.recognizers if r.enabled and r.supported_entity}
        return cls(
            str(policy.path),
            dict.fromkeys(recognizers, False),
            dict.fromkeys(sorted(entities), False),
            dict.fromkeys(transforms.fields, False),
        )

    def record(self, findings: Any, record: dict[str, Any] | None) -> None:
        """Mark what one case reached: the recognizers and entity types of its findings, and the field
        rules whose path holds a value in its record."""
        for finding in findings:
            if finding.recognizer in self.recognizers:
                self.recognizers[finding.recognizer] = True
            if finding.entity_type in self.entities:
                self.entities[finding.entity_type] = True
        if record is not None:
            for path in self.fields:
                if not self.fields[path] and _has_path(record, path):
                    self.fields[path] = True

    @property
    def total(self) -> int:
        return len(self.recognizers) + len(self.entities) + len(self.fields)

    @property
    def covered(self) -> int:
        return sum(self.recognizers.values()) + sum(self.entities.values()) + sum(self.fields.values())

    @property
    def percent(self) -> float:
        """Share of items reached (100 when the policy configures nothing to cover)."""
        return 100.0 if not self.total else round(100.0 * self.covered / self.total, 1)

    def to_dict(self) -> dict[str, Any]:
        groups = {"recognizers": self.recognizers, "entities": self.entities, "fields": self.fields}
        return {
            "policy": self.policy,
            "covered": self.covered,
            "total": self.total,
            "percent": self.percent,
            **{
                name: {"covered": sorted(k for k, v in items.items() if v),
                       "missed": sorted(k for k, v in items.items() if not v)}
                for name, items in groups.items()
            },
        }


def _has_path(value: Any, path: str) -> bool:
    """Whether ``value`` holds something at the field path ``path`` (``a.b``, ``items[*].name``)."""
    nodes = [value]
    for part in path.split("."):
        many = part.endswith("[*]")
        key = part.removesuffix("[*]")
        nodes = [node[key] for node in nodes if isinstance(node, dict) and key in node]
        if many:
            nodes = [item for node in nodes if isinstance(node, list) for item in node]
    return bool(nodes)


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
    engine: RedactionEngine,
    case: TestCase,
    by_shape: bool = False,
    notes: list[str] | None = None,
    coverage: Coverage | None = None,
) -> list[str]:
    """Problems found with one case (empty when it passes). ``by_shape``: an ``expect`` that differs
    passes when it has the same :func:`output_shape` (outputs under throwaway keys; noted in ``notes``).
    ``coverage``: marks what the case reached."""
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
    if coverage is not None:
        coverage.record(result.findings, case.record)
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
    coverage: Coverage | None = None,
) -> list[CaseResult]:
    """Run the cases of ``policy`` (``test_keys``: under :func:`throwaway_keys`, outputs that depend on
    key values compared by shape; ``coverage``: filled with what the cases reached)."""
    if test_keys:
        policy.keys = throwaway_keys(policy.document)
    engine = engine or policy.engine()
    results = []
    for case in policy.document.tests:
        if pattern and not (fnmatch.fnmatch(case.name, pattern) or pattern in case.name):
            continue
        start = time.perf_counter()
        notes: list[str] = []
        problems = run_case(
            engine, case, by_shape=test_keys and bool(policy.keys), notes=notes, coverage=coverage
        )
        outcome = None
        if case.expect_miss is not None:
            # a documented gap: its failure is expected; a pass means the gap closed
            outcome = EXPECTED_MISS if problems else UNEXPECTED_PASS
            notes.insert(0, f"{outcome}: {case.expect_miss}")
            if outcome == UNEXPECTED_PASS:
                notes.append("the gap is closed: remove expect_miss")
        results.append(
            CaseResult(
                str(policy.path),
                case.name,
                not problems or outcome == EXPECTED_MISS,
                problems,
                round(time.perf_counter() - start, 4),
                note="; ".join(notes) or None,
                outcome=outcome,
            )
        )
    return results


def _counts(results: list[CaseResult]) -> tuple[int, int, int]:
    errors = sum(r.errored for r in results)
    failed = sum(not r.passed and not r.errored for r in results)
    return len(results) - failed - errors, failed, errors


_STATUS = {EXPECTED_MISS: "XMISS", UNEXPECTED_PASS: "XPASS"}


def _outcomes(results: list[CaseResult]) -> tuple[int, int]:
    """(expected misses, unexpectedly passing): both included in the passed count."""
    return (
        sum(r.outcome == EXPECTED_MISS for r in results),
        sum(r.outcome == UNEXPECTED_PASS for r in results),
    )


def format_text(results: list[CaseResult], coverage: list[Coverage] | None = None) -> str:
    lines = []
    for r in results:
        status = "ERROR" if r.errored else _STATUS.get(r.outcome or "") or ("PASS" if r.passed else "FAIL")
        lines.append(f"{status}  {r.policy} :: {r.name}")
        if r.note:
            lines.append(f"      ({r.note})")
        for problem in r.problems:
            lines.extend("      " + line for line in problem.splitlines())
    passed, failed, errors = _counts(results)
    summary = f"{passed} passed, {failed} failed"
    if errors:
        summary += f", {errors} error{'' if errors == 1 else 's'}"
    misses, xpasses = _outcomes(results)
    if misses:
        summary += f", {misses} expected miss{'' if misses == 1 else 'es'}"
    if xpasses:
        summary += f", {xpasses} unexpectedly passing"
    lines.append(summary)
    if not results:
        lines.append("no test cases ran")
    for cov in coverage or ():
        lines.append(format_coverage(cov))
    return "\n".join(lines)


def format_coverage(cov: Coverage) -> str:
    """Text lines of one policy's coverage: the totals, then each group with what was missed."""
    lines = [f"coverage {cov.policy}: {cov.covered}/{cov.total} ({cov.percent:g}%)"]
    groups = (("recognizers", cov.recognizers), ("entity types", cov.entities), ("field rules", cov.fields))
    for label, items in groups:
        if items:
            missed = sorted(k for k, v in items.items() if not v)
            line = f"  {label}: {sum(items.values())}/{len(items)}"
            lines.append(line + (f"; not exercised: {', '.join(missed)}" if missed else ""))
    return "\n".join(lines)


def format_json(results: list[CaseResult], coverage: list[Coverage] | None = None) -> str:
    passed, failed, errors = _counts(results)
    misses, xpasses = _outcomes(results)
    payload: dict[str, Any] = {
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "expected_misses": misses,
        "unexpectedly_passing": xpasses,
        "cases": [asdict(r) for r in results],
    }
    if coverage is not None:
        payload["coverage"] = [cov.to_dict() for cov in coverage]
    return json.dumps(payload, indent=2, ensure_ascii=False)


def format_junit(results: list[CaseResult], coverage: list[Coverage] | None = None) -> str:
    """JUnit XML (coverage is not part of JUnit: ``policy test`` prints it to stderr then); an expected
    miss is a skipped case."""
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
            if c.outcome == EXPECTED_MISS:
                ElementTree.SubElement(case, "skipped", message=c.note or EXPECTED_MISS)
            elif not c.passed:
                tag = "error" if c.errored else "failure"
                element = ElementTree.SubElement(case, tag, message=c.problems[0].splitlines()[0])
                element.text = "\n\n".join(c.problems)
            if c.note:
                ElementTree.SubElement(case, "system-out").text = c.note
    return ElementTree.tostring(suites, encoding="unicode")
