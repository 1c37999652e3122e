"""French text (detection.languages: [en, fr]): the language decision per text, the schema, and the
shipped general-pii-fr policy reading each text of one batch with its own language's spaCy model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine
from redactline.policies.language import FUNCTION_WORDS, detect_language
from redactline.policies.schema import Detection
from redactline.policies.testing import format_text, run_policy_tests

LIBRARY = Path(__file__).resolve().parents[2] / "policies" / "library"
BOTH = ["en", "fr"]


def test_function_word_lists_share_no_word() -> None:
    assert not FUNCTION_WORDS["en"] & FUNCTION_WORDS["fr"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bonjour, je vous écris au sujet de la facture.", "fr"),
        ("L'adresse est au 8 rue des Lilas.", "fr"),  # elision counts the article
        ("Please send the invoice to the new address.", "en"),
        ("Hélène Girard", None),  # no function word: the first listed language
        ("FR76 3000 6000 0112 3456 7890 189", None),
        ("le the", None),  # a tie: the first listed language
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text, BOTH) == (language or "en")
    assert detect_language(text, ["fr", "en"]) == (language or "fr")


def test_schema_accepts_french_and_refuses_an_unpinned_language() -> None:
    assert Detection(languages=["en", "fr"]).nlp.model_for("fr") == "fr_core_news_md"
    with pytest.raises(ValidationError, match="no pinned model"):
        Detection(languages=["en", "de"])
    with pytest.raises(ValidationError, match="does not list"):
        Detection(languages=["en"], nlp={"models": {"fr": "fr_core_news_md"}})


@pytest.fixture(scope="module")
def engine() -> RedactionEngine:
    return load_policy(LIBRARY / "general-pii-fr.yaml", environ={}).engine()


def test_each_text_of_a_batch_is_read_in_its_language(engine: RedactionEngine) -> None:
    texts = [
        "Le dossier de Jean-Marc Rousseau est arrivé chez nous, il habite à Villeurbanne.",
        "Please email Jane Smith at jane.smith@example.com today.",
    ]
    assert [engine.language_of(t) for t in texts] == ["fr", "en"]
    french, english = engine.redact_texts(texts)
    assert "Rousseau" not in french.text and "Villeurbanne" not in french.text
    assert "Jane" not in english.text and "jane.smith" not in english.text


def test_french_contact_details_and_identifiers(engine: RedactionEngine) -> None:
    text = ("Bonjour Madame Lefèvre, vous pouvez nous joindre au +33 6 12 34 56 78 ou au 04 72 10 20 30. "
            "Votre IBAN FR76 3000 6000 0112 3456 7890 189 et votre NIR 185052A00123435 sont enregistrés.")
    out = engine.redact_text(text).text
    for value in ("Lefèvre", "12 34 56 78", "72 10 20 30", "3456 7890", "2A001234"):
        assert value not in out, value
    assert "NIR" in out and "IBAN" in out  # acronyms are not organisations


def test_general_pii_fr_inline_tests_pass(engine: RedactionEngine) -> None:
    results = run_policy_tests(engine.policy, engine=engine)
    assert results and all(r.passed for r in results), format_text(results)
