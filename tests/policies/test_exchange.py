"""The egress exchange with the real engine: what may leave, each decision, and restoring the answer."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from redactline.policies import Policy, load_policy
from redactline.policies.exchange import EGRESS, RESIDENCY, EgressExchange, Redacted, system_message
from redactline.policies.prompts import PromptError

NAME, EMAIL = "Margaret Sullivan", "margaret.sullivan@example.org"
OTHER, OTHER_EMAIL = "Robert Whitfield", "bob.whitfield@example.net"
CARD = "4111 1111 1111 1111"  # Luhn-valid test card
PII = [NAME, *NAME.split(), EMAIL, OTHER, *OTHER.split(), OTHER_EMAIL, CARD]

API = {"kind": "external_api", "region": "eu-central-1", "provider": "openai", "url": "https://api.example.com/v1",
       "model": "m"}
POLICY = {
    "apiVersion": "redactline.dev/v1",
    "kind": "RedactionPolicy",
    "metadata": {"name": "exchange-test", "version": "1.0.0"},
    "transforms": {"default": "pseudonym", "fields": {"id": "keep"}},
    "residency": {"unknown": "hold", "rules": [{"jurisdictions": ["EU"], "allowed_regions": ["EU"]},
                                               {"jurisdictions": ["US"], "allowed_regions": ["US"]}]},
    "destinations": {
        "gpt": {**API, "prompt": {"template": "Ticket {id}: {name} <{email}> wrote: {notes}",
                                  "system": "Answer ticket {id} briefly."}},
        "plain": {**API, "prompt": {"template": "{notes}", "system": "You are terse."}},
        "templated": {**API, "prompt": {"template": "{notes}", "system": "About {name}"}},
        "strict": {**API, "prompt": {"template": "{notes}"}, "never_send": ["CREDIT_CARD"],
                   "jurisdictions": ["FR"]},
        "narrow": {**API, "prompt": {"template": "{notes}"}, "allowed_entities": ["PERSON"]},
    },
}


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path: Path = tmp_path_factory.mktemp("exchange") / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY, sort_keys=False), encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def engine(policy: Policy) -> Any:
    return policy.engine()


def exchange(policy: Policy, engine: Any, name: str | None = "gpt", **kwargs: Any) -> EgressExchange:
    destination = policy.destinations[name] if name else None
    kwargs.setdefault("residency", policy.residency)
    return EgressExchange(engine, destination, **kwargs)


def record() -> dict[str, Any]:
    return {"id": 7, "name": NAME, "email": EMAIL,
            "notes": f"{NAME} asked us to forward the invoice to {OTHER} ({OTHER_EMAIL})."}


def echo(text: str) -> str:
    """An answer that quotes the placeholders with the case and spacing models use."""
    return text.replace("<PERSON_1>", "< person_1 >").replace("<PERSON_2>", "<Person_2>")


def assert_no_pii(text: str) -> None:
    for value in PII:
        assert value not in text


# --- redact, render, restore ----------------------------------------------------------------------------


def test_record_is_rendered_without_pii_and_restored(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine).redact_record(record())
    assert item.record is not None and item.record["id"] == 7
    prompt = item.render()
    # one context: the same person is <PERSON_1> in the name field and in the notes
    assert prompt.user == ("Ticket 7: <PERSON_1> <<EMAIL_ADDRESS_1>> wrote: <PERSON_1> asked us to forward "
                           "the invoice to <PERSON_2> (<EMAIL_ADDRESS_2>).")
    assert prompt.system == "Answer ticket 7 briefly."
    assert_no_pii(prompt.user)
    answer = item.reidentify(echo(prompt.user))
    assert answer == (f"Ticket 7: {NAME} <{EMAIL}> wrote: {NAME} asked us to forward the invoice to {OTHER} "
                      f"({OTHER_EMAIL}).")
    assert item.entity_counts() == {"EMAIL_ADDRESS": 2, "PERSON": 3}


def test_records_get_one_context_each(policy: Policy, engine: Any) -> None:
    first, second = record(), {"id": 8, "name": OTHER, "email": OTHER_EMAIL, "notes": "no names"}
    items = exchange(policy, engine).redact_records([first, second])
    assert all(isinstance(item, Redacted) for item in items)
    a, b = items
    assert isinstance(a, Redacted) and isinstance(b, Redacted)
    assert a.record is not None and b.record is not None
    assert a.record["name"] == b.record["name"] == "<PERSON_1>"  # a different person in each record
    assert a.reidentify("<PERSON_1>") == NAME and b.reidentify("<PERSON_1>") == OTHER


def test_a_record_the_engine_cannot_redact_comes_back_as_its_exception(policy: Policy, engine: Any) -> None:
    items = exchange(policy, engine).redact_records([record(), "not a mapping", record()])  # type: ignore[list-item]
    assert isinstance(items[0], Redacted) and isinstance(items[2], Redacted)
    assert isinstance(items[1], TypeError)
    assert items[0].render().user == items[2].render().user


def test_a_template_field_the_record_lacks_is_a_prompt_error(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine).redact_record({"id": 1, "notes": f"from {NAME}"})
    with pytest.raises(PromptError, match="name") as info:
        item.render()
    assert NAME not in str(info.value)


def test_texts_share_one_context_and_stream_back(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine, None).redact_texts([f"You help {NAME}.", f"Write to {NAME} at {EMAIL}."])
    assert item.texts == ["You help <PERSON_1>.", "Write to <PERSON_1> at <EMAIL_ADDRESS_1>."]
    answer = "Dear < person_1 >, mail sent to <EMAIL_ADDRESS_1>."
    stream = item.stream()
    pieces = [stream.feed(answer[i : i + 3]) for i in range(0, len(answer), 3)] + [stream.finish()]
    assert "".join(pieces) == item.reidentify(answer) == f"Dear {NAME}, mail sent to {EMAIL}."


def test_prompt_is_the_text_itself_with_the_system_message(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine, "plain").redact_prompt(f"Draft a reply to {NAME} ({EMAIL}).")
    prompt = item.render()
    assert prompt.user == item.text == "Draft a reply to <PERSON_1> (<EMAIL_ADDRESS_1>)."
    assert prompt.system == "You are terse."
    assert item.reidentify("Hi <PERSON_1>") == f"Hi {NAME}"


def test_a_system_message_with_record_fields_cannot_serve_a_prompt(policy: Policy, engine: Any) -> None:
    with pytest.raises(PromptError):
        system_message(policy.destinations["templated"])
    assert system_message(policy.destinations["templated"], {"name": "<PERSON_1>"}) == "About <PERSON_1>"
    assert system_message(policy.destinations["strict"]) is None


def test_redacted_holds_the_vault_and_refuses_pickling(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine).redact_record(record())
    with pytest.raises(TypeError):
        pickle.dumps(item)
    assert_no_pii(repr(item))


def test_without_a_destination_nothing_renders(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine, None).redact_prompt(f"hi {NAME}")
    with pytest.raises(ValueError):
        item.render()


# --- decide ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "jurisdiction", "text", "control", "reason", "resolved"),
    [
        ("gpt", None, f"hi {NAME}", RESIDENCY, "unknown_jurisdiction", None),
        ("gpt", "JP", f"hi {NAME}", RESIDENCY, "no_rule", "JP"),
        ("gpt", "US", f"hi {NAME}", RESIDENCY, "region_not_allowed", "US"),
        ("strict", "DE", f"hi {NAME}", EGRESS, "jurisdiction_not_allowed", "DE"),
        ("strict", "FR", f"refund card {CARD} for {NAME}", EGRESS, "never_send_entity", "FR"),
        ("narrow", "DE", f"write to {NAME} at {EMAIL}", EGRESS, "entity_not_allowed", "DE"),
    ],
)
def test_each_refusal_names_its_control_and_reason(
    policy: Policy, engine: Any, name: str, jurisdiction: str | None, text: str, control: str, reason: str,
    resolved: str | None,
) -> None:
    item = exchange(policy, engine, name).redact_prompt(text)
    decision = item.decide(jurisdiction)
    assert (decision.allowed, decision.control, decision.reason) == (False, control, reason)
    assert decision.jurisdiction == resolved
    assert_no_pii(decision.detail)
    assert bool(decision.detail) is (control == EGRESS)  # residency's reason code says it all


def test_egress_details_name_types_and_codes_only(policy: Policy, engine: Any) -> None:
    card = exchange(policy, engine, "strict").redact_prompt(f"refund card {CARD} for {NAME}").decide("FR")
    assert card.detail == "entity types that may never leave: CREDIT_CARD"
    narrow = exchange(policy, engine, "narrow").redact_prompt(f"write to {NAME} at {EMAIL}").decide("DE")
    assert narrow.detail == "entity types not allowed for this destination: EMAIL_ADDRESS"


def test_egress_refuses_an_unknown_jurisdiction_without_residency(policy: Policy, engine: Any) -> None:
    decision = exchange(policy, engine, "strict", residency=None).redact_prompt("hello").decide(None)
    assert (decision.allowed, decision.control, decision.reason) == (False, EGRESS, "unknown_jurisdiction")


def test_allowed_carries_the_resolved_jurisdiction(policy: Policy, engine: Any) -> None:
    decision = exchange(policy, engine).redact_record(record()).decide("DE")
    assert decision.allowed and decision.reason is None and decision.control is None
    assert decision.jurisdiction == "DE"


def test_region_override_is_what_residency_checks(policy: Policy, engine: Any) -> None:
    item = exchange(policy, engine, region="us-east-1").redact_prompt(f"hi {NAME}")
    assert item.decide("US").allowed
    assert item.decide("DE").reason == "region_not_allowed"


def test_without_a_destination_everything_may_leave(policy: Policy, engine: Any) -> None:
    decision = exchange(policy, engine, None).redact_prompt(f"card {CARD}").decide(None)
    assert decision.allowed and decision.jurisdiction is None
