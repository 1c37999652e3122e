"""What the enclave does with a sealed batch: a *task*, shared by the client and the service.

A policy's enclave destination names its task (``destinations.<name>.task``); the client seals the
task's *wire form* inside the encrypted payload (``{"task": {...}, "records": [...]}``), so it is
authenticated like the records, and the service runs it only when its attested ``allowed_tasks`` list
names the kind.

Kinds:

* ``generate``: the prompt template (policy ``prompt``, the syntax of
  :mod:`redactline.policies.prompts`) is rendered *on the client* from each redacted record; the
  records sealed are those prompts (strings), so only the fields the template names leave the worker.
  ``max_tokens`` bounds each answer. Result per record: ``{"text", "completion_tokens"}``.
* ``embed``: ``fields`` (dotted paths) of each redacted record; the records sealed are
  ``{field: text}`` objects. Result: ``{"embedding": {field: [floats]}}`` (unit norm).
* ``classify``: ``labels`` (name and description); the text classified is the rendered ``prompt``
  template (default: the whole record as JSON). ``method`` ``similarity`` embeds texts and label
  descriptions and takes the nearest; ``generation`` asks the LLM. Result: ``{"label", "scores"}``.
* ``analyze``: the legacy backends' own per-record analysis (``infer``); records sealed as they are.

This module has no heavy imports: the service imports it too. Errors (:class:`TaskError`) name the
field at fault, never a record value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENERATE, EMBED, CLASSIFY, ANALYZE = "generate", "embed", "classify", "analyze"
KINDS = (GENERATE, EMBED, CLASSIFY, ANALYZE)
SIMILARITY, GENERATION = "similarity", "generation"
METHODS = (SIMILARITY, GENERATION)
MAX_TOKENS_LIMIT = 4096
MAX_LABELS = 64
DEFAULT_MAX_TOKENS = 64
CLASSIFY_MAX_TOKENS = 8
_FIELD = re.compile(r"^[A-Za-z0-9_][\w-]*(\.[A-Za-z0-9_][\w-]*)*$")
_KEYS = {
    GENERATE: {"kind", "prompt", "max_tokens"},
    EMBED: {"kind", "fields"},
    CLASSIFY: {"kind", "prompt", "labels", "method", "max_tokens"},
    ANALYZE: {"kind"},
}


class TaskError(ValueError):
    """A task specification that is not valid; the message names the field (``task.labels[1].name``)."""


@dataclass(frozen=True)
class Label:
    """One class of a ``classify`` task; the description is what similarity compares against."""

    name: str
    description: str


@dataclass(frozen=True)
class Task:
    """A validated task. ``prompt`` stays on the client (it is not part of the wire form)."""

    kind: str
    prompt: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    fields: tuple[str, ...] = ()
    labels: tuple[Label, ...] = ()
    method: str = SIMILARITY

    def canonical(self) -> dict[str, Any]:
        """The full specification (policy form), keys sorted; only the keys this kind uses."""
        out = self.wire()
        if self.prompt is not None and self.kind in (GENERATE, CLASSIFY):
            out["prompt"] = self.prompt
        return dict(sorted(out.items()))

    def wire(self) -> dict[str, Any]:
        """What the service needs, sealed with the batch (no template: the client renders it)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == GENERATE:
            out["max_tokens"] = self.max_tokens
        elif self.kind == EMBED:
            out["fields"] = list(self.fields)
        elif self.kind == CLASSIFY:
            out["labels"] = [{"name": label.name, "description": label.description} for label in self.labels]
            out["method"] = self.method
            if self.method == GENERATION:
                out["max_tokens"] = self.max_tokens
        return dict(sorted(out.items()))

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_task(obj: Any, where: str = "task") -> Task:
    """A :class:`Task` from its JSON/mapping form (policy or wire); :class:`TaskError` names the field."""
    if not isinstance(obj, Mapping):
        raise TaskError(f"{where}: must be an object with a 'kind'")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise TaskError(f"{where}.kind: must be one of {', '.join(KINDS)}")
    present = {k for k, v in obj.items() if v is not None}
    unknown = sorted(str(k) for k in present - _KEYS[kind])
    if unknown:
        raise TaskError(f"{where}: {', '.join(unknown)} not meaningful for kind {kind}")
    prompt = _prompt(obj.get("prompt"), f"{where}.prompt")
    # classify by generation answers with a label name, not an essay
    default = CLASSIFY_MAX_TOKENS if kind == CLASSIFY else DEFAULT_MAX_TOKENS
    max_tokens = _max_tokens(obj.get("max_tokens"), f"{where}.max_tokens", default)
    if kind == GENERATE:
        # on the wire the template is absent (the client rendered it); in a policy it is required
        return Task(GENERATE, prompt=prompt, max_tokens=max_tokens)
    if kind == EMBED:
        return Task(EMBED, fields=_fields(obj.get("fields"), f"{where}.fields"))
    if kind == CLASSIFY:
        method = obj.get("method") or SIMILARITY
        if method not in METHODS:
            raise TaskError(f"{where}.method: must be one of {', '.join(METHODS)}")
        return Task(CLASSIFY, prompt=prompt, max_tokens=max_tokens, method=method,
                    labels=_labels(obj.get("labels"), f"{where}.labels"))
    return Task(ANALYZE)


def task_from_json(text: str | bytes, where: str = "task") -> Task:
    """:func:`parse_task` of a JSON document."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise TaskError(f"{where}: not JSON") from None
    return parse_task(obj, where)


def _prompt(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{where}: must be a non-empty template string")
    return value


def _max_tokens(value: Any, where: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
        raise TaskError(f"{where}: must be an integer from 1 to {MAX_TOKENS_LIMIT}")
    return value


def _fields(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TaskError(f"{where}: must be a non-empty list of field paths")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _FIELD.match(item):
            raise TaskError(f"{where}[{i}]: must be a dotted field path (letters, digits, _ and -)")
        if item in out:
            raise TaskError(f"{where}[{i}]: {item!r} is listed twice")
        out.append(item)
    return tuple(out)


def _labels(value: Any, where: str) -> tuple[Label, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_LABELS:
        raise TaskError(f"{where}: must be a list of 2 to {MAX_LABELS} labels")
    out: list[Label] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) - {"name", "description"}:
            raise TaskError(f"{where}[{i}]: must be an object with name and description only")
        name, description = item.get("name"), item.get("description")
        if not isinstance(name, str) or not name.strip():
            raise TaskError(f"{where}[{i}].name: must be a non-empty string")
        if not isinstance(description, str) or not description.strip():
            raise TaskError(f"{where}[{i}].description: must be a non-empty string")
        if any(label.name == name for label in out):
            raise TaskError(f"{where}[{i}].name: {name!r} is listed twice")
        out.append(Label(name, description))
    return tuple(out)


def require_prompt(task: Task, where: str = "task") -> None:
    """A policy's ``generate`` task must carry its template (the wire form does not)."""
    if task.kind == GENERATE and task.prompt is None:
        raise TaskError(f"{where}.prompt: required for kind generate")
