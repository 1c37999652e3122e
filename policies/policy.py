"""``load_policy(path) -> Policy``: a validated, resolved policy with its identity and keys."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .destinations import DestinationConfig
from .keys import Key, KeyResolutionError, resolve_key
from .loader import (
    Issue,
    PolicyError,
    SourceFile,
    document_sha256,
    git_revision,
    meaning_sha256,
    read_policy_file,
    real_policy_path,
    resolve,
)
from .operators import FIELD_ONLY, required_key
from .residency import ResidencyConfig
from .schema import Detection, PolicyDocument

if TYPE_CHECKING:
    from .engine import RedactionEngine


@dataclass(frozen=True)
class PolicyIdentity:
    """What a run records about the policy it applied.

    ``sha256`` is the *meaning hash* (what changes outputs; enclave allow-lists and manifests use it),
    ``document_sha256`` the hash of the whole resolved document (tests, owners, description too).
    Both are 64 hex digits and need no key material; ``key_ids`` are fingerprints of the resolved keys.
    """

    name: str
    version: str
    git_revision: str | None
    sha256: str
    key_ids: tuple[str, ...] = ()
    document_sha256: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "git_revision": self.git_revision,
            "sha256": self.sha256,
            "document_sha256": self.document_sha256,
            "key_ids": list(self.key_ids),
        }


class Policy:
    def __init__(self, path: Path, document: PolicyDocument, sources: list[SourceFile], keys: dict[str, Key]):
        self.path = path
        self.document = document
        self.sources = sources
        self.keys = keys
        #: the git revision the file was read at, when it was not read from a working tree (diff --base)
        self.revision: str | None = None

    @property
    def name(self) -> str:
        return self.document.metadata.name

    @property
    def version(self) -> str:
        return self.document.metadata.version

    @cached_property
    def identity(self) -> PolicyIdentity:
        return PolicyIdentity(
            name=self.name,
            version=self.version,
            git_revision=self.revision or git_revision(self.path),
            sha256=meaning_sha256(self.document),
            key_ids=tuple(sorted(k.key_id for k in self.keys.values())),
            document_sha256=document_sha256(self.document),
        )

    @property
    def residency(self) -> ResidencyConfig | None:
        return self.document.residency

    @property
    def destinations(self) -> dict[str, DestinationConfig]:
        return self.document.destinations

    def engine(self) -> RedactionEngine:
        """Build the redaction engine (loads spaCy: do it once per process)."""
        from .engine import RedactionEngine, build_analyzer

        return RedactionEngine(self, build_analyzer(self.document.detection), self.keys)


def _semantic_issues(path: Path, document: PolicyDocument, source: SourceFile) -> list[Issue]:
    """Checks that span sections: operators' keys exist, field-only operators stay on fields,
    predefined recognizers exist in Presidio."""
    from .recognizers import predefined_class

    issues: list[Issue] = []

    def add(loc: tuple, message: str) -> None:
        dotted = ".".join(str(p) for p in loc)
        issues.append(Issue(str(path), source.line_of(loc), dotted, message))

    transforms = document.transforms
    operators = [(("transforms", "default"), transforms.default)]
    operators += [(("transforms", "entities", k), v) for k, v in transforms.entities.items()]
    operators += [(("transforms", "fields", k), v) for k, v in transforms.fields.items()]
    for loc, spec in operators:
        key = required_key(spec)
        if key is not None and key not in document.keys:
            add(loc, f"operator {spec.type!r} uses key {key!r}, which is not declared under keys")
        if spec.type in FIELD_ONLY and loc[1] != "fields":
            add(loc, f"operator {spec.type!r} applies to fields only, not to entity types")
    for index, recognizer in enumerate(document.detection.recognizers):
        if recognizer.type == "predefined":
            try:
                predefined_class(recognizer.name)
            except LookupError as exc:
                add(("detection", "recognizers", index, "name"), str(exc))
    _language_issues(document.detection, add)
    _entity_issues(document.detection, document.model_dump(), add)
    return issues


def _entity_issues(detection: Detection, data: dict[str, Any], add: Callable[[tuple, str], None]) -> None:
    """Entity names no configured recognizer can produce (a typo such as ``PERSONS`` or ``EMAIL``).
    ``data``: the policy as plain data (validated or, after a schema error, as written)."""
    known = producible_entities(detection)

    def check(loc: tuple, name: object) -> None:
        if not isinstance(name, str) or name in known:
            return
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        close = close or sorted(k for k in known if k.startswith(name) or name.startswith(k))[:1]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        add(loc, f"no configured recognizer produces entity type {name!r}{hint}")

    def section(*keys: object) -> Any:
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    for name in section("transforms", "entities") or {}:
        check(("transforms", "entities", name), name)
    for index, name in enumerate(section("detection", "entities") or []):
        check(("detection", "entities", index), name)
    destinations = section("destinations")
    for dest in destinations if isinstance(destinations, dict) else {}:
        for field_name in ("never_send", "allowed_entities"):
            for index, name in enumerate(section("destinations", dest, field_name) or []):
                check(("destinations", dest, field_name, index), name)
    tests = section("tests")
    for index, case in enumerate(tests if isinstance(tests, list) else []):
        names = case.get("expect_entities") if isinstance(case, dict) else None
        for position, name in enumerate(names if isinstance(names, list) else []):
            check(("tests", index, "expect_entities", position), name)


def _language_issues(detection: Detection, add: Callable[[tuple, str], None]) -> None:
    languages = set(detection.languages)
    for index, recognizer in enumerate(detection.recognizers):
        language = recognizer.supported_language
        if recognizer.enabled and language is not None and language not in languages:
            add(
                ("detection", "recognizers", index, "supported_language"),
                f"language {language!r} is not among detection.languages {sorted(languages)}: "
                "this recognizer would never run",
            )


def _after_schema_errors(error: PolicyError) -> list[Issue]:
    """After a schema error in the root file, the checks that can still run on what is valid (entity
    names, recognizer languages), so that one run shows all of a file's errors."""
    files = {issue.file for issue in error.issues}
    if error.refused or len(files) != 1:
        return []
    path = Path(files.pop())
    try:
        source = read_policy_file(path)
        detection = Detection.model_validate(source.data.get("detection") or {})
    except (PolicyError, ValidationError, AttributeError):
        return []
    issues: list[Issue] = []

    def add(loc: tuple, message: str) -> None:
        issues.append(Issue(str(path), source.line_of(loc), ".".join(str(p) for p in loc), message))

    _language_issues(detection, add)
    try:
        _entity_issues(detection, source.data, add)
    except Exception:  # noqa: BLE001 - best effort only: the schema errors are reported regardless
        return []
    seen = {(i.line, i.field) for i in error.issues}
    return [i for i in issues if (i.line, i.field) not in seen]


@functools.lru_cache(maxsize=32)
def _registry_entities(languages: tuple[str, ...], use_predefined: bool) -> dict[str, frozenset[str]]:
    """Recognizer name -> entity types of Presidio's default registry for ``languages``."""
    from presidio_analyzer import RecognizerRegistry

    from .recognizers import _quiet_presidio

    registry = RecognizerRegistry(supported_languages=list(languages))
    with _quiet_presidio():
        if use_predefined:
            registry.load_predefined_recognizers(languages=list(languages))
        else:
            registry.add_nlp_recognizer(None)
    return {r.name: frozenset(r.supported_entities) for r in registry.recognizers}


def producible_entities(detection: Detection) -> frozenset[str]:
    """Every entity type the policy's recognizers can report (Presidio's defaults for its languages
    unless ``use_predefined: false``, minus disabled ones, plus the listed ones and the NER mapping)."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration

    from .identifier_recognizers import BUILTIN_RECOGNIZERS
    from .recognizers import predefined_class
    from .text_recognizers import TEXT_RECOGNIZERS

    by_name = dict(_registry_entities(tuple(detection.languages), detection.use_predefined))
    for config in detection.recognizers:
        by_name.pop(config.name, None)
        if not config.enabled:
            continue
        if config.type == "custom" and config.supported_entity:
            by_name[config.name] = frozenset({config.supported_entity})
        elif config.type == "builtin" and config.name in BUILTIN_RECOGNIZERS:
            by_name[config.name] = frozenset({BUILTIN_RECOGNIZERS[config.name].entity})
        elif config.type == "predefined":
            try:
                cls = predefined_class(config.name)
                recognizer = cls("en", None, None) if config.name in TEXT_RECOGNIZERS else cls()
                by_name[config.name] = frozenset(recognizer.supported_entities)
            except Exception:  # noqa: BLE001 - an unknown or unbuildable one is reported elsewhere
                continue
    mapping = detection.nlp.model_to_presidio_entity_mapping
    if mapping is None:
        mapping = NerModelConfiguration().model_to_presidio_entity_mapping
    labels = _model_ner_labels(detection.nlp.model)
    ner = {entity for label, entity in mapping.items() if labels is None or label in labels}
    return frozenset().union(*by_name.values(), ner)


@functools.lru_cache(maxsize=8)
def _model_ner_labels(model: str) -> frozenset[str] | None:
    """The NER labels an installed spaCy model package declares (its meta.json), None if unknown."""
    try:
        import spacy.util

        meta = spacy.util.get_model_meta(spacy.util.get_package_path(model))
    except Exception:  # noqa: BLE001 - not installed or no meta: every mapped label counts
        return None
    labels = meta.get("labels", {}).get("ner")
    return frozenset(labels) if labels else None


def load_policy(
    path: str | Path, *, environ: dict[str, str] | None = None, resolve_keys: bool = True
) -> Policy:
    """Load, resolve ``extends``, validate and resolve keys. Raises ``PolicyError`` naming file/line/field.

    ``resolve_keys=False`` checks everything but key material (for ``policy diff`` on a machine
    without the keys); such a policy cannot build an engine that needs keys.
    """
    path = real_policy_path(path)  # a symlink loop is a clear PolicyError, not a traceback
    try:
        document, sources, key_dirs = resolve(path)
    except PolicyError as exc:
        more = _after_schema_errors(exc)
        if more:
            raise PolicyError(exc.issues + more) from None
        raise
    main = sources[-1]
    issues = _semantic_issues(path, document, main)
    keys: dict[str, Key] = {}
    if resolve_keys:
        for name, spec in document.keys.items():
            try:
                keys[name] = resolve_key(name, spec, key_dirs.get(name, path.parent), environ)
            except KeyResolutionError as exc:
                issues.append(Issue(str(path), main.line_of(("keys", name)), f"keys.{name}", str(exc),
                                    refused=exc.refused))
    if issues:
        raise PolicyError(issues)
    return Policy(path, document, sources, keys)
