"""Transform operators: YAML shapes, each operator on real inputs, determinism, keys, fail-closed paths."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import os
import pickle
import re
from datetime import date

import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ValidationError

from redactline.policies.keys import Key
from redactline.policies.operators import (
    FIELD_ONLY,
    RESTRICTED_ZIP3,
    TOKEN_PATTERN,
    DateShiftOp,
    GeneralizeOp,
    HashOp,
    MaskOp,
    OperatorError,
    OperatorSpec,
    RecordContext,
    TokenizeOp,
    apply_operator,
    date_shift_days,
    detokenize,
    detokenize_text,
    parse_date,
    parse_operator,
    required_key,
)

KEYS = {"a": Key("a", os.urandom(32)), "b": Key("b", os.urandom(32))}


def run(spec: object, value: str, entity: str = "PERSON", ctx: RecordContext | None = None, keys=KEYS) -> str:
    return apply_operator(parse_operator(spec), value, entity, ctx or RecordContext(), keys)


# --- shapes ----------------------------------------------------------------------------------------


class _Transforms(BaseModel):
    entities: dict[str, OperatorSpec]


def test_yaml_accepts_bare_names_and_mappings() -> None:
    doc = yaml.safe_load(
        """
        entities:
          PERSON: pseudonym
          LOCATION: redact
          EMAIL_ADDRESS: {type: hash, key: a, length: 20}
          CREDIT_CARD: {type: mask, keep_first: 6, keep_last: 4, only_digits: true}
        """
    )
    parsed = _Transforms.model_validate(doc).entities
    assert parsed["PERSON"].type == "pseudonym"
    assert parsed["LOCATION"].type == "redact"
    assert isinstance(parsed["EMAIL_ADDRESS"], HashOp) and parsed["EMAIL_ADDRESS"].length == 20
    assert isinstance(parsed["CREDIT_CARD"], MaskOp) and parsed["CREDIT_CARD"].keep_first == 6
    assert parse_operator("mask") == parse_operator({"type": "mask"})


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        {"type": "nope"},
        "hash",  # needs a key
        {"type": "redact", "extra": 1},
        {"type": "mask", "char": "**"},
        {"type": "mask", "char": ""},
        {"type": "hash", "key": "a", "length": 7},
        {"type": "hash", "key": "a", "length": 65},
        {"type": "hash", "key": "a", "format": "<{entity_type}>"},  # no {hash}
        {"type": "hash", "key": "a", "format": "{hash}{value}"},  # unknown field
        {"type": "tokenize", "key": "a", "label": "person"},
        {"type": "tokenize", "key": "a", "label": "X PERSON"},
        {"type": "generalize", "to": "zip5"},
        {"type": "date_shift", "key": "a", "max_days": 0},
        42,
    ],
)
def test_bad_specs_are_rejected(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_operator(bad)


def test_json_schema_can_be_generated() -> None:
    schema = _Transforms.model_json_schema()
    assert "HashOp" in schema["$defs"] and "GeneralizeOp" in schema["$defs"]


def test_required_key() -> None:
    assert required_key(parse_operator({"type": "hash", "key": "a"})) == "a"
    assert required_key(parse_operator({"type": "tokenize", "key": "b"})) == "b"
    assert required_key(parse_operator({"type": "date_shift", "key": "a"})) == "a"
    for name in ("keep", "redact", "replace", "mask", "pseudonym", "inspect", "drop_field"):
        assert required_key(parse_operator(name)) is None


# --- simple operators ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["John Smith", "Zoë Ångström", "", "李小龍"])
def test_keep_redact_replace(value: str) -> None:
    assert run("keep", value) == value
    assert run("redact", value) == ""
    assert run("replace", value, "PERSON") == "<PERSON>"
    assert run({"type": "replace", "new_value": "[name]"}, value) == "[name]"


def test_field_only_operators_refuse_apply() -> None:
    for name in FIELD_ONLY:
        with pytest.raises(OperatorError, match=name):
            run(name, "John Smith")


# --- mask ------------------------------------------------------------------------------------------


def test_mask_all_and_unicode() -> None:
    assert run("mask", "Zoë") == "***"
    assert run("mask", "") == ""
    assert run({"type": "mask", "char": "#", "count": 2}, "李小龍") == "##龍"
    assert run({"type": "mask", "char": "#", "count": 2, "from_end": True}, "李小龍") == "李##"


def test_mask_pci_card_with_separators() -> None:
    spec = {"type": "mask", "keep_first": 6, "keep_last": 4, "only_digits": True}
    card = "4111-1111-1111-1234"
    out = run(spec, card)
    assert out == "4111-11**-****-1234"
    digits = [c for c in out if c.isdigit()]
    assert "".join(digits[:6]) == "411111" and "".join(digits[-4:]) == "1234"
    assert out.count("*") == 16 - 10
    assert run(spec, "4111 1111 1111 1234") == "4111 11** **** 1234"
    assert run(spec, "4111111111111234") == "411111******1234"


def test_mask_keep_counts_characters_without_only_digits() -> None:
    assert run({"type": "mask", "keep_first": 2, "keep_last": 1}, "a-b-c-d") == "a-****d"


def test_mask_never_shows_a_short_value_whole() -> None:
    spec = {"type": "mask", "keep_first": 6, "keep_last": 4, "only_digits": True}
    assert run(spec, "12-34") == "**-**"


# --- hash ------------------------------------------------------------------------------------------


def _reference_hmac(key: Key, value: str) -> str:
    subkey = HKDF(hashes.SHA256(), 32, salt=None, info=b"redactline/v1/hmac").derive(key.material)
    return hmac.new(subkey, value.encode(), hashlib.sha256).hexdigest()


def test_hash_matches_reference_hmac_over_derived_key() -> None:
    out = run({"type": "hash", "key": "a"}, "jane@example.com", "EMAIL_ADDRESS")
    assert out == f"<EMAIL_ADDRESS:{_reference_hmac(KEYS['a'], 'jane@example.com')[:16]}>"


def test_hash_does_not_use_master_key_directly() -> None:
    direct = hmac.new(KEYS["a"].material, b"x", hashlib.sha256).hexdigest()[:16]
    assert direct not in run({"type": "hash", "key": "a"}, "x")


def test_hash_deterministic_keyed_and_sized() -> None:
    spec = {"type": "hash", "key": "a", "length": 32, "format": "{hash}"}
    first = run(spec, "Zoë Ångström")
    assert first == run(spec, "Zoë Ångström")
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != run({**spec, "key": "b"}, "Zoë Ångström")
    assert first != run(spec, "Zoe Angstrom")
    assert re.fullmatch(r"[0-9a-f]{32}", run(spec, ""))


def test_hash_normalizes_unicode_composition() -> None:
    spec = {"type": "hash", "key": "a"}
    assert run(spec, "Zo\u00eb") == run(spec, "Zoe\u0308")


def test_missing_key_is_a_clear_error_without_the_value() -> None:
    for spec in (
        {"type": "hash", "key": "nope"},
        {"type": "tokenize", "key": "nope"},
        {"type": "date_shift", "key": "nope"},
    ):
        with pytest.raises(OperatorError) as info:
            run(spec, "2021-03-04 Jane Roe")
        assert "'nope'" in str(info.value)
        assert "Jane" not in str(info.value) and "2021" not in str(info.value)


# --- tokenize --------------------------------------------------------------------------------------


def test_tokenize_round_trip_through_free_text() -> None:
    spec = {"type": "tokenize", "key": "a"}
    person = run(spec, "Zoë Ångström", "PERSON")
    ssn = run(spec, "078-05-1120", "US_SSN")
    assert person.startswith("PERSON_TOK(") and ssn.startswith("US_SSN_TOK(")
    assert "Zo" not in person and "1120" not in ssn
    text = f"call {person} now, SSN {ssn}."
    assert [m.group(1) for m in TOKEN_PATTERN.finditer(text)] == ["PERSON", "US_SSN"]
    assert detokenize_text(text, KEYS, "a") == "call Zoë Ångström now, SSN 078-05-1120."


def test_tokenize_is_deterministic_and_keyed() -> None:
    spec = {"type": "tokenize", "key": "a"}
    assert run(spec, "Jane Roe") == run(spec, "Jane Roe")
    assert run(spec, "Jane Roe") != run({**spec, "key": "b"}, "Jane Roe")
    assert run(spec, "Jane Roe") != run(spec, "Jane Rof")


def test_tokenize_empty_string_and_custom_label() -> None:
    token = run({"type": "tokenize", "key": "a", "label": "NAME"}, "", "PERSON")
    assert token.startswith("NAME_TOK(")
    assert detokenize_text(f"[{token}]", KEYS, "a") == "[]"


def test_tokenize_payload_is_lower_base32_without_padding() -> None:
    token = run({"type": "tokenize", "key": "a"}, "Jane Roe")
    payload = TOKEN_PATTERN.fullmatch(token).group(2)
    assert re.fullmatch(r"[a-z2-7]+", payload)
    raw = base64.b32decode(payload.upper() + "=" * (-len(payload) % 8))
    assert len(raw) == 16 + len(b"Jane Roe")  # SIV tag + ciphertext


def test_tokenize_rejects_entity_types_that_cannot_be_labels() -> None:
    with pytest.raises(OperatorError) as info:
        run({"type": "tokenize", "key": "a"}, "Jane Roe", "person name")
    assert "Jane" not in str(info.value)


def _flip(token: str) -> str:
    m = TOKEN_PATTERN.fullmatch(token)
    payload = m.group(2)
    swapped = payload[:5] + ("a" if payload[5] != "a" else "b") + payload[6:]
    return f"{m.group(1)}_TOK({swapped})"


def test_token_tampering_is_detected() -> None:
    good = run({"type": "tokenize", "key": "a"}, "Jane Roe", "PERSON")
    relabeled = "LOCATION" + good[len("PERSON") :]
    truncated = good[:-3] + ")"
    text = f"{good} | {_flip(good)} | {relabeled} | {truncated}"
    result = detokenize(text, KEYS, "a")
    assert result.restored == 1 and result.rejected == 3
    assert result.text == f"Jane Roe | {_flip(good)} | {relabeled} | {truncated}"
    assert "Jane Roe" not in repr(result)
    with pytest.raises(OperatorError, match="3 token") as info:
        detokenize_text(text, KEYS, "a", strict=True)
    assert "Jane" not in str(info.value)


def test_token_from_another_key_is_not_restored() -> None:
    token = run({"type": "tokenize", "key": "b"}, "Jane Roe")
    assert detokenize_text(token, KEYS, "a") == token
    with pytest.raises(OperatorError):
        detokenize_text(token, KEYS, "missing")


# --- pseudonym -------------------------------------------------------------------------------------


def test_pseudonyms_are_consistent_per_record_and_numbered_per_type() -> None:
    ctx = RecordContext()
    outs = [
        run("pseudonym", v, t, ctx)
        for v, t in [
            ("Jane Roe", "PERSON"),
            ("Zoë", "PERSON"),
            ("Jane Roe", "PERSON"),
            ("Paris", "LOCATION"),
            ("Jane Roe", "LOCATION"),
        ]
    ]
    assert outs == ["<PERSON_1>", "<PERSON_2>", "<PERSON_1>", "<LOCATION_1>", "<LOCATION_2>"]
    assert dict(ctx.vault) == {
        "<PERSON_1>": "Jane Roe",
        "<PERSON_2>": "Zoë",
        "<LOCATION_1>": "Paris",
        "<LOCATION_2>": "Jane Roe",
    }
    assert run("pseudonym", "Zoë", "PERSON", RecordContext()) == "<PERSON_1>"  # a new record starts over


def test_record_context_keeps_originals_private() -> None:
    ctx = RecordContext(subject="patient-7")
    ctx.placeholder_for("PERSON", "Jane Roe")
    assert "Jane" not in repr(ctx)
    with pytest.raises(TypeError):
        ctx.vault["<PERSON_1>"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        pickle.dumps(ctx)
    with pytest.raises(TypeError):
        copy.deepcopy(ctx)


# --- date_shift ------------------------------------------------------------------------------------

DATE_FORMATS = {
    "2021-03-04": r"\d{4}-\d{2}-\d{2}",
    "03/04/2021": r"\d{2}/\d{2}/\d{4}",
    "4 March 2021": r"\d{1,2} [A-Z][a-z]+ \d{4}",
    "March 4, 2021": r"[A-Z][a-z]+ \d{1,2}, \d{4}",
    "2021/03/04": r"\d{4}/\d{2}/\d{2}",
    "2021-03-04T10:20:30Z": r"\d{4}-\d{2}-\d{2}T10:20:30Z",
}


@pytest.mark.parametrize(("value", "shape"), DATE_FORMATS.items())
def test_date_shift_preserves_format_and_is_consistent_per_subject(value: str, shape: str) -> None:
    spec = {"type": "date_shift", "key": "a", "max_days": 200}
    ctx = RecordContext(subject="patient-7")
    out = run(spec, value, "DATE_TIME", ctx)
    assert re.fullmatch(shape, out), out
    shifted = parse_date(out).value
    delta = (shifted - date(2021, 3, 4)).days
    assert delta == date_shift_days(KEYS["a"], "patient-7", 200)
    assert delta != 0 and -200 <= delta <= 200
    # Same subject in another record: same shift. Same input: same output.
    assert run(spec, value, "DATE_TIME", RecordContext(subject="patient-7")) == out


def test_date_shift_is_one_shift_per_subject_across_formats() -> None:
    spec = {"type": "date_shift", "key": "a"}
    ctx = RecordContext(subject="s1")
    deltas = {
        (parse_date(run(spec, v, "DATE_TIME", ctx)).value - date(2021, 3, 4)).days for v in DATE_FORMATS
    }
    assert len(deltas) == 1


def test_date_shift_differs_by_subject_and_key() -> None:
    shifts = {date_shift_days(KEYS["a"], f"subject-{i}", 365) for i in range(40)}
    assert len(shifts) > 30  # spread, not a constant
    assert all(s != 0 and -365 <= s <= 365 for s in shifts)
    assert date_shift_days(KEYS["a"], None, 365) == date_shift_days(KEYS["a"], None, 365)
    assert [date_shift_days(KEYS["a"], f"s{i}", 365) for i in range(8)] != [
        date_shift_days(KEYS["b"], f"s{i}", 365) for i in range(8)
    ]


def test_date_shift_keeps_style_details() -> None:
    spec = {"type": "date_shift", "key": "a"}
    ctx = RecordContext(subject="s1")
    assert re.fullmatch(
        r"\d{1,2}(st|nd|rd|th) of [A-Z][a-z]{2}\. \d{4}", run(spec, "4th of Mar. 2021", "D", ctx)
    )
    assert re.fullmatch(r"[A-Z]+ \d{1,2} \d{4}", run(spec, "MARCH 4 2021", "D", ctx))
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", run(spec, "3/4/2021", "D", ctx))
    assert re.fullmatch(r"  \d{4}-\d{2}-\d{2}\n", run(spec, "  2021-03-04\n", "D", ctx))


def test_date_shift_day_first() -> None:
    ctx = RecordContext(subject="s1")
    out = run({"type": "date_shift", "key": "a", "day_first": True}, "04/03/2021", "D", ctx)
    day, month, year = (int(x) for x in out.split("/"))
    assert (date(year, month, day) - date(2021, 3, 4)).days == date_shift_days(KEYS["a"], "s1", 365)


@pytest.mark.parametrize(
    "value",
    ["", "yesterday", "2021-02-30", "13/45/2021", "03/04/21", "Thursday, March 4, 2021", "Smarch 4, 2021"],
)
def test_date_shift_fails_closed(value: str) -> None:
    assert run({"type": "date_shift", "key": "a"}, value, "DATE_TIME") == "<DATE_TIME>"


# --- generalize ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("02139", "021"), ("02139-4307", "021"), ("021394307", "021"), (" 94105 ", "941"), ("10001", "100")],
)
def test_generalize_zip3(value: str, expected: str) -> None:
    assert run({"type": "generalize", "to": "zip3"}, value, "ZIP_CODE") == expected


def test_generalize_zip3_restricted_prefixes() -> None:
    published = [
        "036",
        "059",
        "063",
        "102",
        "203",
        "556",
        "692",
        "790",
        "821",
        "823",
        "830",
        "831",
        "878",
        "879",
        "884",
        "890",
        "893",
    ]
    assert set(published) == RESTRICTED_ZIP3
    for prefix in published:
        assert run({"type": "generalize", "to": "zip3"}, prefix + "42", "ZIP_CODE") == "000"
        assert run({"type": "generalize", "to": "zip3"}, prefix + "42-1234", "ZIP_CODE") == "000"


@pytest.mark.parametrize("value", ["", "0213", "021390", "ABCDE", "02139-12", "SW1A 1AA", "０２１３９"])
def test_generalize_zip3_fails_closed(value: str) -> None:
    assert run({"type": "generalize", "to": "zip3"}, value, "ZIP_CODE") == "<ZIP_CODE>"


@pytest.mark.parametrize(
    "value",
    ["2021-03-04", "03/04/2021", "4 March 2021", "March 4, 2021", "2021/03/04", "2021-03-04T10:20:30Z",
     "2021", "2021-03", "March 2021", "Sept. 2021"],
)  # fmt: skip
def test_generalize_year(value: str) -> None:
    assert run({"type": "generalize", "to": "year"}, value, "DATE_TIME") == "2021"


@pytest.mark.parametrize("value", ["", "last spring", "2021-13", "2021-02-30", "Smarch 2021", "21"])
def test_generalize_year_fails_closed(value: str) -> None:
    assert run({"type": "generalize", "to": "year"}, value, "DATE_TIME") == "<DATE_TIME>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "0"), ("45", "45"), ("89", "89"), ("89.9", "89.9"), ("90", "90+"), ("104", "90+")],
)
def test_generalize_age90(value: str, expected: str) -> None:
    assert run({"type": "generalize", "to": "age90"}, value, "AGE") == expected


@pytest.mark.parametrize("value", ["", "ninety", "-5", "1000", "45 years", "٩٥"])
def test_generalize_age90_fails_closed(value: str) -> None:
    assert run({"type": "generalize", "to": "age90"}, value, "AGE") == "<AGE>"


# --- spec objects are usable directly ----------------------------------------------------------------


def test_spec_models_construct_directly() -> None:
    ctx = RecordContext()
    assert apply_operator(GeneralizeOp(to="year"), "2021-03-04", "DATE_TIME", ctx, KEYS) == "2021"
    assert apply_operator(TokenizeOp(key="a"), "x", "PERSON", ctx, KEYS).startswith("PERSON_TOK(")
    with pytest.raises(OperatorError):
        apply_operator(DateShiftOp(key="a"), "2021-03-04", "DATE_TIME", ctx, {})
    assert HashOp(key="a").key_name == "a"
