"""UK NHS numbers (issue #15): a valid number with an NHS or health word before it is a certain UK_NHS
finding; a phone number is not one; a bare valid number is still redacted (fail closed), at a score an
overlapping phone finding beats."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from redactline.policies import checksums as cs
from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine

ROOT = Path(__file__).resolve().parents[2]
GENERAL_PII = ROOT / "policies" / "library" / "general-pii.yaml"
DEMO_POLICY = ROOT / "pipelines" / "demo" / "demo-policy.yaml"

# 943 476 5919 is the NHS's own example number; 212-555-1020 is a US phone number (the demo's
# customer 20) whose last 10 digits pass the same check.
NHS = "943 476 5919"
PHONE = "212-555-1020"


@pytest.fixture(scope="module")
def engine() -> RedactionEngine:
    return load_policy(GENERAL_PII, environ={}).engine()


def test_nhs_check_digit() -> None:
    assert cs.is_valid_nhs(NHS) and cs.is_valid_nhs("9434765919") and cs.is_valid_nhs(PHONE)
    assert not cs.is_valid_nhs("9434765918") and not cs.is_valid_nhs("0000000000")
    # 050000000: weighted sum 5 * 9 = 45, 11 - 45 % 11 = 10, a check digit never issued
    assert not any(cs.is_valid_nhs(f"050000000{d}") for d in "0123456789")


@pytest.mark.parametrize(
    "text",
    [
        f"NHS number {NHS}",
        "Patient NHS no: 9434765919, seen at the clinic.",
        "Her NHS number is 943-476-5919.",
    ],
)
def test_nhs_number_with_context_is_found(engine: RedactionEngine, text: str) -> None:
    result = engine.redact_text(text)
    nhs = [f for f in result.findings if f.entity_type == "UK_NHS"]
    assert len(nhs) == 1 and nhs[0].score == 1.0
    assert "<UK_NHS>" in result.text and "5919" not in result.text


def test_bare_valid_numbers_are_still_redacted(engine: RedactionEngine) -> None:
    # no NHS or health word: each may be an NHS number all the same, so none leaves in clear (a phone
    # finding may take the span: any label, as long as the digits are gone)
    rng = random.Random(1)
    numbers: list[str] = []
    while len(numbers) < 100:
        candidate = str(rng.randrange(4_000_000_000, 5_000_000_000))
        if cs.is_valid_nhs(candidate):
            numbers.append(candidate)
    leaked = []
    for number in numbers:
        spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
        text = engine.redact_text(f"ref {number} received").text
        record = engine.redact_record({"value": number, "other": spaced}).record
        outputs = ((number, text), (number, record["value"]), (spaced, record["other"]))
        leaked += [form for form, out in outputs if form in str(out)]
    assert leaked == []


@pytest.mark.parametrize(
    "text",
    [
        f"Customer Jan Martin called from +1 {PHONE} about a late delivery.",
        f"Reach the NHS desk on +44 {NHS} today.",  # after a calling code: a phone number
        f"Patient mobile {PHONE}",  # a health word, but a phone word too
        "Patient line 1 212 555 1020",  # the 3-3-4 run is part of a longer grouped number
    ],
)
def test_phone_numbers_are_not_nhs(engine: RedactionEngine, text: str) -> None:
    result = engine.redact_text(text)
    assert not [f for f in result.findings if f.entity_type == "UK_NHS"]


def test_phone_field_value_is_not_nhs(engine: RedactionEngine) -> None:
    result = engine.redact_record({"phone": f"+1 {PHONE}", "contact": NHS})
    assert not [f for f in result.findings if f.entity_type == "UK_NHS"]
    assert result.record["phone"] == "<PHONE_NUMBER>"


def test_demo_policy_keeps_the_phone_number_whole() -> None:
    # the demo policy has no whole_span filter: Presidio's NHS recognizer split this phone number in two
    engine = load_policy(DEMO_POLICY, environ={}).engine()
    result = engine.redact_text(f"Customer Jan Martin called from +1 {PHONE} about a late delivery.")
    assert [f.entity_type for f in result.findings if f.entity_type != "PERSON"] == ["PHONE_NUMBER"]
    assert "from <PHONE_NUMBER> about" in result.text
