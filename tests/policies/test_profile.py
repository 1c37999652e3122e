"""Column profiling (policies/profile.py): header hints, value evidence, decisions, rules, determinism.

The analyzer here is a stand-in with fixed answers, so every decision is checked without spaCy.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass

import pytest
import yaml

from redactline.policies import profile as profile_module
from redactline.policies.profile import (
    CODE,
    EMPTY,
    ENTITY,
    FREE_TEXT,
    ProfiledPolicy,
    match_hint,
)
from redactline.policies.schema import PolicyDocument, Transforms


@dataclass(frozen=True)
class Span:
    entity_type: str
    start: int
    end: int


class FakeAnalyzer:
    """Whole-value findings from a fixed table (value -> types); records every text it was given."""

    def __init__(self, table: dict[str, tuple[str, ...]]):
        self.table = table
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> list[list[Span]]:
        self.seen.extend(texts)
        return [[Span(t, 0, len(text)) for t in self.table.get(text, ())] for text in texts]


def no_names(texts: list[str]) -> list[list[Span]]:
    """Field names without findings (the value analyzers below record values only)."""
    return [[] for _ in texts]


# The value tests below look at what the value analyzer saw; field names are checked separately.
profile_records = functools.partial(profile_module.profile_records, analyze_names=no_names)

TRANSFORMS = Transforms.model_validate({
    "default": "replace",
    "entities": {"PERSON": "pseudonym", "CREDIT_CARD": {"type": "mask", "keep_last": 4, "only_digits": True},
                 "DATE_TIME": "keep"},
})

NAMES = ["Ilvara Quonset", "Brannoc Teigh", "Sefi Adamowa", "Orrin Vell", "Tamsk Oduya"]
EMAILS = [f"user{i}@example.org" for i in range(5)]


def _records(**columns: list[str]) -> list[dict[str, str]]:
    size = len(next(iter(columns.values())))
    return [{name: values[i] for name, values in columns.items()} for i in range(size)]


# ---- header hints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "phrase", "entity_type"),
    [
        ("customer_name", "customer name", "PERSON"),
        ("CustomerName", "customer name", "PERSON"),
        ("cust-nm", "customer name", "PERSON"),
        ("FIRST_NAME", "first name", "PERSON"),
        ("lname", "last name", "PERSON"),
        ("card_holder_name", "holder name", "PERSON"),  # longest phrases tie: the rightmost
        ("cardholder", "card holder", "PERSON"),
        ("company_name", "company name", "ORGANIZATION"),
        ("e-mail", "email", "EMAIL_ADDRESS"),
        ("customer_email", "email", "EMAIL_ADDRESS"),  # the head noun (rightmost) wins a tie
        ("mobileNo", "mobile", "PHONE_NUMBER"),
        ("tel", "telephone", "PHONE_NUMBER"),
        ("SSN", "ssn", "US_SSN"),
        ("iban", "iban", "IBAN_CODE"),
        ("card_number", "card number", "CREDIT_CARD"),
        ("PAN", "pan", "CREDIT_CARD"),
        ("addr1", None, None),  # "addr1" is one word: no abbreviation applies
        ("addr_1", "address", "STREET_ADDRESS"),
        ("billing.address.street", "street", "STREET_ADDRESS"),
        ("city", "city", "LOCATION"),
        ("zipCode", "zip code", "ZIP_CODE"),
        ("post_code", "post code", "ZIP_CODE"),
        ("DOB", "dob", "DATE_TIME"),
        ("date_of_birth", "date of birth", "DATE_TIME"),
        ("customer.name", "customer name", "PERSON"),
        ("company.name", "company name", "ORGANIZATION"),
    ],
)
def test_header_hints_normalise_case_separators_and_abbreviations(header, phrase, entity_type):
    hint = match_hint(header)
    assert (hint.phrase if hint else None, hint.entity_type if hint else None) == (phrase, entity_type)


@pytest.mark.parametrize("header", ["customer_id", "email_verified", "phone_type", "product_name",
                                    "user_name", "ssn_hash"])
def test_a_voiding_word_or_a_non_person_name_gives_no_entity_hint(header):
    hint = match_hint(header)
    assert hint is not None and hint.entity_type is None


@pytest.mark.parametrize("header", ["ticket_id", "notes", "country", "amount", "created_at"])
def test_unrelated_headers_give_no_hint(header):
    assert match_hint(header) is None


def test_hints_extend_with_a_table_of_other_languages():
    assert match_hint("nachname", {"nachname": "PERSON"}).entity_type == "PERSON"
    assert match_hint("nachname") is None


# ---- decisions -----------------------------------------------------------------------------------


def test_hint_plus_partial_evidence_applies_the_types_operator_to_the_whole_field():
    # NER finds only 2 of 5 names: the hint plus 40% agreement makes the whole column PERSON.
    analyze = FakeAnalyzer({NAMES[0]: ("PERSON",), NAMES[1]: ("PERSON",)})
    profile = profile_records(_records(customer_name=NAMES), analyze, TRANSFORMS)
    (field,) = profile.fields
    assert (field.decision, field.entity_type, field.share, field.hint) == (ENTITY, "PERSON", 0.4,
                                                                            "customer name")
    assert {p: s.type for p, s in profile.rules(TRANSFORMS).items()} == {"customer_name": "pseudonym"}


def test_hint_alone_still_decides_when_values_do_not_contradict_it():
    profile = profile_records(_records(ssn=["078-05-1120"] * 3), FakeAnalyzer({}), TRANSFORMS)
    field = profile.fields[0]
    assert (field.decision, field.entity_type, field.share) == (ENTITY, "US_SSN", 0.0)
    assert "hint 'ssn' only" in field.reason
    assert profile.rules(TRANSFORMS)["ssn"].type == "replace"  # the policy's default operator


def test_values_alone_decide_only_when_they_agree_strongly():
    strong = profile_records(_records(contact=EMAILS), FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS}),
                             TRANSFORMS)
    assert (strong.fields[0].decision, strong.fields[0].entity_type) == (ENTITY, "EMAIL_ADDRESS")
    three = FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS[:3]})
    weak = profile_records(_records(contact=EMAILS), three, TRANSFORMS)
    assert (weak.fields[0].decision, weak.fields[0].entity_type) == (FREE_TEXT, None)
    assert weak.rules(TRANSFORMS) == {}


def test_values_that_strongly_contradict_the_hint_win():
    analyze = FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS})
    field = profile_records(_records(name=EMAILS), analyze, TRANSFORMS).fields[0]
    assert (field.decision, field.entity_type) == (ENTITY, "EMAIL_ADDRESS")
    assert "not the hint's PERSON" in field.reason


def test_a_span_covering_only_part_of_a_value_is_no_evidence():
    class Partial(FakeAnalyzer):
        def __call__(self, texts):
            self.seen.extend(texts)
            return [[Span("PERSON", 0, 3)] for _ in texts]  # "Ilv" of "Ilvara Quonset"

    field = profile_records(_records(label=NAMES), Partial({}), TRANSFORMS).fields[0]
    assert field.decision == FREE_TEXT and field.share == 0.0


def test_ties_break_by_hint_then_type_name():
    both = FakeAnalyzer({n: ("PERSON", "LOCATION") for n in NAMES})
    no_hint = profile_records(_records(label=NAMES), both, TRANSFORMS).fields[0]
    assert no_hint.entity_type == "LOCATION"  # equal shares, no hint: the first type name
    hinted = profile_records(_records(name=NAMES), both, TRANSFORMS).fields[0]
    assert hinted.entity_type == "PERSON"  # equal shares: the hinted type


def test_free_text_fields_stay_inspected_and_are_not_analysed():
    notes = [f"{n} called about the invoice for the second time this week" for n in NAMES]
    analyze = FakeAnalyzer({})
    field = profile_records(_records(notes=notes), analyze, TRANSFORMS).fields[0]
    assert field.decision == FREE_TEXT and "not analysed" in field.reason
    assert analyze.seen == []


def test_code_like_fields_never_become_a_ner_type():
    ids = [f"T-{100000 + i}" for i in range(5)]
    analyze = FakeAnalyzer({i: ("PERSON",) for i in ids} | {"DE": ("ORGANIZATION",)})
    profile = profile_records(_records(ticket_id=ids, country=["DE", "US", "FR", "DE", "NL"]), analyze,
                              TRANSFORMS)
    by_path = {f.path: f for f in profile.fields}
    assert by_path["ticket_id"].decision == CODE and by_path["country"].decision == CODE
    assert profile.rules(TRANSFORMS) == {}


def test_empty_fields_and_numbers():
    records = [{"middle_name": "", "age": 41}, {"middle_name": None, "age": 37}]
    by_path = {f.path: f for f in profile_records(records, FakeAnalyzer({}), TRANSFORMS).fields}
    assert by_path["middle_name"].decision == EMPTY
    assert by_path["age"].sampled == 2  # numbers are profiled as their text


def test_fields_the_policy_names_are_not_profiled():
    transforms = TRANSFORMS.model_copy(update={"fields": Transforms.model_validate(
        {"fields": {"customer_name": "keep", "billing": "inspect"}}).fields})
    records = [{"customer_name": n, "email": e, "billing": {"name": n}}
               for n, e in zip(NAMES, EMAILS, strict=True)]
    analyze = FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS})
    profile = profile_records(records, analyze, transforms)
    assert [f.path for f in profile.fields] == ["email"]
    assert profile.named_by_policy == ("billing.name", "customer_name")
    assert set(analyze.seen) == set(EMAILS)  # named fields' values are not even analysed
    assert set(profile.rules(transforms)) == {"email"}


def test_a_keep_operator_gives_no_whole_field_rule():
    field = profile_records(_records(dob=["1990-01-02"] * 3), FakeAnalyzer({}), TRANSFORMS).fields[0]
    assert (field.decision, field.entity_type) == (ENTITY, "DATE_TIME")
    assert profile_records(_records(dob=["1990-01-02"] * 3), FakeAnalyzer({}), TRANSFORMS).rules(
        TRANSFORMS) == {}  # DATE_TIME: keep -> the field stays inspected


def test_nested_and_list_fields_get_path_patterns():
    records = [{"customer": {"email": e}, "contacts": [{"phone": "+1 415 555 0100"}]} for e in EMAILS]
    profile = profile_records(records, FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS}), TRANSFORMS)
    assert set(profile.rules(TRANSFORMS)) == {"customer.email", "contacts[*].phone"}


# ---- determinism, output, safety -----------------------------------------------------------------


def test_deterministic_and_only_the_first_n_records():
    records = _records(customer_name=NAMES, email=EMAILS) + [{"late_column": "x"}]
    analyze = FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS})
    first = profile_records(records, analyze, TRANSFORMS, sample=5)
    again = profile_records(list(records), FakeAnalyzer(analyze.table), TRANSFORMS, sample=5)
    assert first == again and first.records == 5
    assert [f.path for f in first.fields] == ["customer_name", "email"]  # sorted; record 6 not read
    assert profile_records(records, analyze, TRANSFORMS, sample=2).records == 2
    with pytest.raises(ValueError):
        profile_records(records, analyze, TRANSFORMS, sample=0)


def test_the_yaml_block_pastes_into_a_policy_with_the_same_rules():
    analyze = FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS})
    records = _records(customer_name=NAMES, email=EMAILS, card=["4111 1111 1111 1111"] * 5,
                       ticket_id=[f"T-{i}" for i in range(5)])
    profile = profile_records(records, analyze, TRANSFORMS)
    block = yaml.safe_load(profile.fields_yaml(TRANSFORMS))
    pasted = Transforms.model_validate({**TRANSFORMS.model_dump(), "fields": block["fields"]})
    assert pasted.fields == profile.rules(TRANSFORMS)
    assert set(pasted.fields) == {"customer_name", "email", "card"}
    assert "# ticket_id: inspected" in profile.fields_yaml(TRANSFORMS)


def test_the_profile_holds_no_values_and_pickles():
    analyze = FakeAnalyzer({n: ("PERSON",) for n in NAMES})
    profile = profile_records(_records(customer_name=NAMES, email=EMAILS), analyze, TRANSFORMS)
    blob = pickle.dumps(profile) + repr(profile.as_manifest(TRANSFORMS)).encode() + profile.text(
        TRANSFORMS).encode() + profile.fields_yaml(TRANSFORMS).encode()
    for value in NAMES + EMAILS + [n.split()[0] for n in NAMES]:
        assert value.encode() not in blob
    assert pickle.loads(pickle.dumps(profile)) == profile


def test_profiled_policy_adds_rules_and_the_policys_own_win():
    @dataclass
    class FakePolicy:
        document: PolicyDocument
        name: str = "p"
        identity: str = "id"

    doc = PolicyDocument.model_validate({
        "apiVersion": "redactline.dev/v1", "kind": "RedactionPolicy",
        "metadata": {"name": "p", "version": "1.0.0"},
        "transforms": {"entities": {"PERSON": "pseudonym"}, "fields": {"email": "keep"}},
    })
    analyze = FakeAnalyzer({e: ("EMAIL_ADDRESS",) for e in EMAILS})
    profile = profile_records(_records(customer_name=NAMES, email=EMAILS), analyze, doc.transforms)
    view = ProfiledPolicy(FakePolicy(doc), profile)
    fields = {p: s.type for p, s in view.document.transforms.fields.items()}
    assert fields == {"customer_name": "pseudonym", "email": "keep"}
    assert view.identity == "id" and view.name == "p"
    assert doc.transforms.fields.keys() == {"email"}  # the policy's own document is untouched


def test_evidence_comes_from_the_first_distinct_values_with_their_weight():
    values = ["DE"] * 10 + [f"x{i}@example.org" for i in range(20)]
    analyze = FakeAnalyzer({v: ("EMAIL_ADDRESS",) for v in values if "@" in v})
    field = profile_records(_records(contact=values), analyze, TRANSFORMS, evidence=5).fields[0]
    assert field.analysed == 5 and len(analyze.seen) == 5  # "DE" once, then the first 4 emails
    assert field.share == round(4 / 14, 4)  # 10 x "DE" + 4 emails analysed


def test_a_field_whose_name_holds_pii_is_not_profiled_and_never_shown():
    name = "zebulon.q@rtleak.com"
    analyze = FakeAnalyzer({name: ("EMAIL_ADDRESS",), **{e: ("EMAIL_ADDRESS",) for e in EMAILS}})
    records = [{"email": e, name: e} for e in EMAILS]
    profile = profile_module.profile_records(records, analyze, TRANSFORMS)
    assert [f.path for f in profile.fields] == ["email"] and profile.withheld_names == 1
    shown = [profile.text(TRANSFORMS), profile.fields_yaml(TRANSFORMS), str(profile.as_manifest(TRANSFORMS))]
    assert all("zebulon" not in text for text in shown)
    assert name not in profile.rules(TRANSFORMS)  # no rule is made under the raw name


def test_raw_header_names_with_spaces_or_dots_get_whole_field_rules_the_engine_applies():
    # CSV headers are often not policy field paths ("Full Name", "tel."); the rule must still apply.
    from pathlib import Path

    from redactline.policies import load_policy

    names = ["Qarvil Ostendorp", "Mibrek Salvaje", "Tunde Ashgrove"]
    records = [{"Full Name": n, "tel.": "+44 20 7946 0018", "note": "ok"} for n in names]
    profile = profile_records(records, FakeAnalyzer({"+44 20 7946 0018": ("PHONE_NUMBER",)}), TRANSFORMS)
    assert set(profile.rules(TRANSFORMS)) == {"Full Name", "tel."}
    assert '"Full Name": {type: pseudonym' in profile.fields_yaml(TRANSFORMS)  # the key is quoted
    library = Path(__file__).resolve().parents[2] / "policies" / "library"
    engine = profile_module.profiled_engine(load_policy(library / "general-pii.yaml", environ={}), profile)
    record = {"Full Name": "Qarvil Ostendorp", "tel.": "0113 496 0000", "note": "ok"}
    out = engine.redact_record(record).record
    assert "Qarvil" not in str(out) and "Ostendorp" not in str(out) and "0113 496" not in str(out)
