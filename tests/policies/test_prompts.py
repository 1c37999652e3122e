"""Prompt templates: dotted fields, {record}, escaped braces, no format-string tricks, PII-free errors."""

from __future__ import annotations

import json

import pytest

from redactline.policies.prompts import PromptError, render_prompt, template_fields

RECORD = {
    "id": 7,
    "name": "<PERSON_1>",
    "customer": {"email": "<EMAIL_ADDRESS_1>", "vip": True, "tags": ["a", "b"]},
    "notes": None,
    "_redactline": {"policy": "p", "sha256": "0" * 64},
}


def test_fields_and_dotted_paths() -> None:
    out = render_prompt("Ticket {id} from {name} ({customer.email}), vip={customer.vip}", RECORD)
    assert out == "Ticket 7 from <PERSON_1> (<EMAIL_ADDRESS_1>), vip=true"


def test_nested_values_render_as_json_and_null_as_empty() -> None:
    assert render_prompt("{customer.tags}|{notes}|", RECORD) == '["a", "b"]||'


def test_record_is_json_without_lineage() -> None:
    out = render_prompt("Data: {record}", RECORD)
    data = json.loads(out.removeprefix("Data: "))
    assert "_redactline" not in data
    assert data["customer"]["email"] == "<EMAIL_ADDRESS_1>"


def test_escaped_braces() -> None:
    out = render_prompt('Reply as {{"answer": ...}} for {name}', RECORD)
    assert out == 'Reply as {"answer": ...} for <PERSON_1>'


def test_missing_field_names_the_field_never_a_value() -> None:
    with pytest.raises(PromptError) as info:
        render_prompt("{customer.phone}", RECORD)
    assert "customer.phone" in str(info.value)
    assert "EMAIL" not in str(info.value)
    with pytest.raises(PromptError):
        render_prompt("{name.first}", RECORD)  # name is a string, not a mapping
    with pytest.raises(PromptError, match="metadata"):
        render_prompt("{_redactline.policy}", RECORD)


@pytest.mark.parametrize(
    "template",
    [
        "{name.__class__}",  # parses as a path, but only record keys are looked up, never attributes
        "{name!r}",
        "{name:>10}",
        "{customer[email]}",
        "{}",
        "{ }",
        "open {name",
        "stray } brace",
        "{a{b}}",
        "{0}",
    ],
)
def test_format_tricks_and_bad_syntax_refused(template: str) -> None:
    if template in ("{name.__class__}", "{0}"):
        # a valid dotted path syntactically, but only record keys are ever looked up
        with pytest.raises(PromptError, match="no field"):
            render_prompt(template, RECORD)
        return
    with pytest.raises(PromptError):
        template_fields(template)


def test_template_fields_in_order() -> None:
    assert template_fields("{b} {a.c} {b} {record} {{x}}") == ["b", "a.c", "record"]


def test_values_are_not_reinterpreted() -> None:
    record = {"text": "{record} and {{ and {other}"}
    assert render_prompt("[{text}]", record) == "[{record} and {{ and {other}]"
