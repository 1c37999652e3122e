"""Streaming JSONL parser: one JSON object per line, every non-blank line delivered or quarantined.

invalid JSON, a JSON value that is not an object, or an object with a repeated key -> ``parse_error``;
bad UTF-8 -> ``invalid_utf8``; a line over ``max_record_bytes`` or a string over ``max_field_bytes``
-> ``oversize`` (an oversized line is skipped to its newline, ``raw`` holds its first bytes only).
Blank lines are not records and are skipped. Numbers follow the JSON sources' rules
(``records.JSON_NUMBERS``): the non-standard literals ``NaN`` / ``Infinity`` / ``-Infinity`` and a
literal that overflows (``1e999999``) become null, as every source gives non-finite numbers; an integer
of more than 4300 digits is kept as its exact digit string (Python cannot convert it), never an error
that ends the file. A line nesting objects/arrays deeper than ``max_depth`` -> ``too_deep``, decided
on the raw text before it is parsed (nothing recurses over it). Any other line that cannot be parsed
is quarantined and reading goes on with the next line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from redactline.connectors.limits import Limits, first_oversize_field, json_text_too_deep
from redactline.connectors.lines import iter_lines
from redactline.connectors.records import (
    INVALID_UTF8,
    JSON_NUMBERS,
    OVERSIZE,
    PARSE_ERROR,
    TOO_DEEP,
    Record,
    RecordMeta,
    Rejected,
)

_BOM = b"\xef\xbb\xbf"


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def parse_jsonl(
    stream: BinaryIO,
    source: str,
    *,
    jurisdiction: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    first_no: int = 0,
) -> Iterator[Record | Rejected]:
    """Yield one ``Record`` or ``Rejected`` per non-blank line of ``stream`` (``ref`` = ``"line N"``).

    Every line stands alone, so a file may be read in pieces that start at a line: ``first_no`` is the
    number of the line before the stream's first one (a BOM is only looked for on line 1).
    """
    max_bytes = limits.record_bytes
    for line in iter_lines(stream, max_bytes + 1, first_no=first_no):
        meta = RecordMeta(source, f"line {line.no}", jurisdiction)
        if line.oversize or line.size > max_bytes:
            detail = f"line is {line.size} bytes, limit {max_bytes}"
            yield Rejected(OVERSIZE, detail, meta, line.data[:max_bytes])
            continue
        raw = line.data
        body = raw[len(_BOM) :] if line.no == 1 and raw.startswith(_BOM) else raw
        if not body.strip():
            continue
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Rejected(INVALID_UTF8, f"invalid UTF-8 at byte {exc.start} of the line", meta, raw)
            continue
        if json_text_too_deep(body, limits.max_depth):
            yield Rejected(TOO_DEEP, f"nested deeper than {limits.max_depth} levels", meta, raw)
            continue
        try:
            value = json.loads(text, object_pairs_hook=_object_without_duplicates, **JSON_NUMBERS)
        except _DuplicateKey:
            yield Rejected(PARSE_ERROR, "JSON object repeats a key", meta, raw)
            continue
        except json.JSONDecodeError as exc:
            yield Rejected(PARSE_ERROR, f"invalid JSON at column {exc.colno}: {exc.msg}", meta, raw)
            continue
        except (ValueError, RecursionError) as exc:  # never the message: it may quote the line
            yield Rejected(PARSE_ERROR, f"JSON cannot be parsed ({type(exc).__name__})", meta, raw)
            continue
        if not isinstance(value, dict):
            yield Rejected(PARSE_ERROR, f"JSON value is {_kind(value)}, not an object", meta, raw)
            continue
        # A decoded string is never longer than its JSON text, so short lines need no check.
        big = None
        if line.size > limits.max_field_bytes:
            big = first_oversize_field(value.values(), limits.max_field_bytes)
        if big is not None:
            yield Rejected(OVERSIZE, f"field {big[0]} is {big[1]} bytes", meta, raw)
            continue
        yield Record(value, meta)
