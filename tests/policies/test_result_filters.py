"""Decision rules on detection results (``detection.result_filters``): each rule on hand-made results,
then through general-pii end to end on the cases the issue measured."""

from __future__ import annotations

from pathlib import Path

import pytest
from presidio_analyzer import RecognizerResult

from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine
from redactline.policies.result_filters import (
    RULES,
    filter_results,
    ner_acronyms,
    ner_identifier_codes,
    ner_non_dates,
    whole_span,
)

LIBRARY = Path(__file__).resolve().parents[2] / "policies" / "library"


def ner(text: str, value: str, entity_type: str, score: float = 0.85) -> RecognizerResult:
    start = text.index(value)
    return RecognizerResult(
        entity_type,
        start,
        start + len(value),
        score,
        recognition_metadata={"recognizer_name": "SpacyRecognizer"},
    )


def pattern(text: str, value: str, entity_type: str, score: float = 0.5, name: str = "p") -> RecognizerResult:
    start = text.index(value)
    return RecognizerResult(
        entity_type, start, start + len(value), score, recognition_metadata={"recognizer_name": name}
    )


def spans(text: str, results: list[RecognizerResult]) -> list[tuple[str, str]]:
    return [(r.entity_type, text[r.start : r.end]) for r in results]


@pytest.mark.parametrize(
    ("text", "value", "entity_type", "expected"),
    [
        ("T-100000", "T-100000", "PERSON", []),
        ("Ticket T-100000 was closed", "Ticket T-100000", "ORGANIZATION", []),
        ("Invoice INV-2024-0042 paid", "Invoice INV-2024-0042", "ORGANIZATION", []),
        ("Order ORD58213", "Order ORD58213", "PERSON", []),
        ("Jane Roe T-100000 called", "Jane Roe T-100000", "PERSON", [("PERSON", "Jane Roe")]),
        # digit-first tokens may be house numbers or postcodes of a mis-tagged address: kept
        (
            "Illoqarfiup Qeppa 260",
            "Illoqarfiup Qeppa 260",
            "ORGANIZATION",
            [("ORGANIZATION", "Illoqarfiup Qeppa 260")],
        ),
        ("FPO AP 41937", "FPO AP 41937", "ORGANIZATION", [("ORGANIZATION", "FPO AP 41937")]),
        ("GDR 144A", "GDR 144A", "ORGANIZATION", [("ORGANIZATION", "GDR 144A")]),
        # a postcode with its country letters is no code
        ("LV-1050 Riga", "LV-1050 Riga", "ORGANIZATION", [("ORGANIZATION", "LV-1050 Riga")]),
        # a code between name words: the whole span stays (fail closed)
        ("Jane T-100000 Roe", "Jane T-100000 Roe", "PERSON", [("PERSON", "Jane T-100000 Roe")]),
        # a LOCATION goes only when it is nothing but codes
        ("REF-88231", "REF-88231", "LOCATION", []),
        ("221B Baker Street", "221B Baker Street", "LOCATION", [("LOCATION", "221B Baker Street")]),
    ],
)
def test_identifier_codes(text: str, value: str, entity_type: str, expected: list) -> None:
    assert spans(text, ner_identifier_codes(text, [ner(text, value, entity_type)])) == expected


def test_identifier_codes_leave_other_recognizers_alone() -> None:
    text = "EMP-123456"
    assert spans(text, ner_identifier_codes(text, [pattern(text, text, "PERSON")])) == [("PERSON", text)]


@pytest.mark.parametrize(
    ("text", "value", "entity_type", "expected"),
    [
        ("Send the IBAN again", "IBAN", "ORGANIZATION", []),
        ("The SSN field", "SSN", "PERSON", []),
        ("ask the CEO", "CEO", "ORGANIZATION", []),
        ("Country: US", "US", "ORGANIZATION", [("LOCATION", "US")]),
        ("shipping to DE", "DE", "PERSON", [("LOCATION", "DE")]),
        ("in the US", "US", "LOCATION", [("LOCATION", "US")]),
        ("IBM hired her", "IBM", "ORGANIZATION", [("ORGANIZATION", "IBM")]),  # a real organisation
        ("Dr. Amos", "Amos", "PERSON", [("PERSON", "Amos")]),
    ],
)
def test_acronyms(text: str, value: str, entity_type: str, expected: list) -> None:
    assert spans(text, ner_acronyms(text, [ner(text, value, entity_type)])) == expected


@pytest.mark.parametrize(
    ("text", "value", "kept"),
    [
        ("We processed 3500 units", "3500", False),
        ("it broke last month", "last month", False),
        ("See you this weekend", "this weekend", False),
        ("This morning it failed", "This morning", False),
        ("on Monday", "Monday", True),
        ("born 3 May 1980", "3 May 1980", True),
        ("in 2021", "2021", True),
        ("Str. 38 Apt", "38", True),  # a bare number: a house number or an age nothing else found
        ("code 82650", "82650", True),
        ("moved to Montevideo", "Montevideo", True),  # a proper name spaCy took for a date
    ],
)
def test_non_dates(text: str, value: str, kept: bool) -> None:
    result = ner(text, value, "DATE_TIME")
    assert (ner_non_dates(text, [result]) == [result]) is kept


def test_date_around_an_age_or_phone_goes_when_it_adds_no_date() -> None:
    text = "a 45-year-old woman"
    age = pattern(text, "45", "AGE", 0.9)
    assert spans(text, ner_non_dates(text, [ner(text, "45-year-old", "DATE_TIME"), age])) == [("AGE", "45")]
    text = "call 555 0172 on 3 May"
    phone = pattern(text, "555 0172", "PHONE_NUMBER")
    date = ner(text, "555 0172 on 3 May", "DATE_TIME")
    assert len(ner_non_dates(text, [date, phone])) == 2  # "on 3 May" is a date of its own


def test_whole_span_keeps_one_phone_number() -> None:
    text = "call +1 415 555 0172 now"
    phone = pattern(text, "+1 415 555 0172", "PHONE_NUMBER", 0.5)
    nhs = pattern(text, "415 555 0172", "UK_NHS", 1.0)
    assert spans(text, whole_span(text, [phone, nhs])) == [("PHONE_NUMBER", "+1 415 555 0172")]
    # the same span: not inside a longer number, left to the score
    text2 = "415 555 0172"
    same = [pattern(text2, text2, "PHONE_NUMBER"), pattern(text2, text2, "UK_NHS", 1.0)]
    assert len(whole_span(text2, same)) == 2
    # a card number inside is kept: its operator masks what it matched
    text3 = "+1 4111 1111 1111 1111"
    card = pattern(text3, "4111 1111 1111 1111", "CREDIT_CARD", 1.0)
    assert card in whole_span(text3, [pattern(text3, text3, "PHONE_NUMBER"), card])


def test_filter_results_applies_only_the_named_rules() -> None:
    text = "Ticket T-100000 about IBAN"
    results = [ner(text, "Ticket T-100000", "ORGANIZATION"), ner(text, "IBAN", "ORGANIZATION")]
    assert filter_results(text, results, []) is results
    assert spans(text, filter_results(text, results, ["ner_acronyms"])) == [
        ("ORGANIZATION", "Ticket T-100000")
    ]
    assert filter_results(text, results, list(RULES)) == []


@pytest.fixture(scope="module")
def engine() -> RedactionEngine:
    return load_policy(LIBRARY / "general-pii.yaml").engine()


def test_general_pii_enables_every_rule(engine: RedactionEngine) -> None:
    assert set(engine.policy.document.detection.result_filters) == set(RULES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call +1 415 555 0172 today.", "Call <PHONE_NUMBER> today."),
        ("T-100000", "T-100000"),
        ("Please send the IBAN again.", "Please send the IBAN again."),
        ("Invoice INV-2024-0042 for 3500 units.", "Invoice INV-2024-0042 for 3500 units."),
    ],
)
def test_general_pii_end_to_end(engine: RedactionEngine, text: str, expected: str) -> None:
    assert engine.redact_text(text).text == expected


def test_general_pii_records(engine: RedactionEngine) -> None:
    record = {"ticket_id": "T-100000", "country": "US", "phone": "+1 415 555 0172", "note": "Ask Peter Novak"}
    out = engine.redact_record(record).record
    assert out["ticket_id"] == "T-100000"
    assert out["phone"] == "<PHONE_NUMBER>"
    assert "Novak" not in out["note"]
    assert out["country"] in ("US", "<LOCATION>")  # never <ORGANIZATION>
