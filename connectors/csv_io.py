"""Streaming CSV parser (header row, RFC 4180 quoting, ``csv`` module semantics) that never loses a line.

Records are assembled from physical lines by following the quote state, so a record ends exactly
where the ``csv`` module would end it. Failure handling:

* a quoted field still open after ``max_record_lines`` lines, past ``max_record_bytes`` or at end of
  file -> the *starting* line is quarantined as ``unclosed_quote`` and parsing resumes at the next
  physical line, so the rows after a stray quote are recovered;
* a quote that does close, but only many lines later and into something that is not a record
  (wrong field count, malformed), is treated the same way: a stray quote must not swallow rows;
* wrong number of fields -> ``field_count``; bad UTF-8 -> ``invalid_utf8``; a value over
  ``max_field_bytes`` or a record over ``max_record_bytes`` -> ``oversize`` (``raw`` is then cut to
  the record limit: an oversized line is never held whole);
* a bad header (empty or duplicate names, or a header that is itself rejected) quarantines the
  header line and every following record as ``parse_error``; nothing in the file is delivered.

Blank lines are not records and are skipped (as ``csv.DictReader`` does). Values are strings.

``csv_clean_points`` finds the points where parsing may resume (nothing read ahead, valid header) and
``resume_csv`` parses from one: ``file_ranges`` cuts a file there.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

from redactline.connectors.limits import Limits, first_oversize_field
from redactline.connectors.lines import Line, iter_lines
from redactline.connectors.records import (
    FIELD_COUNT,
    INVALID_UTF8,
    OVERSIZE,
    PARSE_ERROR,
    UNCLOSED_QUOTE,
    Record,
    RecordMeta,
    Rejected,
)

# Quote-scanner states (the subset of the csv module's states that decide where a record ends).
START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED = range(4)
_BOM = b"\xef\xbb\xbf"


def scan_quotes(data: bytes, state: int, delimiter: int = ord(","), quote: int = ord('"')) -> int:
    """Advance the quote state over ``data`` (no newline inside, except in a quoted field).

    Works on bytes: the delimiter and the quote are ASCII, which never occur inside a UTF-8
    multi-byte sequence.
    """
    i, n = 0, len(data)
    quote_b = bytes([quote])
    delim_b = bytes([delimiter])
    while i < n:
        if state == QUOTED:
            j = data.find(quote_b, i)
            if j < 0:
                return QUOTED
            state, i = QUOTE_IN_QUOTED, j + 1
        elif state == UNQUOTED:
            j = data.find(delim_b, i)
            if j < 0:
                return UNQUOTED
            state, i = START, j + 1
        else:  # START or QUOTE_IN_QUOTED: one character decides
            c = data[i]
            i += 1
            if c == quote:
                state = QUOTED
            elif c == delimiter:
                state = START
            else:
                state = UNQUOTED
    return state


class _QuoteFold:
    """Follows the quote state of an oversized line from both possible starting states."""

    def __init__(self, delimiter: int) -> None:
        self.delimiter = delimiter

    def __call__(self, acc: tuple[int, int] | None, chunk: bytes) -> tuple[int, int]:
        fresh, quoted = acc if acc is not None else (START, QUOTED)
        chunk = chunk.rstrip(b"\n") if chunk.endswith(b"\n") else chunk
        return scan_quotes(chunk, fresh, self.delimiter), scan_quotes(chunk, quoted, self.delimiter)


def _ends_open(line: Line, continuation: bool, delimiter: int) -> bool:
    """True when the record is still inside a quoted field at the end of ``line``."""
    if line.oversize:
        fresh, quoted = line.folded
        return (quoted if continuation else fresh) == QUOTED
    body = line.data[:-1] if line.data.endswith(b"\n") else line.data
    if not continuation and b'"' not in body:
        return False
    return scan_quotes(body, QUOTED if continuation else START, delimiter) == QUOTED


def _is_blank(line: Line) -> bool:
    return not line.oversize and line.data in (b"\n", b"\r\n", b"")


def _split(text: str, delimiter: str) -> list[str]:
    """Split one complete record with ``csv`` semantics; raises ``csv.Error`` on a malformed one."""
    body = text[:-1] if text.endswith("\n") else text
    if body.endswith("\r"):
        body = body[:-1]
    if '"' not in body and "\r" not in body and "\n" not in body:
        return body.split(delimiter)
    rows = list(csv.reader([text], delimiter=delimiter, quotechar='"', doublequote=True, strict=False))
    if len(rows) != 1:
        raise csv.Error("record does not form exactly one row")
    return rows[0]


def _header_problem(names: list[str]) -> str | None:
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name.strip():
            return f"header: column {index} has an empty name"
        if name in seen:
            return f"header: column {index} repeats the name of column {seen[name]}"
        seen[name] = index
    return None


class CsvState(NamedTuple):
    """A clean point between two records: nothing read ahead is pending, the header is valid.

    Parsing may resume here with :func:`resume_csv` on a stream positioned at ``offset``.
    """

    offset: int  # byte offset of the next line
    line_no: int  # its number
    header: tuple[str, ...]
    header_line: int


def parse_csv(
    stream: BinaryIO,
    source: str,
    *,
    jurisdiction: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    delimiter: str = ",",
) -> Iterator[Record | Rejected]:
    """Yield one ``Record`` or ``Rejected`` per CSV record of ``stream`` (``ref`` = ``"line N"``).

    Memory is bounded by ``limits.record_bytes`` (plus a read chunk), whatever the file size.
    """
    yield from _csv_items(stream, source, jurisdiction, limits, delimiter)


def resume_csv(
    stream: BinaryIO,
    source: str,
    resume: CsvState,
    *,
    jurisdiction: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    delimiter: str = ",",
) -> Iterator[Record | Rejected]:
    """``parse_csv``'s items from the clean point ``resume`` on; ``stream`` is positioned at its offset."""
    yield from _csv_items(stream, source, jurisdiction, limits, delimiter, resume=resume)


def csv_clean_points(
    stream: BinaryIO,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    delimiter: str = ",",
) -> Iterator[CsvState]:
    """Every clean point of ``stream`` in order: before each line that ``parse_csv`` reads as the start
    of a record (or skips as blank) with nothing read ahead. None when the header is not valid."""
    for item in _csv_items(stream, "", None, limits, delimiter, plan=True):
        if isinstance(item, CsvState):
            yield item


def _csv_items(
    stream: BinaryIO,
    source: str,
    jurisdiction: str | None,
    limits: Limits,
    delimiter: str,
    *,
    resume: CsvState | None = None,
    plan: bool = False,
) -> Iterator[Any]:
    """The parser. With ``plan`` it also yields a ``CsvState`` at each clean point and skips the work
    (and the items) of one-line records, which cannot change where the next record starts."""
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        raise ValueError("delimiter must be one ASCII character other than a quote or a newline")
    delim = ord(delimiter)
    max_bytes = limits.record_bytes
    if csv.field_size_limit() < max_bytes:
        csv.field_size_limit(max_bytes)  # the csv module's own cap is process-wide; only ever raise it

    def meta(no: int) -> RecordMeta:
        return RecordMeta(source, f"line {no}", jurisdiction)

    first_no, offset = (resume.line_no - 1, resume.offset) if resume else (0, 0)
    lines = iter_lines(stream, max_bytes + 1, fold=_QuoteFold(delim), first_no=first_no, base_offset=offset)
    pending: deque[Line] = deque()

    def next_line() -> Line | None:
        return pending.popleft() if pending else next(lines, None)

    header: tuple[str, ...] | None = resume.header if resume else None
    header_line: int | None = resume.header_line if resume else None  # set once the header record is seen
    while True:
        fresh = not pending
        if (first := next_line()) is None:
            return
        if plan and header_line is not None:
            if header is None:
                return  # no valid header: nothing in the file can be parsed on its own
            if fresh:
                yield CsvState(first.offset, first.no, header, header_line)
        if _is_blank(first):
            continue
        group = [first]
        total = first.size
        still_open = _ends_open(first, False, delim)
        problem = None
        while still_open:
            if len(group) >= limits.max_record_lines:
                problem = f"unclosed quote: record runs past {limits.max_record_lines} lines"
            elif total > max_bytes:
                problem = f"unclosed quote: record runs past {max_bytes} bytes"
            elif (nxt := next_line()) is None:
                problem = "unclosed quote at end of file"
            else:
                group.append(nxt)
                total += nxt.size
                still_open = _ends_open(nxt, True, delim)
                continue
            break
        if plan and len(group) == 1 and header is not None:
            continue  # a one-line record never sends lines back to be read again
        is_header = header_line is None
        prefix = "header: " if is_header else ""
        if problem is not None:
            pending.extendleft(reversed(group[1:]))  # resume at the line after the opening quote
            rejected = Rejected(UNCLOSED_QUOTE, prefix + problem, meta(first.no), first.data)
        else:
            rejected = None
        raw = b"".join(line.data for line in group) if rejected is None else b""
        if rejected is None and (total > max_bytes or any(line.oversize for line in group)):
            detail = f"{prefix}record is {total} bytes, limit {max_bytes}"
            rejected = Rejected(OVERSIZE, detail, meta(first.no), raw[:max_bytes])
        if is_header:
            header_line = first.no
        if rejected is None and header_line != first.no and header is None:
            rejected = Rejected(PARSE_ERROR, f"no valid header (see line {header_line})", meta(first.no), raw)
        if rejected is not None:
            yield rejected
            continue
        if is_header and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        text = raw.decode("utf-8", "surrogateescape")  # structure first; bytes are checked below
        try:
            values: list[str] | None = _split(text, delimiter)
        except csv.Error:
            values = None
        if len(group) > 1 and header is not None and (values is None or len(values) != len(header)):
            # The quote closed, but what it enclosed is not a record: most likely a stray quote.
            # Quarantine only the opening line and resume right after it, as for an unclosed quote.
            pending.extendleft(reversed(group[1:]))
            detail = f"unclosed quote: closing quote {len(group) - 1} lines later gives no valid record"
            yield Rejected(UNCLOSED_QUOTE, detail, meta(first.no), first.data)
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"{prefix}invalid UTF-8 at byte {exc.start} of the record"
            yield Rejected(INVALID_UTF8, detail, meta(first.no), raw)
            continue
        if values is None:
            detail = f"{prefix}malformed record (line break in an unquoted field)"
            yield Rejected(PARSE_ERROR, detail, meta(first.no), raw)
            continue
        if is_header:
            trouble = _header_problem(values)
            if trouble is not None:
                yield Rejected(PARSE_ERROR, trouble, meta(first.no), raw)
            else:
                header = tuple(values)
            continue
        assert header is not None
        if len(values) != len(header):
            detail = f"{len(values)} fields, header has {len(header)}"
            yield Rejected(FIELD_COUNT, detail, meta(first.no), raw)
            continue
        big = first_oversize_field(values, limits.max_field_bytes) if total > limits.max_field_bytes else None
        if big is not None:
            yield Rejected(OVERSIZE, f"field {big[0]} is {big[1]} bytes", meta(first.no), raw)
            continue
        yield Record(dict(zip(header, values, strict=True)), meta(first.no))
