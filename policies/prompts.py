"""Prompt templates: build the text sent to an external LLM from a *redacted* record.

A template is plain text with field references in braces::

    Summarise the ticket from {customer.name}: {notes}
    Here is the whole record as JSON: {record}

``{a.b}`` is a dotted path into the record (see :mod:`redactline.policies.paths`); ``{record}`` is the
JSON of the record's user fields (the ``_redactline`` lineage key left out); ``{{`` and ``}}`` are
literal braces. Nothing else is understood: no ``!r`` conversions, no ``:`` format specs, no ``[0]``
indexing and no attribute access. That is deliberate: ``str.format`` would let a template reach
attributes of the values it formats, and a template is configuration, not code.

The template is parsed here, by hand, so that the same parser validates it at policy load time
(:func:`template_fields`) and renders it per record (:func:`render_prompt`). Errors name the field or
the position in the template, never a value of the record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .lineage import LINEAGE_KEY, strip_lineage
from .paths import get_path

#: The reference that stands for the whole record as JSON.
RECORD = "record"

# One path segment: a field name as records use them (letters, digits, _ and -), not starting with -.
_FIELD = re.compile(r"^[A-Za-z0-9_][\w-]*(\.[A-Za-z0-9_][\w-]*)*$")


class PromptError(ValueError):
    """A template that cannot be parsed, or a record that lacks a field the template needs.

    Messages name the field path or the template position; they never quote record values.
    """


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Ref:
    path: str


def parse_template(template: str) -> tuple[_Literal | _Ref, ...]:
    """Split ``template`` into literal text and field references; raise :class:`PromptError` on bad syntax."""
    parts: list[_Literal | _Ref] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if char == "{":
            if template.startswith("{{", i):
                text.append("{")
                i += 2
                continue
            close = template.find("}", i + 1)
            if close < 0:
                raise PromptError(f"unclosed '{{' at position {i} (write '{{{{' for a literal brace)")
            name = template[i + 1 : close]
            if "{" in name:
                raise PromptError(f"'{{' inside a field reference at position {i}")
            stripped = name.strip()
            if not stripped:
                raise PromptError(f"empty field reference '{{}}' at position {i}")
            if not _FIELD.match(stripped):
                raise PromptError(
                    f"field reference at position {i} is not a dotted field path "
                    "(letters, digits, _ and -, separated by dots; no format specs, indexes or attributes)"
                )
            if text:
                parts.append(_Literal("".join(text)))
                text = []
            parts.append(_Ref(stripped))
            i = close + 1
        elif char == "}":
            if template.startswith("}}", i):
                text.append("}")
                i += 2
                continue
            raise PromptError(f"single '}}' at position {i} (write '}}}}' for a literal brace)")
        else:
            nxt = min((p for p in (template.find("{", i), template.find("}", i)) if p >= 0), default=n)
            text.append(template[i:nxt])
            i = nxt
    if text:
        parts.append(_Literal("".join(text)))
    return tuple(parts)


def template_fields(template: str) -> list[str]:
    """The field paths ``template`` references, in order of first use (``record`` included)."""
    seen: dict[str, None] = {}
    for part in parse_template(template):
        if isinstance(part, _Ref):
            seen.setdefault(part.path, None)
    return list(seen)


def _has_path(record: Mapping[str, Any], path: str) -> bool:
    parent_path, _, last = path.rpartition(".")
    parent = get_path(record, parent_path) if parent_path else record
    return isinstance(parent, Mapping) and last in parent


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    # numbers, booleans, lists and mappings: their JSON form, so a prompt shows `true`, not `True`
    return json.dumps(value, ensure_ascii=False, default=str)


def render_prompt(template: str, record: Mapping[str, Any]) -> str:
    """Fill ``template`` from ``record`` (a redacted record). A missing field raises :class:`PromptError`.

    A field holding null renders as empty text; a nested value renders as JSON. ``{record}`` is
    reserved: a user field literally called ``record`` is reached as ``{record}`` only through the
    JSON of the whole record.
    """
    fields = strip_lineage(record)  # lineage is pipeline metadata, never part of a prompt
    out: list[str] = []
    for part in parse_template(template):
        if isinstance(part, _Literal):
            out.append(part.text)
        elif part.path == RECORD:
            out.append(json.dumps(fields, ensure_ascii=False, default=str))
        elif part.path == LINEAGE_KEY or part.path.startswith(LINEAGE_KEY + "."):
            raise PromptError(f"field {part.path!r} is pipeline metadata, not part of the record")
        elif not _has_path(fields, part.path):
            raise PromptError(f"the record has no field {part.path!r} (referenced by the prompt template)")
        else:
            out.append(_as_text(get_path(fields, part.path)))
    return "".join(out)
