"""``load_policy(path) -> Policy``: a validated, resolved policy with its identity and keys."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .destinations import DestinationConfig
from .keys import Key, KeyResolutionError, resolve_key
from .loader import (
    Issue,
    PolicyError,
    SourceFile,
    document_sha256,
    git_revision,
    meaning_sha256,
    real_policy_path,
    resolve,
)
from .operators import FIELD_ONLY, required_key
from .residency import ResidencyConfig
from .schema import PolicyDocument

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
    return issues


def load_policy(
    path: str | Path, *, environ: dict[str, str] | None = None, resolve_keys: bool = True
) -> Policy:
    """Load, resolve ``extends``, validate and resolve keys. Raises ``PolicyError`` naming file/line/field.

    ``resolve_keys=False`` checks everything but key material (for ``policy diff`` on a machine
    without the keys); such a policy cannot build an engine that needs keys.
    """
    path = real_policy_path(path)  # a symlink loop is a clear PolicyError, not a traceback
    document, sources, key_dirs = resolve(path)
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
