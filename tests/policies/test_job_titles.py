"""JobTitleRecognizer: a job title is found only with an occupation noun *and* a structural cue."""

from __future__ import annotations

import pytest

from redactline.policies.job_title_recognizer import JobTitleRecognizer


def _titles(text: str) -> list[str]:
    return [text[start:end] for start, end in JobTitleRecognizer().spans(text)]


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("Mira Holt, the Harbour pilot, said the ship was late.", ["Harbour pilot"]),
        ("I worked for Norvale Bank as Senior loan officer, but left.", ["Senior loan officer"]),
        ("She works as a nurse in the city.", ["nurse"]),
        ("Tessaly Strand\n\nFiscal and policy analyst\n\nPhone: 555 0101", ["Fiscal and policy analyst"]),
        ("> Orvin Dale\n> Line maintenance engineer\n> Kestrel & Finch LLP", ["Line maintenance engineer"]),
        ("Job title: Data protection officer\nName: x", ["Data protection officer"]),
    ],
)
def test_titles_with_a_cue(text: str, titles: list[str]) -> None:
    assert _titles(text) == titles


@pytest.mark.parametrize(
    "text",
    [
        "The manager said the delivery is late.",  # an occupation noun, no cue
        "As a customer I expect better service.",  # a cue, no occupation noun
        "We use it as an engineering tool every day.",
        "Support team\nThe engineer will call you back tomorrow about the parcel and the invoice.",
    ],
)
def test_no_title_without_noun_and_cue(text: str) -> None:
    assert _titles(text) == []
