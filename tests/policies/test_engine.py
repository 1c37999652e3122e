"""The redaction engine on texts and records, with the real spaCy model."""

from __future__ import annotations

from pathlib import Path

import pytest

from redactline.policies import PolicyError, load_policy

KEY = "5a" * 32
POLICY = """
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: engine-test, version: 1.0.0}
keys:
  k: {env: RL_ENGINE_KEY}
detection:
  recognizers:
    - name: EmployeeId
      supported_entity: EMPLOYEE_ID
      patterns: [{name: emp, regex: 'EMP-\\d{6}', score: 0.9}]
  allow_list: [Acme Support]
transforms:
  entities:
    PERSON: pseudonym
    EMAIL_ADDRESS: {type: hash, key: k}
    CREDIT_CARD: {type: mask, keep_first: 6, keep_last: 4, only_digits: true}
  fields:
    id: keep
    ssn: {type: tokenize, key: k, label: US_SSN}
    zip: {type: generalize, to: zip3}
    photo: drop_field
    visits[*].date: {type: generalize, to: year}
    customer_name: {type: pseudonym, entity: PERSON}
    contact: pseudonym
"""

TEXT = "John Smith wrote to john.smith@example.com about card 4111-1111-1111-1111 and EMP-123456."


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    import os

    os.environ["RL_ENGINE_KEY"] = KEY
    path: Path = tmp_path_factory.mktemp("policy") / "p.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path).engine()


def test_redact_text_applies_operators_and_reports_findings(engine):
    result = engine.redact_text(TEXT)
    for secret in ("John Smith", "john.smith@example.com", "1111-1111-1111", "EMP-123456"):
        assert secret not in result.text
    assert "<PERSON_1>" in result.text and "4111-11**-****-1111" in result.text
    types = {f.entity_type for f in result.findings}
    assert {"PERSON", "EMAIL_ADDRESS", "CREDIT_CARD", "EMPLOYEE_ID"} <= types
    for finding in result.findings:
        # findings locate the value in the input; they never carry it
        assert "John" not in repr(finding) and finding.end > finding.start
    person = next(f for f in result.findings if f.entity_type == "PERSON")
    assert TEXT[person.start : person.end] == "John Smith" and person.operator == "pseudonym"


def test_same_input_same_output_and_batches_match_single_calls(engine):
    texts = [TEXT, "Mary Jones called from Boston.", "nothing to see here", ""]
    batched = [r.text for r in engine.redact_texts(texts, batch_size=3)]
    single = [engine.redact_text(t).text for t in texts]
    assert batched == single
    assert [r.text for r in engine.redact_texts(texts)] == batched


def test_allow_list_keeps_values(engine):
    assert "Acme Support" in engine.redact_text("Please contact Acme Support today.").text


def test_record_fields_named_and_unnamed(engine):
    record = {
        "id": 42,
        "ssn": "123-45-6789",
        "zip": "02139",
        "photo": "base64-bytes",
        "notes": "Spoke with Mary Jones about her claim.",
        "count": 3,
        "visits": [{"date": "2021-03-04", "where": "Boston"}],
        "nested": {"email": "mary.jones@example.org"},
    }
    result = engine.redact_record(record)
    out = result.record
    assert out["id"] == 42  # keep
    assert out["ssn"].startswith("US_SSN_TOK(") and "6789" not in out["ssn"]
    assert out["zip"] == "021"
    assert "photo" not in out
    assert "Mary Jones" not in out["notes"]
    assert out["count"] == 3  # inspected, nothing found, original type kept
    assert out["visits"][0]["date"] == "2021"
    assert "Boston" not in out["visits"][0]["where"]
    assert "mary.jones@example.org" not in out["nested"]["email"]
    assert {f.field for f in result.findings} >= {"notes", "nested.email"}
    assert record["ssn"] == "123-45-6789"  # input untouched


def test_pseudonyms_are_consistent_within_a_record_and_fresh_per_record(engine):
    first = engine.redact_record({"a": "Mary Jones met Peter Parker.", "b": "Later Mary Jones left."})
    a, b = first.record["a"], first.record["b"]
    assert a.startswith("<PERSON_1>") and "<PERSON_1>" in b
    second = engine.redact_record({"a": "Peter Parker arrived."})
    assert second.record["a"].startswith("<PERSON_1>")


def test_one_pseudonym_per_person_in_a_named_column_and_in_free_text(engine):
    out = engine.redact_record({"customer_name": "Maria Gonzalez", "contact": "Maria Gonzalez",
                                "notes": "Maria Gonzalez called twice; Peter Parker too."}).record
    assert out["customer_name"] == "<PERSON_1>"  # the rule's entity type, shared with free text
    assert out["notes"].startswith("<PERSON_1> called") and "<PERSON_2>" in out["notes"]
    assert out["contact"] == "<CONTACT_1>"  # no entity named: the field's name, as before


def test_entity_on_a_rule_is_for_field_rules_only(tmp_path):
    bad = POLICY.replace("PERSON: pseudonym", "PERSON: {type: pseudonym, entity: PERSON}")
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(PolicyError, match="entity applies to field rules only"):
        load_policy(path, environ={"RL_ENGINE_KEY": KEY})


def test_a_caller_supplied_context_exposes_the_vault_and_spans_texts(engine):
    from redactline.policies.operators import RecordContext

    ctx = RecordContext()
    first = engine.redact_text("Mary Jones met Peter Parker.", context=ctx)
    second = engine.redact_text("Peter Parker called Mary Jones.", context=ctx)
    assert first.text.startswith("<PERSON_1>") and second.text.startswith("<PERSON_2>")
    assert dict(ctx.vault) == {"<PERSON_1>": "Mary Jones", "<PERSON_2>": "Peter Parker"}
    record_ctx = RecordContext()
    result = engine.redact_record({"a": "Mary Jones left."}, context=record_ctx)
    assert result.record["a"].startswith("<PERSON_1>") and record_ctx.vault["<PERSON_1>"] == "Mary Jones"


def test_records_in_a_batch_match_records_alone(engine):
    records = [{"t": f"Call Mary Jones about invoice {i}", "n": i} for i in range(5)]
    together = [r.record for r in engine.redact_records(records, batch_size=5)]
    alone = [engine.redact_record(r).record for r in records]
    assert together == alone


def test_non_mapping_record_is_an_error(engine):
    with pytest.raises(TypeError):
        engine.redact_record(["not", "a", "dict"])  # type: ignore[arg-type]


def test_overlapping_findings_keep_their_own_spans_and_cover_every_character():
    from presidio_analyzer import RecognizerResult

    from redactline.policies.engine import _resolve_overlaps

    weak = RecognizerResult("DATE_TIME", 0, 10, 0.5)
    strong = RecognizerResult("AGE", 4, 6, 0.9)
    pieces = [(p.start, p.end, p.result.entity_type) for p in _resolve_overlaps([weak, strong])]
    assert pieces == [(0, 4, "DATE_TIME"), (4, 6, "AGE"), (6, 10, "DATE_TIME")]


def test_phone_recognizer_is_gated_only_below_the_shortest_possible_number(engine):
    from redactline.policies.recognizers import DigitGatedPhoneRecognizer

    gated = [r for r in engine._analyzer.registry.recognizers if isinstance(r, DigitGatedPhoneRecognizer)]
    assert gated and all(r.min_digits == 4 for r in gated)  # DE numbers can be 4 digits (phonenumbers)
    assert "212" not in engine.redact_text("Call me on (212) 555-0100 tomorrow").text.replace("<", "")


@pytest.mark.parametrize(
    "text",
    [
        "Tel:+49-30-1234567 or fax +49 (0)30 7654321",
        "call555-0100x123 now",
        "ring 0049 30 901820, ext. 12",
        "1-800-FLOWERS or 1-800-356-9377",
        "room 12, floor 3, 2021",
        "+44 20 7946 0958",
        "Tel.０３０１２３４５６７ (full-width)",
        "no digits here",
        "(212)555-0100",
        "my number is 06-82237745",
    ],
)
def test_phone_gate_gives_the_same_results_as_presidio(text):
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from redactline.policies.recognizers import DigitGatedPhoneRecognizer

    def spans(recognizer):
        return sorted((r.start, r.end, r.score) for r in recognizer.analyze(text, ["PHONE_NUMBER"]))

    assert spans(DigitGatedPhoneRecognizer()) == spans(PhoneRecognizer())


def test_selective_context_enhancer_matches_presidio_enhancer(engine):
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    texts = [
        "My phone number is 212-555-0100 and my credit card is 4111111111111111.",
        "SSN 078-05-1120 belongs to Jane Roe of Boston.",
        "Nothing sensitive here at all.",
        "Call 0049 30 901820 or mail jane.roe@example.org about account 12345678.",
        "Driver license D1234567 and passport 912803456, bank account 123456789012.",
    ]

    def summary():
        return [
            sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)
            for results in engine.analyze_texts(texts)
        ]

    selective = summary()
    analyzer = engine._analyzer
    original = analyzer.context_aware_enhancer
    analyzer.context_aware_enhancer = LemmaContextAwareEnhancer()
    try:
        assert summary() == selective
    finally:
        analyzer.context_aware_enhancer = original
