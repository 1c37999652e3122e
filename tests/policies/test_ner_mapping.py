"""The policy's spaCy label -> entity mapping (``detection.nlp``, Presidio's NER model configuration
keys): general-pii maps or ignores every label its model produces, so nothing is logged per document;
a policy that leaves labels out gets one warning when the model loads, never one per document."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine
from redactline.policies.schema import NlpConfig
from redactline.policies.spacy_ner import NerOnlySpacyEngine, ner_model_configuration

LIBRARY = Path(__file__).resolve().parents[2] / "policies" / "library"
PRESIDIO_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")

# Texts that make the small English model produce every label it has (FAC, PRODUCT, LAW, WORK_OF_ART,
# EVENT, LANGUAGE beside the mapped ones), in free text, record values and field names.
TEXTS = [
    "Jane Roe flew from Heathrow Airport to Berlin on Monday, 3 May 2021 at 10am.",
    "She bought an iPhone 15 and a Toyota Corolla, read the Bible and War and Peace in English.",
    "Under the First Amendment and the GDPR, the Olympic Games and World War II were discussed.",
    "The Golden Gate Bridge, the Eiffel Tower and the Hurricane Katrina relief fund cost $5 million.",
    "About 40% of the 3,000 Americans spoke French; the first one paid twenty dollars.",
    "Microsoft and the United Nations met Dr. Alan Turing in London at midnight.",
]


@pytest.fixture(scope="module")
def engine() -> RedactionEngine:
    return load_policy(LIBRARY / "general-pii.yaml").engine()


def test_general_pii_maps_or_ignores_every_model_label(engine: RedactionEngine) -> None:
    nlp_engine = engine._nlp_engine
    assert isinstance(nlp_engine, NerOnlySpacyEngine)
    assert nlp_engine.unmapped_labels() == []
    config = nlp_engine.ner_model_configuration
    for label in ("FAC", "PRODUCT", "LAW", "WORK_OF_ART", "EVENT", "LANGUAGE"):
        assert label in config.labels_to_ignore or label in config.model_to_presidio_entity_mapping


def test_no_mapping_warning_per_document(engine: RedactionEngine, caplog: pytest.LogCaptureFixture) -> None:
    for name in PRESIDIO_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        results = list(engine.redact_texts(TEXTS * 3, batch_size=4))
        list(engine.redact_records([{"note": text, "Golden Gate Bridge": text} for text in TEXTS]))
    finally:
        for name in PRESIDIO_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)  # log_hygiene's level, as before
    assert any(r.findings for r in results)
    mapping = [r for r in caplog.records if "not mapped" in r.getMessage() or r.levelno >= logging.WARNING]
    assert mapping == []


def test_the_model_produces_the_labels_this_test_is_about(engine: RedactionEngine) -> None:
    """Guards the inputs: the texts do reach the labels that Presidio would warn about."""
    nlp = engine._nlp_engine.nlp["en"]
    labels = {ent.label_ for doc in nlp.pipe(TEXTS) for ent in doc.ents}
    assert {"FAC", "PRODUCT", "LAW", "EVENT", "LANGUAGE", "WORK_OF_ART"} <= labels


def test_mapping_renames_labels(engine: RedactionEngine) -> None:
    found = engine.redact_text("We landed at Heathrow Airport yesterday.").findings
    assert [f.entity_type for f in found if f.recognizer == "SpacyRecognizer"][0] == "LOCATION"


def test_unset_mapping_is_presidios_default() -> None:
    from presidio_analyzer.nlp_engine import NerModelConfiguration

    config = ner_model_configuration(NlpConfig())
    assert config.model_to_presidio_entity_mapping == NerModelConfiguration().model_to_presidio_entity_mapping
    custom = ner_model_configuration(
        NlpConfig(
            model_to_presidio_entity_mapping={"PERSON": "PERSON"},
            low_score_entity_names=["ORGANIZATION"],
            low_confidence_score_multiplier=0.5,
        )
    )
    assert custom.model_to_presidio_entity_mapping == {"PERSON": "PERSON"}
    assert list(custom.low_score_entity_names) == ["ORGANIZATION"]
    assert custom.low_confidence_score_multiplier == 0.5


def test_labels_left_out_are_ignored_with_one_warning_at_load(
    engine: RedactionEngine, caplog: pytest.LogCaptureFixture
) -> None:
    config = NlpConfig(labels_to_ignore=["CARDINAL"], model_to_presidio_entity_mapping={"PERSON": "PERSON"})
    nlp_engine = NerOnlySpacyEngine.for_policy(config, ["en"])
    nlp_engine.nlp = engine._nlp_engine.nlp
    assert "FAC" in nlp_engine.unmapped_labels() and "PERSON" not in nlp_engine.unmapped_labels()
    with caplog.at_level(logging.WARNING):
        nlp_engine.load()
    warnings = [r for r in caplog.records if "neither mapped nor ignored" in r.getMessage()]
    assert len(warnings) == 1 and "FAC" in warnings[0].getMessage()
    assert nlp_engine.unmapped_labels() == []
    caplog.clear()
    for name in PRESIDIO_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    artifacts = nlp_engine.artifacts_batch(TEXTS, "en", batch_size=8)
    assert {e.label_ for a in artifacts for e in a.entities} == {"PERSON"}
    assert not [r for r in caplog.records if "not mapped" in r.getMessage()]
