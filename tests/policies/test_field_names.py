"""Field names inspected like values, and field rules that apply to the exact path they name (issue 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine

KEY = "3c" * 32
EMAIL = "zebulon.q@rtleak.com"
NAME = "Zebulon Quartermain"
CARD = "4111 1111 1111 1111"
PHONE = "(415) 555-0187"
PLANTED = [EMAIL, NAME, "Zebulon", "Quartermain", CARD, "4111111111111111", "555-0187"]
PLACEHOLDER = re.compile(r"<[A-Z_]+_FIELD_[0-9a-f]{12}(?:_\d+)?>")

POLICY = """
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {{name: field-names-test, version: 1.0.0}}
keys:
  names: {{env: RL_FIELD_NAMES_KEY}}
detection:
  recognizers:
    - name: EmployeeId
      supported_entity: EMPLOYEE_ID
      patterns: [{{name: emp, regex: 'EMP-\\d{{6}}', score: 0.9}}]
transforms:
  default: replace
  fields:
    id: keep
    country: keep
    EMP-123456: keep
    EMP-654321.note: keep
    meta: {{type: keep, keep_subtree: true}}
    meta.secret: redact
    visits[*].date: {{type: generalize, to: year}}
    tags[*]: keep
    labels: keep
    address: replace
    photo: drop_field
    customer.email: replace
{extra}
"""


def _policy(tmp_path: Path, name: str, extra: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(POLICY.format(extra=extra), encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    import os

    os.environ["RL_FIELD_NAMES_KEY"] = KEY
    return _policy(tmp_path_factory.mktemp("policy"), "redact")


@pytest.fixture(scope="module")
def engine(policy):
    return policy.engine()


def _sibling(engine: RedactionEngine, policy) -> RedactionEngine:
    """Another engine of ``policy`` sharing ``engine``'s analyzer (no second spaCy load)."""
    return RedactionEngine(policy, engine._analyzer, policy.keys)


def _leaks(*things: object) -> list[str]:
    text = "\n".join(json.dumps(t, default=repr, ensure_ascii=False) if not isinstance(t, str) else t
                     for t in things)
    return [value for value in PLANTED if value in text]


def _keys(value: object) -> list[str]:
    """Every key at every depth."""
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in (k, *_keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


# --- field names ------------------------------------------------------------------------------------------


def test_names_with_findings_are_replaced_at_every_depth_and_in_lists_of_dicts(engine):
    record = {
        EMAIL: "x",
        "notes": {NAME: {PHONE: 3, "plain": "ok"}},
        "items": [{CARD: 1}, {"clean": 2, NAME: "again"}],
        "list_of_lists": [[{EMAIL: True}]],
    }
    result = engine.redact_record(record)
    out = result.record
    assert _leaks(out, [f.__dict__ for f in result.findings], repr(result)) == []
    top = [k for k in out if PLACEHOLDER.fullmatch(k)]
    assert len(top) == 1 and top[0].startswith("<EMAIL_ADDRESS_FIELD_") and out[top[0]] == "x"
    (person,) = out["notes"]
    assert person.startswith("<PERSON_FIELD_")
    (phone,) = [k for k in out["notes"][person] if k != "plain"]
    assert phone.startswith("<PHONE_NUMBER_FIELD_") and out["notes"][person]["plain"] == "ok"
    assert list(out["items"][0]) == [next(iter(out["items"][0]))]
    assert next(iter(out["items"][0])).startswith("<CREDIT_CARD_FIELD_")
    assert out["items"][1]["clean"] == 2 and person in out["items"][1]  # same name, same placeholder
    assert next(iter(out["list_of_lists"][0][0])).startswith("<EMAIL_ADDRESS_FIELD_")


def test_findings_in_names_are_marked_counted_and_point_at_the_placeholder(engine):
    result = engine.redact_record({"outer": {EMAIL: f"write to {EMAIL}"}})
    names = [f for f in result.findings if f.in_field_name]
    values = [f for f in result.findings if not f.in_field_name]
    (placeholder,) = result.record["outer"]
    assert [(f.entity_type, f.operator, f.field, f.start, f.end) for f in names] == [
        ("EMAIL_ADDRESS", "rename", f"outer.{placeholder}", 0, len(EMAIL))
    ]
    # the value below a renamed key is located by the placeholder path too
    assert [(f.entity_type, f.field) for f in values] == [("EMAIL_ADDRESS", f"outer.{placeholder}")]
    assert result.record["outer"][placeholder] == "write to <EMAIL_ADDRESS>"


def test_numbers_as_keys(engine):
    out = engine.redact_record({"4111111111111111": "a", 4111111111111111: "b", 7: "c", "42": "d"}).record
    renamed = [k for k in out if isinstance(k, str) and PLACEHOLDER.fullmatch(k)]
    # the str and the int key are the same name: one placeholder, then a numbered second one
    assert len(renamed) == 2 and all(k.startswith("<CREDIT_CARD_FIELD_") for k in renamed)
    assert sorted(out[k] for k in renamed) == ["a", "b"]
    assert out[7] == "c" and out["42"] == "d"  # clean names keep their key, an int stays an int
    assert _leaks(out) == []


def test_a_clean_name_is_kept_and_inspected_once_per_engine(engine, policy):
    fresh = _sibling(engine, policy)
    seen: list[list[str]] = []
    real = fresh.analyze_texts

    def counting(texts):
        seen.append(list(texts))
        return real(texts)

    fresh.analyze_texts = counting  # type: ignore[method-assign]
    records = [{"comment": f"ticket {i}", "status": "open"} for i in range(5)]
    outs = [r.record for r in fresh.redact_records(records, batch_size=5)]
    assert outs == records
    assert len(seen) == 1  # names and values of a batch in one pass
    assert seen[0].count("comment") == 1 and seen[0].count("status") == 1  # each name once per batch
    list(fresh.redact_records(records, batch_size=5))
    assert "comment" not in seen[1] and "status" not in seen[1]  # known clean: not inspected again
    # a name with a finding is never remembered: inspected each time it appears
    list(fresh.redact_records([{EMAIL: None}]))
    list(fresh.redact_records([{EMAIL: None}]))
    assert seen[2] == [EMAIL] and seen[3] == [EMAIL]


def test_placeholders_are_stable_across_records_and_batches(engine):
    first = [r.record for r in engine.redact_records([{EMAIL: i, "n": i} for i in range(3)], batch_size=3)]
    later = engine.redact_record({"other": 1, EMAIL: 9}).record
    keys = {next(k for k in r if k != "n") for r in first} | {next(k for k in later if k != "other")}
    assert len(keys) == 1


def test_two_names_never_collide_into_one_key(engine):
    other = "quinn.x@rtleak.com"
    out = engine.redact_record({EMAIL: 1, other: 2}).record
    assert len(out) == 2 and sorted(out.values()) == [1, 2]
    assert all(k.startswith("<EMAIL_ADDRESS_FIELD_") for k in out)
    # a clean key that spells the placeholder keeps it; the renamed name moves aside
    (placeholder,) = engine.redact_record({EMAIL: 0}).record
    out = engine.redact_record({EMAIL: "renamed", placeholder: "clean"}).record
    assert out[placeholder] == "clean" and out[placeholder[:-1] + "_2>"] == "renamed"


def test_placeholders_are_keyed(engine, policy, tmp_path):
    # without field_names_key: a random key per engine, so another engine gives another placeholder
    (mine,) = engine.redact_record({EMAIL: 0}).record
    (theirs,) = _sibling(engine, policy).redact_record({EMAIL: 0}).record
    assert mine != theirs
    # with it: the same on every engine (worker) and in every run
    keyed = _policy(tmp_path, "keyed", "  field_names_key: names")
    a = RedactionEngine(keyed, engine._analyzer, keyed.keys).redact_record({EMAIL: 0}).record
    b = RedactionEngine(keyed, engine._analyzer, keyed.keys).redact_record({EMAIL: 0}).record
    assert a == b and next(iter(a)).startswith("<EMAIL_ADDRESS_FIELD_")
    # and not a plain hash of the name
    import hashlib

    digest = next(iter(a))[len("<EMAIL_ADDRESS_FIELD_"):-1]
    assert digest not in (hashlib.sha256(EMAIL.encode()).hexdigest(), hashlib.md5(EMAIL.encode()).hexdigest())


def test_names_the_policy_writes_are_trusted(engine):
    out = engine.redact_record({
        "EMP-123456": "kept",                      # named: trusted, and kept
        "EMP-654321": {"note": "EMP-111111"},      # the parent of a named path: trusted
        "nested": {"EMP-123456": "x"},             # the same name elsewhere is unnamed: inspected
    }).record
    assert out["EMP-123456"] == "kept"
    assert out["EMP-654321"] == {"note": "EMP-111111"}
    (renamed,) = out["nested"]
    assert renamed.startswith("<EMPLOYEE_ID_FIELD_") and out["nested"][renamed] == "x"


def test_field_names_quarantine_rejects_the_record_in_the_redact_step(engine, tmp_path):
    from redactline.connectors.records import FIELD_NAME_PII, Record, RecordMeta, Rejected
    from redactline.pipelines.redact import REJECTED, _RedactBatchDoFn

    strict = _policy(tmp_path, "strict", "  field_names: quarantine")
    strict_engine = RedactionEngine(strict, engine._analyzer, strict.keys)
    assert strict_engine.field_names == "quarantine" and engine.field_names == "redact"
    fn = _RedactBatchDoFn(lambda: strict_engine, {"policy": "t"})
    fn.setup()
    meta = RecordMeta("file:///in.jsonl", "line 1")
    batch = [Record({"a": {EMAIL: "x"}}, meta), Record({"note": f"mail {EMAIL}"}, RecordMeta("f", "line 2"))]
    out = list(fn.process(batch))
    rejected = [o.value for o in out if getattr(o, "tag", None) == REJECTED]
    delivered = [o for o in out if not hasattr(o, "tag")]
    assert len(rejected) == 1 and len(delivered) == 1
    (rej,) = rejected
    assert isinstance(rej, Rejected) and rej.reason == FIELD_NAME_PII == "field_name_pii"
    assert "EMAIL_ADDRESS" in rej.detail and "a.<EMAIL_ADDRESS_FIELD_" in rej.detail
    assert _leaks(rej.detail, rej.meta.ref, delivered[0].fields) == []
    assert EMAIL.encode() in rej.raw  # the raw record is kept for the sealed quarantine only
    # redact mode: the same record is delivered with a placeholder name
    fn = _RedactBatchDoFn(lambda: engine, {"policy": "t"})
    fn.setup()
    out = list(fn.process(batch[:1]))
    (red,) = [o for o in out if not hasattr(o, "tag")]
    assert _leaks(red.fields) == []
    counts = [o.value for o in out if getattr(o, "tag", None) == "entities"]
    assert ("EMAIL_ADDRESS", 1) in counts


# --- exact-path rules -------------------------------------------------------------------------------------


def test_unnamed_fields_under_or_beside_a_kept_name_are_inspected(engine):
    record = {
        "id": 7,
        "id.comment": f"call {NAME}",             # a flat CSV column: not id then comment
        "country": "DE",
        "country[0]": EMAIL,                      # a flat CSV column: not country's first item
        "idx": EMAIL,                             # a name that merely starts with a kept one
    }
    out = engine.redact_record(record).record
    assert out["id"] == 7 and out["country"] == "DE"
    assert _leaks(out) == []
    assert "<EMAIL_ADDRESS>" in out["idx"]


def test_a_flat_column_reads_as_the_path_it_spells(engine):
    # customer.email is named: as a flat CSV column or nested, its name is trusted and its rule applies
    flat = engine.redact_record({"customer.email": EMAIL, "customer.phone": PHONE}).record
    nested = engine.redact_record({"customer": {"email": EMAIL}}).record
    assert flat["customer.email"] == "<EMAIL>" and nested == {"customer": {"email": "<EMAIL>"}}
    # customer.phone is not named: inspected, and its dotted name reads as a URL: renamed (fail closed)
    (other,) = [k for k in flat if k != "customer.email"]
    assert other.startswith("<URL_FIELD_") and flat[other] == "<PHONE_NUMBER>"


def test_keep_on_a_mapping_or_list_keeps_nothing_below_without_keep_subtree(engine):
    record = {
        "country": {"code": "DE", "contact": EMAIL},
        "id": [f"{NAME}", 3],
        "labels": [PHONE],
        "address": {"street": f"{NAME} lives here", "kind": "home"},
    }
    out = engine.redact_record(record).record
    assert out["country"]["code"] == "DE" and out["country"]["contact"] == "<EMAIL_ADDRESS>"
    assert out["id"][1] == 3 and out["labels"] == ["<PHONE_NUMBER>"]
    # replace on a mapping applies to nothing below: the values are inspected instead
    assert out["address"]["kind"] == "home" and out["address"]["street"] == "<PERSON> lives here"
    assert _leaks(out) == []


def test_keep_subtree_keeps_scalars_below_but_deeper_rules_and_names_still_apply(engine):
    record = {"meta": {"owner": NAME, "tags": [PHONE], "secret": "s3cr3t", "inner": {EMAIL: "v"}}}
    result = engine.redact_record(record)
    meta = result.record["meta"]
    assert meta["owner"] == NAME and meta["tags"] == [PHONE]  # kept, as the rule says
    assert meta["secret"] == ""  # meta.secret: redact
    (renamed,) = meta["inner"]
    assert renamed.startswith("<EMAIL_ADDRESS_FIELD_") and meta["inner"][renamed] == "v"


def test_star_patterns_and_drop_field(engine):
    record = {
        "visits": [{"date": "2021-03-04", "where": "Boston"}, {"date": "1999-12-31"}],
        "tags": [NAME, "plain"],
        "photo": {"bytes": EMAIL, NAME: 1},
    }
    out = engine.redact_record(record).record
    assert [v["date"] for v in out["visits"]] == ["2021", "1999"]
    assert "Boston" not in out["visits"][0]["where"]
    assert out["tags"] == [NAME, "plain"]  # tags[*]: keep names each item
    assert "photo" not in out


# --- policy language, diff, explain -----------------------------------------------------------------------


def test_schema_and_validation():
    from redactline.policies.schema import PolicyDocument, json_schema

    transforms = json_schema()["$defs"]["Transforms"]["properties"]
    assert set(transforms["field_names"]["enum"]) == {"redact", "quarantine"}
    assert "field_names_key" in transforms
    base = {"apiVersion": "redactline.dev/v1", "kind": "RedactionPolicy",
            "metadata": {"name": "t", "version": "1.0.0"}}
    with pytest.raises(ValueError, match="keep_subtree applies to field rules only"):
        PolicyDocument.model_validate({**base, "transforms": {
            "entities": {"PERSON": {"type": "keep", "keep_subtree": True}}}})
    with pytest.raises(ValueError, match="not declared under keys"):
        PolicyDocument.model_validate({**base, "transforms": {"field_names_key": "nope"}})
    with pytest.raises(ValueError):
        PolicyDocument.model_validate({**base, "transforms": {"field_names": "keep"}})


def test_diff_treats_keep_subtree_and_field_names_sensibly():
    from redactline.policies.diff import diff_policies, effective_field_operator
    from redactline.policies.schema import PolicyDocument, Transforms

    def doc(transforms: dict) -> PolicyDocument:
        return PolicyDocument.model_validate({
            "apiVersion": "redactline.dev/v1", "kind": "RedactionPolicy",
            "metadata": {"name": "t", "version": "1.0.0"}, "transforms": transforms})

    old = doc({"fields": {"country": "keep", "country.code": "redact"}})
    new = doc({"fields": {"country": {"type": "keep", "keep_subtree": True}, "country.code": "redact"},
               "field_names": "quarantine"})
    changes = {c.subject: c for c in diff_policies(old, new)}
    assert changes["country"].effect == "loosening" and "keep_subtree" in changes["country"].note
    assert changes["field_names"].effect == "tightening"
    back = {c.subject: c for c in diff_policies(new, old)}
    assert back["country"].effect == "tightening" and back["field_names"].effect == "loosening"
    # effective operators: no inheritance from a plain keep; keep below keep_subtree; drop_field wins
    plain = Transforms.model_validate({"fields": {"a": "keep", "d": "drop_field"}})
    subtree = Transforms.model_validate({"fields": {"a": {"type": "keep", "keep_subtree": True}}})
    assert effective_field_operator(plain, "a.b").type == "inspect"
    assert effective_field_operator(plain, "d.b").type == "drop_field"
    assert effective_field_operator(subtree, "a[*].b").type == "keep"
    # naming a child of a plain keep is a change of its own (it was inspected)
    grown = {c.subject: c for c in diff_policies(doc({"fields": {"a": "keep"}}),
                                                  doc({"fields": {"a": "keep", "a.b": "keep"}}))}
    assert grown["a.b"].effect == "loosening"


def test_explain_record_never_prints_a_name_with_a_finding(tmp_path, capsys):
    from redactline.pipelines.cli import main

    path = tmp_path / "p.yaml"
    path.write_text(POLICY.format(extra=""), encoding="utf-8")
    record = json.dumps({EMAIL: "x", "country": {"code": "DE", "contact": CARD}, "id.comment": NAME})
    for fmt in ("text", "json"):
        assert main(["policy", "explain", str(path), "--record", record, "--format", fmt]) == 0
        captured = capsys.readouterr()
        assert _leaks(captured.out, captured.err) == []
        assert "<EMAIL_ADDRESS_FIELD_" in captured.out
        if fmt == "text":
            assert "field name <EMAIL_ADDRESS_FIELD_" in captured.out
        else:
            findings = json.loads(captured.out)["findings"]
            assert any(f["in_field_name"] for f in findings)
