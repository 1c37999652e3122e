"""Load a policy file: YAML with line numbers, ``extends`` resolution, validation, identity.

Errors name the file, the line and the field path (``policy.yaml:12: transforms.entities.PERSON: ...``).

Loading cannot be abused (see README "Limits"): a policy file is read with a bounded read
(:data:`MAX_POLICY_BYTES`, regular files only) and parsed by ``safe_yaml`` (depth, alias and
duplicate-key limits); every ``regex`` is checked for catastrophic backtracking (``regex_safety``);
``extends`` reaches only files inside the root policy's directory tree (real paths: symlinks cannot
leave it), the shipped library (``library:NAME``) and directories allowed explicitly
(:func:`allow_extends_outside`, ``REDACTLINE_ALLOW_EXTENDS_OUTSIDE``). Issues of these kinds are
``refused`` (the input itself is unacceptable; the CLI exits 2). Messages never quote another file's
content or key names.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import subprocess
import typing
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from .bounded_io import MIB, BoundedReadError, read_bounded_text
from .regex_safety import check_pattern
from .safe_yaml import YamlLimitError, compose_and_load
from .schema import PolicyDocument

#: Largest policy file read (bytes).
MAX_POLICY_BYTES = 1 * MIB
#: Directory of the shipped reference policies, reached with ``extends: [library:NAME]``.
LIBRARY_DIR = Path(__file__).resolve().parent / "library"
LIBRARY_PREFIX = "library:"
#: Environment variable: more directories ``extends`` may reach (``os.pathsep``-separated).
EXTENDS_ENV = "REDACTLINE_ALLOW_EXTENDS_OUTSIDE"
_LIBRARY_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_extra_roots: ContextVar[tuple[Path, ...]] = ContextVar("extends_roots", default=())
# ``policy diff --base`` resolves library:NAME against the library as of the base revision
_library_dir: ContextVar[Path] = ContextVar("library_dir", default=LIBRARY_DIR)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    file: str
    line: int | None
    field: str
    message: str
    #: the input itself is refused (a limit, an unsafe shape, a file outside the tree), not just invalid
    refused: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(document)'}: {self.message}"


class PolicyError(ValueError):
    """A policy that cannot be loaded. ``issues`` lists every problem found, each naming file/line/field."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))

    @property
    def refused(self) -> bool:
        """True when an issue refuses the input (limits, unsafe patterns, extends outside the tree)."""
        return any(issue.refused for issue in self.issues)


@dataclass
class SourceFile:
    path: Path
    data: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, loc: Path_) -> int | None:
        """Line of the deepest YAML node on ``loc`` (1-based)."""
        for depth in range(len(loc), -1, -1):
            if (line := self.lines.get(tuple(loc[:depth]))) is not None:
                return line
        return None


def _walk(node: yaml.Node, loc: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines)


def read_policy_file(path: Path) -> SourceFile:
    """Parse one YAML file (bounded read, ``safe_yaml`` limits), keeping the line of every key and item."""
    name = str(path)
    try:
        text = read_bounded_text(path, MAX_POLICY_BYTES)
    except BoundedReadError as exc:
        raise PolicyError([Issue(name, None, "", exc.reason, refused=not exc.missing)]) from None
    try:
        node, data = compose_and_load(text)
    except YamlLimitError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        where = _dotted(exc.path) if len(exc.path) <= 8 else _dotted(exc.path[:4]) + "..."
        issue = Issue(name, line, where, f"invalid YAML: {exc.problem}", refused=True)
        raise PolicyError([issue]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise PolicyError([Issue(name, line, "", f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise PolicyError([Issue(name, 1, "", "a policy file must be a YAML mapping")])
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return SourceFile(path, data, lines)


_POLICY_MARKER = re.compile(
    r"^(?:kind:[ \t]*[\"']?RedactionPolicy\b|apiVersion:[ \t]*[\"']?redactline\.dev/)", re.M
)


def is_policy_file(path: Path) -> bool:
    """Whether ``path`` declares itself a redaction policy (a top-level ``kind: RedactionPolicy`` or
    ``apiVersion: redactline.dev/...`` line): hooks skip other YAML (CI workflows, manifests). Read by
    text, so a policy with a YAML error is still recognised (and then reported)."""
    try:
        text = read_bounded_text(path, MAX_POLICY_BYTES)
    except BoundedReadError as exc:
        return not exc.missing  # an oversized or odd file named as input is still checked (and refused)
    return _POLICY_MARKER.search(text) is not None


def _issues_from(error: ValidationError, source: SourceFile) -> list[Issue]:
    issues = []
    for item in error.errors():
        # pydantic puts union-member names and validator tags in loc; keep only real keys and indexes
        loc = tuple(part for part in item["loc"] if _is_data_key(source.data, item["loc"], part))
        message = item["msg"].removeprefix("Value error, ") + _yaml_trap_hint(source.data, item["loc"])
        issues.append(Issue(str(source.path), source.line_of(loc), _dotted(loc), message))
    return issues


def _yaml_trap_hint(data: Any, loc: tuple) -> str:
    """A hint when YAML typed a value or key the author meant as text (``version: 1.0``, ``on:``)."""
    if any(isinstance(part, bool) for part in loc):
        return " (YAML reads an unquoted on/off/yes/no key as a boolean: quote it, e.g. 'on':)"
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and (
            0 <= part < len(node)
        ):
            node = node[part]
        elif not isinstance(part, str | int) or isinstance(node, dict | list):
            continue
    if isinstance(node, bool):
        return " (YAML reads unquoted yes/no/on/off/true/false as a boolean: quote it)"
    if isinstance(node, int | float):
        if tuple(loc[-2:]) == ("metadata", "version"):
            padded = ".".join((str(node).split(".") + ["0", "0"])[:3])
            return f" (YAML reads {node} as a number: quote it, e.g. version: '{padded}')"
        return f" (YAML reads {node} as a number: quote it)"
    return ""


def _is_data_key(data: Any, full: tuple, part: Any) -> bool:
    # A loc element is real when it exists in the parsed data along the path walked so far.
    node = data
    for element in full:
        if element == part:
            return isinstance(node, dict | list)
        if (
            isinstance(node, dict)
            and element in node
            or isinstance(node, list)
            and isinstance(element, int)
            and element < len(node)
        ):
            node = node[element]
    return isinstance(part, str | int)


def _dotted(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_source(source: SourceFile) -> PolicyDocument:
    try:
        return PolicyDocument.model_validate(source.data)
    except ValidationError as exc:
        raise PolicyError(_issues_from(exc, source)) from None


def unsafe_pattern_issues(source: SourceFile, document: PolicyDocument) -> list[Issue]:
    """Patterns of ``source`` refused for catastrophic backtracking, each naming file, line and field."""
    issues = []
    for r_index, recognizer in enumerate(document.detection.recognizers):
        for p_index, pattern in enumerate(recognizer.patterns):
            reason = check_pattern(pattern.regex)
            if reason is not None:
                loc = ("detection", "recognizers", r_index, "patterns", p_index, "regex")
                message = f"regular expression refused: {reason}"
                line = source.line_of(loc)
                issues.append(Issue(str(source.path), line, _dotted(loc), message, refused=True))
    return issues


@contextlib.contextmanager
def allow_extends_outside(directories: Iterable[str | Path]) -> Iterator[None]:
    """Within this block, ``extends`` may also reach files inside ``directories`` (and their trees)."""
    token = _extra_roots.set(_extra_roots.get() + tuple(_real_dir(d) for d in directories))
    try:
        yield
    finally:
        _extra_roots.reset(token)


@contextlib.contextmanager
def library_from(directory: Path) -> Iterator[None]:
    """Within this block, ``library:NAME`` reads ``directory/NAME.yaml`` (a library at another revision)."""
    token = _library_dir.set(_real_dir(directory))
    try:
        yield
    finally:
        _library_dir.reset(token)


def _real_dir(directory: str | Path) -> Path:
    return Path(os.path.realpath(Path(directory).expanduser()))


def _allowed_roots(root_policy: Path) -> tuple[Path, ...]:
    from_env = tuple(_real_dir(d) for d in os.environ.get(EXTENDS_ENV, "").split(os.pathsep) if d)
    return (root_policy.parent, _library_dir.get(), *_extra_roots.get(), *from_env)


def _symlink_chain(path: Path) -> str:
    """``a.yaml -> b.yaml -> a.yaml``: the names of a symbolic-link loop starting at ``path``."""
    seen: list[Path] = [path]
    current = path
    for _ in range(40):
        try:
            current = Path(os.path.normpath(current.parent / os.readlink(current)))
        except OSError:
            break
        seen.append(current)
        if current in seen[:-1]:
            break
    return " -> ".join(p.name for p in seen)


def _extends_target(path: Path, index: int, ref: str, line: int | None, roots: tuple[Path, ...]) -> Path:
    """The real path of ``extends[index]`` of ``path``, or a ``PolicyError`` that names only ``ref``."""
    where = f"extends[{index}]"

    def refuse(message: str, refused: bool = True) -> PolicyError:
        return PolicyError([Issue(str(path), line, where, message, refused=refused)])

    if ref.startswith(LIBRARY_PREFIX):
        name = ref[len(LIBRARY_PREFIX) :]
        library = _library_dir.get()
        if not _LIBRARY_NAME.match(name) or not (library / f"{name}.yaml").is_file():
            known = ", ".join(sorted(p.stem for p in library.glob("*.yaml")))
            raise refuse(f"no library policy {name!r} (known: {known})", refused=False)
        return library / f"{name}.yaml"
    return _confined_file(path, where, ref, line, roots, "extended file")


def _confined_file(
    path: Path, where: str, ref: str, line: int | None, roots: tuple[Path, ...], what: str
) -> Path:
    """The real path of the file ``ref`` named by ``path`` at ``where`` (relative to ``path``'s
    directory), refused outside ``roots``; a ``PolicyError`` names only ``ref``."""

    def refuse(message: str, refused: bool = True) -> PolicyError:
        return PolicyError([Issue(str(path), line, where, message, refused=refused)])

    candidate = Path(ref).expanduser()
    candidate = candidate if candidate.is_absolute() else path.parent / candidate
    try:
        real = Path(os.path.realpath(candidate, strict=True))
    except FileNotFoundError:
        real = None
    except (OSError, RuntimeError):
        raise refuse(f"symbolic link loop: {_symlink_chain(candidate)}") from None
    target = real if real is not None else Path(os.path.realpath(candidate))
    if not any(target == root or target.is_relative_to(root) for root in roots):
        # Refused before the file is opened: nothing of it (not even whether it exists) is reported.
        raise refuse(
            f"{ref!r} is outside the root policy's directory {str(roots[0])!r}; "
            "use library:NAME, or allow a directory with --allow-extends-outside DIR "
            f"(or {EXTENDS_ENV})"
        )
    if real is None or not real.is_file():
        raise refuse(f"{what} not found: {ref}", refused=False)
    return real


def _chain(path: Path, stack: tuple[Path, ...], roots: tuple[Path, ...]) -> Iterator[SourceFile]:
    """Yield the files of an ``extends`` tree, bases first, each validated on its own."""
    source = read_policy_file(path)
    document = validate_source(source)
    if issues := unsafe_pattern_issues(source, document):
        raise PolicyError(issues)
    if document.detection.presidio_registry is not None:
        source = _with_presidio_registry(source, document, roots)
    for index, ref in enumerate(document.extends):
        line = source.line_of(("extends", index))
        base = _extends_target(path, index, ref, line, roots)
        if base in stack or base == path:
            cycle = " -> ".join(p.name for p in (*stack, path, base))
            raise PolicyError([Issue(str(path), line, f"extends[{index}]", f"extends cycle: {cycle}", True)])
        yield from _chain(base, (*stack, path), roots)
    yield source


def _with_presidio_registry(
    source: SourceFile, document: PolicyDocument, roots: tuple[Path, ...]
) -> SourceFile:
    """``source`` with its ``detection.presidio_registry`` file read (confined like ``extends``, bounded,
    ``safe_yaml``) and put in place: the file's recognizers before the listed ones, its
    ``global_regex_flags`` unless the policy sets them, ``use_predefined: false`` unless the policy says.
    Errors name the registry file, its line and field."""
    from .recognizers import registry_entries
    from .schema import PresidioRegistryFile, RecognizerConfig

    detection = document.detection
    loc = ("detection", "presidio_registry")
    where = _dotted(loc)
    target = _confined_file(
        source.path, where, detection.presidio_registry or "", source.line_of(loc), roots, "registry file"
    )
    registry_source = read_policy_file(target)
    try:
        registry = PresidioRegistryFile.model_validate(registry_source.data)
    except ValidationError as exc:
        raise PolicyError(_issues_from(exc, registry_source)) from None
    name = str(target)
    issues = []
    flags = detection.global_regex_flags
    flags = registry.global_regex_flags if flags is None else flags
    for r_index, entry in enumerate(registry.recognizers):
        for p_index, pattern in enumerate(entry.patterns):
            reason = check_pattern(pattern.regex, *(() if flags is None else (flags,)))
            if reason is not None:
                at = ("recognizers", r_index, "patterns", p_index, "regex")
                message = f"regular expression refused: {reason}"
                issues.append(Issue(name, registry_source.line_of(at), _dotted(at), message, refused=True))
    entries, problems = registry_entries(registry, list(detection.languages))
    issues += [Issue(name, registry_source.line_of(at), _dotted(at), message) for at, message in problems]
    for index, config in entries:
        try:
            RecognizerConfig.model_validate(config)
        except ValidationError as exc:
            at = ("recognizers", index)
            for error in exc.errors():
                message = error["msg"].removeprefix("Value error, ")
                issues.append(Issue(name, registry_source.line_of(at), _dotted(at), message))
    if issues:
        raise PolicyError(issues)
    data = copy.deepcopy(source.data)
    section = data["detection"]
    del section["presidio_registry"]
    listed = section.get("recognizers") or []
    section["recognizers"] = [config for _, config in entries] + listed
    section.setdefault("use_predefined", False)
    if registry.global_regex_flags is not None:
        section.setdefault("global_regex_flags", registry.global_regex_flags)
    # the listed recognizers moved down by the registry's count: their lines move with them
    shift, prefix = len(entries), ("detection", "recognizers")
    registry_line = source.line_of(loc)
    lines: dict[Path_, int] = {}
    for key, line in source.lines.items():
        if key[:2] == prefix and len(key) > 2 and isinstance(key[2], int):
            key = (*prefix, key[2] + shift, *key[3:])
        lines[key] = line
    for index in range(shift):  # a later issue about a registry entry points at presidio_registry
        if registry_line is not None:
            lines[(*prefix, index)] = registry_line
    return SourceFile(source.path, data, lines)


# How sections merge when a policy extends another: mappings merge key by key (the child wins),
# recognizers merge by name, allow lists and tests accumulate, everything else is replaced.
def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in child.items():
        if key == "extends":
            continue
        old = merged.get(key)
        if key == "recognizers" and isinstance(old, list):
            by_name = {r.get("name"): r for r in old}
            by_name.update({r.get("name"): r for r in value})
            merged[key] = list(by_name.values())
        elif key in ("allow_list", "tests", "owners") and isinstance(old, list):
            merged[key] = old + [v for v in value if v not in old]
        elif isinstance(old, dict) and isinstance(value, dict):
            merged[key] = _merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def real_policy_path(path: str | Path) -> Path:
    """The real path of a policy file (symlinks resolved); a symbolic-link loop is a ``PolicyError``."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # reported by the bounded read
    except (OSError, RuntimeError):
        issue = Issue(str(path), None, "", f"symbolic link loop: {_symlink_chain(Path(path))}", refused=True)
        raise PolicyError([issue]) from None


def resolve(path: Path) -> tuple[PolicyDocument, list[SourceFile], dict[str, Path]]:
    """Resolve ``extends`` and validate.

    Returns the merged document, the files it came from (bases first), and for each key the directory
    its ``file:`` reference is relative to (the file that declared it last).
    """
    path = real_policy_path(path)
    sources = list(_chain(path, (), _allowed_roots(path)))
    merged: dict[str, Any] = {}
    key_dirs: dict[str, Path] = {}
    for source in sources:
        merged = _merge(merged, source.data)
        key_dirs.update({name: source.path.parent for name in source.data.get("keys") or {}})
    merged_source = SourceFile(path, merged, sources[-1].lines)
    return validate_source(merged_source), sources, key_dirs


# --- identity ------------------------------------------------------------------------------------------
#
# Two hashes identify a resolved policy (README "Policy identity"):
#
# * the *meaning hash* covers what changes outputs: detection, transforms, residency, destinations and
#   the names of the keys (never their material or where it lives). Enclave allow-lists, the manifest,
#   lineage and ``policy diff``'s version rule use it; adding a test case or an owner leaves it alone.
# * the *document hash* covers the whole resolved document (metadata, tests, key references too).
#
# The canonical form omits every optional setting that holds its default, so a setting added to the
# format later (with a default that keeps the old behaviour) changes no existing hash. Single-valued
# ``Literal`` tags (an operator's ``type``) are always kept: they tell union members apart.
# tests/policies/test_identity.py freezes known answers and the defaults, so a change is deliberate.

#: Top-level sections of the meaning hash (``keys`` contributes its names only).
MEANING_SECTIONS = ("apiVersion", "kind", "detection", "transforms", "residency", "destinations")


def _is_tag(info: Any) -> bool:
    return typing.get_origin(info.annotation) is typing.Literal and len(typing.get_args(info.annotation)) == 1


def canonical_data(value: Any) -> Any:
    """JSON-ready data of a model tree with defaulted optional settings left out (tags kept)."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            defaulted = not info.is_required() and item == info.get_default(call_default_factory=True)
            if defaulted and not _is_tag(info):
                continue
            out[info.alias or name] = canonical_data(item)
        return out
    if isinstance(value, dict):
        return {str(k): canonical_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_data(v) for v in value]
    return to_jsonable_python(value)


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(document: PolicyDocument) -> str:
    """The canonical form of the whole resolved document (``extends`` gone, keys sorted)."""
    data = canonical_data(document)
    data.pop("extends", None)
    return _dumps(data)


def meaning_json(document: PolicyDocument) -> str:
    """The canonical form of what changes outputs (see :data:`MEANING_SECTIONS`)."""
    data = canonical_data(document)
    meaning = {name: data[name] for name in MEANING_SECTIONS if name in data}
    if document.keys:
        meaning["keys"] = sorted(document.keys)
    return _dumps(meaning)


def meaning_sha256(document: PolicyDocument) -> str:
    """SHA-256 (64 hex digits) of :func:`meaning_json`: the policy hash enclaves and manifests use."""
    return hashlib.sha256(meaning_json(document).encode("utf-8")).hexdigest()


def document_sha256(document: PolicyDocument) -> str:
    """SHA-256 (64 hex digits) of :func:`canonical_json`: changes with any edit to the resolved document."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def git_revision(path: Path) -> str | None:
    """The commit of the repository holding ``path``, with ``-dirty`` if the file has changes."""
    try:
        cwd = path.parent
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", path.name],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = "-dirty" if status.stdout.strip() else ""
        return rev.stdout.strip() + dirty
    except (OSError, subprocess.SubprocessError):
        return None
