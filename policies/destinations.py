"""Destinations a policy allows (policy section ``destinations``).

Two kinds:

* ``enclave``: records are sealed to an attested enclave (see ``enclave_sink``); only ``region``,
  ``url``, ``constraints``, ``model_digest``, ``tee`` (the TEE type to pin: nitro, sev-snp or tdx) and
  ``task`` apply. ``task`` says what the enclave does
  with the records: ``generate`` (a ``prompt`` template, ``max_tokens``), ``embed`` (``fields``),
  ``classify`` (``labels`` with descriptions, ``method`` similarity or generation) or ``analyze`` (the
  service's own analysis; the same as no task).
* ``external_api``: sanitized prompts go to an external LLM API (OpenAI-compatible chat completions or
  the Anthropic Messages API). Such a destination must say which ``provider``, ``model``, base ``url``
  and ``prompt`` template it uses, and may restrict what leaves: ``never_send`` (entity types that
  hold a record back even when they would leave only as pseudonyms), ``allowed_entities`` (the only
  entity types that may leave, as pseudonyms or redactions) and ``jurisdictions`` (who may use the
  destination at all). :func:`redactline.policies.egress.check_egress` enforces them.

Settings that only mean something for an external API are refused on an enclave destination instead
of being accepted and silently ignored, so that a reviewer never believes a control is in force when
it is not. The API key is never written in a policy: ``api_key_env`` names the environment variable
that holds it.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from . import regions
from .prompts import PromptError, template_fields

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}

#: Settings that only apply to ``kind: external_api``.
EXTERNAL_ONLY = (
    "provider",
    "model",
    "api_key_env",
    "prompt",
    "max_tokens",
    "timeout_s",
    "max_concurrency",
    "max_retries",
    "never_send",
    "allowed_entities",
    "jurisdictions",
    "scan_answers",
)
_REQUIRED_EXTERNAL = ("provider", "model", "url", "prompt")


class _Strict(BaseModel):
    # hide_input_in_errors: a key pasted where an env var name belongs never echoes back in an error
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


def _check_template(value: str | None) -> str | None:
    if value is not None:
        try:
            template_fields(value)
        except PromptError as exc:
            raise ValueError(str(exc)) from None
    return value


class PromptConfig(_Strict):
    """How a prompt is built from a redacted record (see :mod:`redactline.policies.prompts`)."""

    template: str = Field(
        min_length=1,
        description="user message; {field} or {a.b} insert redacted fields, {record} the record as JSON, "
        "{{ and }} are literal braces",
    )
    system: str | None = Field(None, description="optional system message (same template syntax)")

    @field_validator("template", "system")
    @classmethod
    def _syntax(cls, value: str | None) -> str | None:
        return _check_template(value)


class TaskLabel(_Strict):
    """One class of a ``classify`` task: similarity compares texts against its description."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)


class EnclaveTaskConfig(_Strict):
    """What an enclave destination's service does with each record (see ``enclave_sink/tasks.py``)."""

    kind: Literal["generate", "embed", "classify", "analyze"]
    prompt: str | None = Field(
        None, min_length=1,
        description="generate: the prompt (template over redacted fields, as external_api prompts); "
        "classify: the text to classify (default: the record as JSON)",
    )
    max_tokens: int | None = Field(None, ge=1, le=4096, description="generate / classify by generation")
    fields: list[str] | None = Field(None, min_length=1, description="embed: the fields to embed")
    labels: list[TaskLabel] | None = Field(None, min_length=2, max_length=64, description="classify")
    method: Literal["similarity", "generation"] | None = Field(None, description="classify (similarity)")

    @field_validator("prompt")
    @classmethod
    def _syntax(cls, value: str | None) -> str | None:
        return _check_template(value)

    @model_validator(mode="after")
    def _by_kind(self) -> EnclaveTaskConfig:
        allowed = {"generate": {"prompt", "max_tokens"}, "embed": {"fields"},
                   "classify": {"prompt", "labels", "method", "max_tokens"}, "analyze": set()}[self.kind]
        extra = sorted(name for name in ("prompt", "max_tokens", "fields", "labels", "method")
                       if getattr(self, name) is not None and name not in allowed)
        if extra:
            raise ValueError(f"{', '.join(extra)}: not meaningful for task kind {self.kind}")
        if self.kind == "generate" and self.prompt is None:
            raise ValueError("prompt: required for task kind generate")
        if self.kind == "embed" and self.fields is None:
            raise ValueError("fields: required for task kind embed")
        if self.kind == "classify" and self.labels is None:
            raise ValueError("labels: required for task kind classify")
        names = [label.name for label in self.labels or ()]
        if len(set(names)) != len(names):
            raise ValueError("labels: names must be unique")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return {k: v for k, v in handler(self).items() if v is not None}  # only what the task uses


def _entity_list(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    out: list[str] = []
    for item in value:
        if not item.strip():
            raise ValueError("entity types must not be empty")
        if item not in out:
            out.append(item)
    return out


class DestinationConfig(_Strict):
    kind: Literal["enclave", "external_api"]
    region: str = Field(description="cloud region id or jurisdiction code where the destination runs")
    url: str | None = Field(None, description="enclave service URL, or the API base URL for external_api")
    constraints: dict[str, object] = Field(default_factory=dict)
    model_digest: str | None = Field(
        None, pattern=r"^(sha256:)?[0-9a-f]{64}$",
        description="enclave only: the attested model digest (sha256:<hex>) the enclave must run",
    )
    task: EnclaveTaskConfig | None = Field(
        None, description="enclave only: what the enclave does with each record (generate, embed, classify)"
    )
    tee: Literal["nitro", "sev-snp", "tdx"] | None = Field(
        None, description="enclave only: the TEE type whose evidence is accepted (null: --enclave-tee, nitro)"
    )

    # --- external_api only -----------------------------------------------------------------------
    provider: Literal["openai", "anthropic"] | None = Field(
        None, description="wire format: openai (chat completions, also for compatible servers) or anthropic"
    )
    model: str | None = Field(None, min_length=1, description="model name sent to the API")
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the API key (never the key itself)"
    )
    prompt: PromptConfig | None = None
    max_tokens: int = Field(1024, ge=1, description="answer length limit per request")
    timeout_s: float = Field(60.0, gt=0, description="per-request timeout in seconds")
    max_concurrency: int = Field(4, ge=1, description="requests in flight at once")
    max_retries: int = Field(4, ge=0, description="retries on 429 and 5xx (Retry-After honoured)")
    never_send: list[str] = Field(
        default_factory=list,
        description="entity types that may never leave, not even as pseudonyms: a record with one is held",
    )
    allowed_entities: list[str] | None = Field(
        None,
        description="the only entity types that may leave (as pseudonyms or redactions); "
        "null: any type not in never_send",
    )
    jurisdictions: list[str] | None = Field(
        None,
        description="jurisdictions (ISO 3166 codes or groups such as EU) allowed to use this destination; "
        "null: no restriction beyond residency",
    )
    scan_answers: Literal["off", "flag", "redact"] | None = Field(
        None,
        description="scan answers for personal data the prompt did not carry (not a pseudonym from the "
        "request): flag counts it by entity type, redact replaces it with [ENTITY_TYPE]; null/off: no scan",
    )

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a key")
        return value

    @field_validator("never_send", "allowed_entities")
    @classmethod
    def _entities(cls, value: list[str] | None) -> list[str] | None:
        return _entity_list(value)

    @field_validator("jurisdictions")
    @classmethod
    def _jurisdictions(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out: list[str] = []
        for item in value:
            code = regions.normalize_jurisdiction(item)
            if code is None:
                raise ValueError(f"unknown jurisdiction {item!r}: expected an ISO 3166-1 alpha-2 code or one "
                                 f"of {sorted(regions.GROUPS)}")
            if code not in out:
                out.append(code)
        return out

    @model_validator(mode="after")
    def _by_kind(self) -> DestinationConfig:
        if self.kind == "enclave":
            meaningless = [name for name in EXTERNAL_ONLY if name in self.model_fields_set]
            if meaningless:
                raise ValueError(f"{', '.join(meaningless)}: only meaningful for kind external_api, "
                                 "not for an enclave destination")
            return self
        for name in ("model_digest", "task", "tee"):
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: only meaningful for kind enclave")
        missing = [name for name in _REQUIRED_EXTERNAL if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required for kind external_api")
        assert self.url is not None
        check_api_url(self.url)
        both = sorted(set(self.never_send) & set(self.allowed_entities or ()))
        if both:
            raise ValueError(f"allowed_entities: {', '.join(both)} also listed in never_send")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # An enclave destination serializes as it did before external_api settings existed, so the
        # canonical form (and the policy's SHA-256 identity) of existing policies does not change.
        data = handler(self)
        if data.get("model_digest") is None:  # unset: the canonical form stays as it was without it
            data.pop("model_digest", None)
        if data.get("task") is None:  # likewise for the task: policies without one keep their hash
            data.pop("task", None)
        if data.get("tee") is None:  # and for the pinned TEE type
            data.pop("tee", None)
        if data.get("scan_answers") is None:  # and for the answer scan
            data.pop("scan_answers", None)
        if self.kind == "enclave":
            for name in EXTERNAL_ONLY:
                data.pop(name, None)
        return data


def check_api_url(url: str) -> None:
    """Refuse an API base URL that is not absolute http(s), carries credentials, or is plain http to a
    non-loopback host (prompts and the API key would cross the network in the clear)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url: an external_api base URL must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ValueError("url: must not carry credentials; use api_key_env")
    if parts.query or parts.fragment:
        raise ValueError("url: a base URL has no query or fragment")
    # plain HTTP would put the prompts (and the API key) on the wire in the clear; loopback only
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError("url: plain http is allowed only for loopback (localhost, 127.0.0.1, ::1); "
                         "use https")


class DestinationLookupError(ValueError):
    """A destination name that is not in the policy, or not of the kind the caller needs."""


def lookup_destination(destinations: dict[str, DestinationConfig], name: str,
                       kind: str | None = None) -> DestinationConfig:
    """The destination ``name`` (of ``kind`` when given), or one error that lists what the policy declares.

    Every entry point (``run --destination``, ``prompt``, ``proxy``) reports a typo the same way, and a
    typo never silently picks another destination.
    """
    candidates = sorted(k for k, d in destinations.items() if kind is None or d.kind == kind)
    declared = f"its {kind} destinations" if kind else "declared"
    if name not in destinations:
        raise DestinationLookupError(f"destination {name!r} is not in the policy ({declared}: "
                                     f"{', '.join(candidates) or 'none'})")
    destination = destinations[name]
    if kind is not None and destination.kind != kind:
        raise DestinationLookupError(f"destination {name!r} is of kind {destination.kind}, not {kind}")
    return destination
