"""``policy diff`` on external_api egress controls: loosening is flagged for review."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from redactline.policies.diff import Change, diff_policies
from redactline.policies.schema import PolicyDocument

LLM: dict[str, Any] = {
    "kind": "external_api",
    "region": "us-east-1",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "url": "https://api.openai.com/v1",
    "prompt": {"template": "{notes}"},
    "never_send": ["US_SSN", "MEDICAL_LICENSE"],
    "allowed_entities": ["PERSON", "EMAIL_ADDRESS"],
    "jurisdictions": ["DE", "FR"],
}
BASE: dict[str, Any] = {
    "apiVersion": "redactline.dev/v1",
    "kind": "RedactionPolicy",
    "metadata": {"name": "egress-diff", "version": "1.0.0"},
    "destinations": {"llm": LLM},
}


def change(**edit: Any) -> Change:
    new = copy.deepcopy(BASE)
    new["metadata"]["version"] = "2.0.0"
    new["destinations"]["llm"].update(edit)
    changes = [
        c
        for c in diff_policies(PolicyDocument.model_validate(BASE), PolicyDocument.model_validate(new))
        if c.section == "destinations"
    ]
    assert len(changes) == 1, changes
    return changes[0]


@pytest.mark.parametrize(
    ("edit", "effect", "note"),
    [
        ({"never_send": ["US_SSN"]}, "loosening", "never_send no longer holds MEDICAL_LICENSE"),
        ({"never_send": ["US_SSN", "MEDICAL_LICENSE", "IBAN_CODE"]}, "tightening", "now holds IBAN_CODE"),
        ({"allowed_entities": None}, "loosening", "allowed_entities restriction removed"),
        ({"allowed_entities": ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"]}, "loosening", "+PHONE_NUMBER"),
        ({"allowed_entities": ["PERSON"]}, "tightening", "allowed_entities narrowed: -EMAIL_ADDRESS"),
        ({"jurisdictions": None}, "loosening", "jurisdictions restriction removed"),
        ({"jurisdictions": ["EU"]}, "loosening", "jurisdictions widened"),
        ({"jurisdictions": ["DE"]}, "tightening", "jurisdictions narrowed: -FR"),
        ({"jurisdictions": ["FR", "DE"]}, "neutral", "same meaning"),
        ({"model": "gpt-4o"}, "neutral", "model changed"),
        ({"prompt": {"template": "{record}"}}, "neutral", "prompt changed"),
        ({"never_send": ["US_SSN"], "jurisdictions": ["DE"]}, "loosening", "mixed"),
    ],
)
def test_egress_control_changes(edit: dict[str, Any], effect: str, note: str) -> None:
    got = change(**edit)
    assert got.effect == effect
    assert note in got.note


def test_new_external_destination_is_loosening() -> None:
    new = copy.deepcopy(BASE)
    new["destinations"]["other"] = {**LLM, "provider": "anthropic", "url": "https://api.anthropic.com"}
    changes = diff_policies(PolicyDocument.model_validate(BASE), PolicyDocument.model_validate(new))
    (added,) = [c for c in changes if c.subject == "other"]
    assert added.effect == "loosening"
