"""Egress controls (never_send, allowed_entities, jurisdictions) and external_api destination validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from redactline.policies import PolicyError, load_policy
from redactline.policies.destinations import DestinationConfig
from redactline.policies.egress import (
    ENTITY_NOT_ALLOWED,
    JURISDICTION_NOT_ALLOWED,
    NEVER_SEND_ENTITY,
    UNKNOWN_JURISDICTION,
    check_egress,
)
from redactline.policies.engine import Finding
from redactline.policies.loader import canonical_json
from redactline.policies.schema import PolicyDocument

EXTERNAL: dict[str, Any] = {
    "kind": "external_api",
    "region": "us-east-1",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "url": "https://api.openai.com/v1",
    "api_key_env": "OPENAI_API_KEY",
    "prompt": {"template": "Summarise: {notes}"},
}


def dest(**changes: Any) -> DestinationConfig:
    return DestinationConfig.model_validate({**EXTERNAL, **changes})


def finding(entity_type: str) -> Finding:
    return Finding(entity_type, 0, 1, 0.9, "test", "pseudonym")


@dataclass(frozen=True)
class Typed:  # any object with entity_type will do
    entity_type: str


# --- check_egress -------------------------------------------------------------------------------------------


def test_unrestricted_destination_allows_everything() -> None:
    decision = check_egress(dest(), None, [finding("PERSON"), finding("US_SSN")])
    assert decision.allowed and decision.reason is None


def test_never_send_holds_record_and_names_types_only() -> None:
    d = dest(never_send=["US_SSN", "MEDICAL_LICENSE"])
    decision = check_egress(d, "US", [finding("PERSON"), finding("US_SSN"), finding("US_SSN")])
    assert not decision.allowed
    assert decision.reason == NEVER_SEND_ENTITY
    assert decision.detail == "entity types that may never leave: US_SSN"
    assert check_egress(d, "US", [finding("PERSON")]).allowed
    assert check_egress(d, "US", []).allowed


def test_allow_list() -> None:
    d = dest(allowed_entities=["PERSON", "EMAIL_ADDRESS"])
    assert check_egress(d, None, [finding("PERSON"), Typed("EMAIL_ADDRESS")]).allowed
    decision = check_egress(d, None, [finding("PERSON"), finding("PHONE_NUMBER"), finding("C++(X)")])
    assert (decision.allowed, decision.reason) == (False, ENTITY_NOT_ALLOWED)
    assert "C++(X), PHONE_NUMBER" in decision.detail
    assert check_egress(dest(allowed_entities=[]), None, []).allowed
    assert not check_egress(dest(allowed_entities=[]), None, [finding("PERSON")]).allowed


def test_never_send_checked_before_allow_list() -> None:
    d = dest(never_send=["US_SSN"], allowed_entities=["PERSON"])
    assert check_egress(d, None, [finding("US_SSN"), finding("IBAN_CODE")]).reason == NEVER_SEND_ENTITY


@pytest.mark.parametrize(
    ("allowed", "jurisdiction", "ok"),
    [
        (["EU"], "DE", True),
        (["EU"], "de", True),
        (["EU"], "EU", True),
        (["DE"], "EU", False),  # only known to be from the EU: maybe not Germany
        (["EU"], "CH", False),
        (["EEA"], "NO", True),
        (["US", "GB"], "UK", True),  # alias
        ([], "US", False),
    ],
)
def test_jurisdictions(allowed: list[str], jurisdiction: str, ok: bool) -> None:
    decision = check_egress(dest(jurisdictions=allowed), jurisdiction, [])
    assert decision.allowed is ok
    if not ok:
        assert decision.reason == JURISDICTION_NOT_ALLOWED


@pytest.mark.parametrize("jurisdiction", [None, "", "Atlantis", "XX"])
def test_unknown_jurisdiction_fails_closed_when_restricted(jurisdiction: str | None) -> None:
    decision = check_egress(dest(jurisdictions=["EU"]), jurisdiction, [])
    assert (decision.allowed, decision.reason) == (False, UNKNOWN_JURISDICTION)
    assert check_egress(dest(), jurisdiction, []).allowed  # unrestricted: residency decides, not egress


def test_jurisdiction_checked_before_entities() -> None:
    d = dest(jurisdictions=["US"], never_send=["PERSON"])
    assert check_egress(d, "FR", [finding("PERSON")]).reason == JURISDICTION_NOT_ALLOWED


def test_enclave_destination_has_no_egress_restrictions() -> None:
    enclave = DestinationConfig(kind="enclave", region="eu-central-1")
    assert check_egress(enclave, None, [finding("US_SSN")]).allowed


# --- DestinationConfig validation ---------------------------------------------------------------------------


def test_external_api_defaults_and_normalisation() -> None:
    d = dest(jurisdictions=["eu", "DE", "uk"], never_send=["US_SSN", "US_SSN"])
    assert (d.max_tokens, d.timeout_s, d.max_concurrency, d.max_retries) == (1024, 60.0, 4, 4)
    assert d.jurisdictions == ["EU", "DE", "GB"]
    assert d.never_send == ["US_SSN"]
    assert d.allowed_entities is None
    assert dest(provider="anthropic", url="https://api.anthropic.com").provider == "anthropic"
    assert dest(url="http://127.0.0.1:8080/v1", api_key_env=None).api_key_env is None


def errors(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        DestinationConfig.model_validate(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"provider": None}, "provider: required for kind external_api"),
        ({"model": None, "prompt": None}, "model, prompt: required"),
        ({"url": None}, "url: required"),
        ({"provider": "cohere"}, "provider"),
        ({"url": "ftp://api.example.com"}, "url: an external_api base URL must be an absolute http(s) URL"),
        ({"url": "http://api.openai.com/v1"}, "url: plain http is allowed only for loopback"),
        ({"url": "https://user:pw@api.openai.com/v1"}, "url: must not carry credentials"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"jurisdictions": ["EU", "Narnia"]}, "unknown jurisdiction 'Narnia'"),
        ({"never_send": ["PERSON"], "allowed_entities": ["PERSON"]}, "PERSON also listed in never_send"),
        ({"never_send": [" "]}, "entity types must not be empty"),
        ({"prompt": {"template": "{name!r}"}}, "prompt.template"),
        ({"prompt": {"template": "ok {x}", "system": "bad {"}}, "prompt.system"),
        ({"prompt": {"template": ""}}, "prompt.template"),
        ({"api_key": "x"}, "api_key"),
    ],
)
def test_external_api_errors_name_the_field(change: dict[str, Any], expected: str) -> None:
    data = {k: v for k, v in {**EXTERNAL, **change}.items() if v is not None}
    assert expected in errors(data)


def test_inline_key_is_refused_and_not_echoed() -> None:
    secret = "sk-proj-abcdef0123456789"
    message = errors({**EXTERNAL, "api_key_env": secret})
    assert "api_key_env" in message and "NAME of an environment variable" in message
    assert secret not in message


def test_external_settings_refused_on_enclave() -> None:
    message = errors({"kind": "enclave", "region": "eu-central-1", "never_send": ["US_SSN"], "model": "m"})
    assert "model, never_send: only meaningful for kind external_api" in message
    # defaults do not count as set
    DestinationConfig.model_validate({"kind": "enclave", "region": "eu-central-1", "url": "https://e:8443"})


def test_enclave_canonical_form_unchanged() -> None:
    # the policy hash of existing policies must not move because external_api settings exist: settings
    # holding their defaults are left out of the canonical form (test_identity.py freezes the rule)
    data = {
        "apiVersion": "redactline.dev/v1",
        "kind": "RedactionPolicy",
        "metadata": {"name": "d", "version": "1.0.0"},
        "destinations": {"e": {"kind": "enclave", "region": "eu-central-1"}},
    }
    canonical = canonical_json(PolicyDocument.model_validate(data))
    assert '"e":{"kind":"enclave","region":"eu-central-1"}' in canonical


def test_policy_file_errors_name_file_line_and_field(tmp_path: Path) -> None:
    body = (
        "apiVersion: redactline.dev/v1\n"
        "kind: RedactionPolicy\n"
        "metadata: {name: d, version: 1.0.0}\n"
        "destinations:\n"
        "  llm:\n"
        "    kind: external_api\n"
        "    region: us-east-1\n"
        "    provider: openai\n"
        "    model: gpt-4o-mini\n"
        "    url: https://api.openai.com/v1\n"
        "    prompt:\n"
        "      template: 'Hello {name'\n"
        "    jurisdictions: [EU, Mordor]\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    text = str(info.value)
    assert f"{path}:12: destinations.llm.prompt.template: unclosed '{{'" in text
    assert f"{path}:13: destinations.llm.jurisdictions: unknown jurisdiction 'Mordor'" in text


def test_policy_file_with_external_destination_loads(tmp_path: Path) -> None:
    body = (
        "apiVersion: redactline.dev/v1\n"
        "kind: RedactionPolicy\n"
        "metadata: {name: d, version: 1.0.0}\n"
        "destinations:\n"
        "  llm:\n"
        "    kind: external_api\n"
        "    region: us-east-1\n"
        "    provider: anthropic\n"
        "    model: claude-sonnet-4-5\n"
        "    url: https://api.anthropic.com\n"
        "    api_key_env: ANTHROPIC_API_KEY\n"
        "    prompt: {system: 'You are terse.', template: 'Summarise {notes}'}\n"
        "    never_send: [US_SSN]\n"
        "    jurisdictions: [US]\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    llm = load_policy(path).destinations["llm"]
    assert llm.provider == "anthropic" and llm.prompt is not None and llm.prompt.system == "You are terse."
