"""Two narrow decision rules: a word + model code is a product ("Nova H2740"), and an identifier with a
year in it is not a date ("CASE-2022-3360"); postcodes, names and month-dates are kept."""

from __future__ import annotations

import pytest
from presidio_analyzer import RecognizerResult

from redactline.policies.result_filters import ner_identifier_codes, ner_non_dates


def ner(text: str, value: str, entity_type: str) -> RecognizerResult:
    start = text.index(value)
    return RecognizerResult(entity_type, start, start + len(value), 0.85,
                            recognition_metadata={"recognizer_name": "SpacyRecognizer"})


def spans(text: str, results: list[RecognizerResult]) -> list[tuple[str, str]]:
    return [(r.entity_type, text[r.start : r.end]) for r in results]


@pytest.mark.parametrize(
    ("text", "value", "entity_type", "kept"),
    [
        ("The Nova H2740 printer broke", "Nova H2740", "ORGANIZATION", False),
        ("plan: Orbit X200.", "Orbit X200", "PERSON", False),
        ("Riga LV-1050, Latvia", "Riga LV-1050", "LOCATION", True),  # a town and its postcode
        ("Andorra AD500", "Andorra AD500", "LOCATION", True),
        ("Jane Roe wrote", "Jane Roe", "PERSON", True),
    ],
)
def test_model_names(text: str, value: str, entity_type: str, kept: bool) -> None:
    out = ner_identifier_codes(text, [ner(text, value, entity_type)])
    assert bool(out) is kept, spans(text, out)


@pytest.mark.parametrize(
    ("text", "value", "kept"),
    [
        ("Re: CASE-2022-3360 refund", "CASE-2022-3360", False),
        ("see ORD-435714 please", "ORD-435714", False),
        ("billed Jan-2022 twice", "Jan-2022", True),
        ("born 1961-03-12", "1961-03-12", True),
    ],
)
def test_codes_are_not_dates(text: str, value: str, kept: bool) -> None:
    out = ner_non_dates(text, [ner(text, value, "DATE_TIME")])
    assert bool(out) is kept
