"""Load a policy file: YAML with line numbers, ``extends`` resolution, validation, identity.

Errors name the file, the line and the field path (``policy.yaml:12: transforms.entities.PERSON: ...``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import PolicyDocument

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(document)'}: {self.message}"


class PolicyError(ValueError):
    """A policy that cannot be loaded. ``issues`` lists every problem found, each naming file/line/field."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


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
    """Parse one YAML file, keeping the line of every key and list item."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([Issue(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Issue(name, None, "", f"cannot read: {exc.__class__.__name__}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
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


def _issues_from(error: ValidationError, source: SourceFile) -> list[Issue]:
    issues = []
    for item in error.errors():
        # pydantic puts union-member names and validator tags in loc; keep only real keys and indexes
        loc = tuple(part for part in item["loc"] if _is_data_key(source.data, item["loc"], part))
        message = item["msg"].removeprefix("Value error, ")
        issues.append(Issue(str(source.path), source.line_of(loc), _dotted(loc), message))
    return issues


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


def _chain(path: Path, stack: tuple[Path, ...]) -> Iterator[SourceFile]:
    """Yield the files of an ``extends`` tree, bases first, each validated on its own."""
    source = read_policy_file(path)
    validate_source(source)
    for index, ref in enumerate(source.data.get("extends") or []):
        base = (path.parent / ref).resolve()
        line = source.line_of(("extends", index))
        if base in stack or base == path:
            cycle = " -> ".join(p.name for p in (*stack, path, base))
            raise PolicyError([Issue(str(path), line, f"extends[{index}]", f"extends cycle: {cycle}")])
        if not base.is_file():
            raise PolicyError(
                [Issue(str(path), line, f"extends[{index}]", f"extended file not found: {ref}")]
            )
        yield from _chain(base, (*stack, path))
    yield source


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


def resolve(path: Path) -> tuple[PolicyDocument, list[SourceFile], dict[str, Path]]:
    """Resolve ``extends`` and validate.

    Returns the merged document, the files it came from (bases first), and for each key the directory
    its ``file:`` reference is relative to (the file that declared it last).
    """
    path = Path(path).resolve()
    sources = list(_chain(path, ()))
    merged: dict[str, Any] = {}
    key_dirs: dict[str, Path] = {}
    for source in sources:
        merged = _merge(merged, source.data)
        key_dirs.update({name: source.path.parent for name in source.data.get("keys") or {}})
    merged_source = SourceFile(path, merged, sources[-1].lines)
    return validate_source(merged_source), sources, key_dirs


def canonical_json(document: PolicyDocument) -> str:
    """The canonical form that identifies a policy: defaults filled, ``extends`` gone, keys sorted."""
    data = document.model_dump(mode="json", exclude={"extends"})
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_sha256(document: PolicyDocument) -> str:
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
