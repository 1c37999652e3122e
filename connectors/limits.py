"""Size limits shared by the file parsers, and the field-size check they all apply."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
MAX_DEPTH = 64  # nesting levels of objects/arrays in one record; deeper -> ``too_deep``


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a parser's memory independent of the file size.

    ``max_field_bytes``: largest UTF-8 size of one string value (larger -> ``oversize``).
    ``max_record_bytes``: largest raw size of one record (a CSV record, a JSONL line); defaults to
    four times ``max_field_bytes``. No parser ever buffers much more than this.
    ``max_record_lines``: most physical lines one quoted CSV record may span before its opening quote
    is declared unclosed.
    ``max_depth``: most nesting levels of objects/arrays in one record (the record itself is level 1);
    a deeper record is quarantined as ``too_deep`` by the source, before anything recurses over it
    (Beam's pickling, the redactor) and fails the whole job.
    """

    max_field_bytes: int = MIB
    max_record_bytes: int | None = None
    max_record_lines: int = 1000
    max_depth: int = MAX_DEPTH

    def __post_init__(self) -> None:
        if self.max_field_bytes < 1 or self.max_record_lines < 1 or self.max_depth < 1:
            raise ValueError("limits must be positive")
        if self.max_record_bytes is not None and self.max_record_bytes < 1:
            raise ValueError("limits must be positive")

    @property
    def record_bytes(self) -> int:
        """The effective record limit."""
        return self.max_record_bytes if self.max_record_bytes is not None else 4 * self.max_field_bytes


def utf8_size(text: str) -> int:
    """UTF-8 size of ``text`` without encoding it when the answer is obvious."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _largest_string(value: Any) -> int:
    """Largest UTF-8 size of any string nested in ``value`` (0 when there is none)."""
    if isinstance(value, str):
        return utf8_size(value)
    if isinstance(value, dict):
        return max((_largest_string(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return max((_largest_string(v) for v in value), default=0)
    return 0


def first_oversize_field(values: Iterable[Any], max_field_bytes: int) -> tuple[int, int] | None:
    """``(1-based field index, size)`` of the first value holding a string over the limit, else None."""
    for index, value in enumerate(values, start=1):
        size = _largest_string(value)
        if size > max_field_bytes:
            return index, size
    return None


def depth_of(value: Any, stop: int) -> int:
    """Nesting depth of a decoded value (a scalar is 0, ``{}`` is 1), counted without recursion and
    only up to ``stop + 1``: the answer is exact up to ``stop``, and ``stop + 1`` means "deeper"."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > stop:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list | tuple))
    return deepest


_JSON_STRUCTURE = re.compile(rb'[][{}"\\]')


def json_text_too_deep(data: bytes, limit: int) -> bool:
    """True when the JSON text ``data`` nests objects/arrays deeper than ``limit`` (the text is scanned,
    not parsed, so the check itself can neither recurse nor fail on any input).

    Brackets inside strings do not count. Most lines hold fewer opening brackets than the limit and are
    answered by one ``count``.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    escape_at = -2
    for match in _JSON_STRUCTURE.finditer(data):
        char = match.group()
        if in_string:
            if match.start() == escape_at + 1:
                continue  # the character right after a backslash is escaped
            if char == b"\\":
                escape_at = match.start()
            elif char == b'"':
                in_string = False
            continue
        if char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False
