"""One file cut into ranges that parse on their own, so that a large file is read by many workers.

Pass 1 (``plan_ranges``) reads a file once and cuts it at clean record boundaries into ranges of about
``target_bytes``; pass 2 (``parse_range``) parses one range. The ranges' items, in order, are exactly
``parse_stream``'s items for the whole file (same records, rejections, refs and raw bytes):

* CSV: a cut is a point where the parser holds no line read ahead (a stray quote sends lines back to be
  read again) and the header is valid; the range after it resumes with that header. A file without a
  valid header is one range.
* JSONL: every line stands alone; any line start is a cut.
* Parquet: ranges are runs of row groups, grouped by their compressed size (footer metadata only). A
  file that parses as one rejection (unreadable, repeated column names) is one range.

A whole-file range (``start`` 0, ``end`` None) is parsed by ``parse_stream`` itself, without seeking, so
it also serves compressed files read through their decompressor.

Known difference: a Parquet row group that cannot be read ends the whole-file parse, while a later range
is still read on its own (its rows are delivered after the failing range's ``source_error``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from redactline.connectors.csv_io import CsvState, csv_clean_points, parse_csv, resume_csv
from redactline.connectors.jsonl_io import parse_jsonl
from redactline.connectors.limits import Limits
from redactline.connectors.lines import iter_lines
from redactline.connectors.parquet_io import parse_parquet, parse_row_groups, row_group_sizes
from redactline.connectors.records import Record, Rejected

# files.parse_stream's parsers (files.py imports this module, so it is not imported back)
_WHOLE_FILE: dict[str, Callable[..., Iterator[Record | Rejected]]] = {
    "csv": parse_csv, "jsonl": parse_jsonl, "parquet": parse_parquet}
FORMATS = tuple(_WHOLE_FILE)
# A cut candidate: (offset, number of the line there, CSV header and its line to resume with)
_Point = tuple[int, int, tuple[str, ...] | None, int | None]


@dataclass(frozen=True)
class FileRange:
    """A piece of one file that parses on its own: the items parse_range yields for it are exactly the
    items the whole-file parser yields between two clean record boundaries."""

    path: str  # as matched (any Beam FileSystems path)
    fmt: str  # "csv" | "jsonl" | "parquet"
    start: int = 0  # csv/jsonl: byte offset of the range's first line; parquet: first row group index
    end: int | None = None  # csv/jsonl: offset where the next range starts; parquet: row-group stop
    first_line: int = 1  # csv/jsonl: number of the line at `start`; parquet: number of the first row
    header: tuple[str, ...] | None = None  # csv, start > 0: the file's valid header names
    header_line: int | None = None  # csv, start > 0: the header's line number

    @property
    def whole_file(self) -> bool:
        return self.start == 0 and self.end is None


def plan_ranges(
    stream: BinaryIO,
    path: str,
    fmt: str,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    target_bytes: int = 256 * 1024,
) -> Iterator[FileRange]:
    """Cut one uncompressed, seekable file into ranges of about target_bytes each, at clean record
    boundaries (csv/jsonl: reads the whole stream once, from its current position, with the real
    parser's structure logic; parquet: footer metadata only, row groups grouped by their compressed
    size). Always yields at least one range; the ranges cover the file in order without gaps or overlap.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    if target_bytes < 1:
        raise ValueError("target_bytes must be positive")
    if fmt == "parquet":
        yield from _plan_parquet(stream, path, target_bytes)
        return
    points: Iterator[_Point] = (csv_clean_points(stream, limits=limits) if fmt == "csv"
                                else _line_starts(stream, limits))
    start, first_line, header, header_line = 0, 1, None, None
    for offset, line_no, point_header, point_header_line in points:
        if offset - start >= target_bytes:
            yield FileRange(path, fmt, start, offset, first_line, header, header_line)
            start, first_line, header, header_line = offset, line_no, point_header, point_header_line
    yield FileRange(path, fmt, start, None, first_line, header, header_line)


def parse_range(
    stream: BinaryIO,
    rng: FileRange,
    source: str,
    *,
    jurisdiction: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
) -> Iterator[Record | Rejected]:
    """The items of `rng`: `stream` is the file opened at offset 0 and seekable; seeks to the range's start.

    A whole-file range is parsed from the stream as it is, without seeking.
    """
    if rng.fmt not in FORMATS:
        raise ValueError(f"unknown format {rng.fmt!r}; expected one of {list(FORMATS)}")
    if rng.whole_file:
        yield from _WHOLE_FILE[rng.fmt](stream, source, jurisdiction=jurisdiction, limits=limits)
        return
    if rng.fmt == "parquet":
        groups = _row_groups(stream, rng)
        yield from parse_row_groups(stream, source, groups, rng.first_line, jurisdiction=jurisdiction,
                                    limits=limits)
        return
    stream.seek(rng.start)
    window = stream if rng.end is None else _Window(stream, rng.end - rng.start)
    if rng.fmt == "jsonl":
        yield from parse_jsonl(window, source, jurisdiction=jurisdiction, limits=limits,
                               first_no=rng.first_line - 1)
    elif rng.start == 0:
        yield from parse_csv(window, source, jurisdiction=jurisdiction, limits=limits)
    else:
        if rng.header is None or rng.header_line is None:
            raise ValueError("a CSV range after the file's start needs the header and its line")
        state = CsvState(rng.start, rng.first_line, rng.header, rng.header_line)
        yield from resume_csv(window, source, state, jurisdiction=jurisdiction, limits=limits)


def _line_starts(stream: BinaryIO, limits: Limits) -> Iterator[_Point]:
    """JSONL: every line (as ``parse_jsonl`` splits them) starts a piece that parses on its own."""
    for line in iter_lines(stream, limits.record_bytes + 1):
        yield line.offset, line.no, None, None


def _plan_parquet(stream: BinaryIO, path: str, target_bytes: int) -> Iterator[FileRange]:
    sizes = row_group_sizes(stream)
    if not sizes:
        yield FileRange(path, "parquet")
        return
    runs: list[tuple[int, int, int]] = []  # (first group, stop, first row)
    first, first_row, row, size = 0, 1, 1, 0
    for index, (rows, compressed) in enumerate(sizes):
        row += rows
        size += compressed
        if size >= target_bytes:
            runs.append((first, index + 1, first_row))
            first, first_row, size = index + 1, row, 0
    if first < len(sizes):
        runs.append((first, len(sizes), first_row))
    if len(runs) == 1:
        yield FileRange(path, "parquet")
        return
    for start, stop, first_row in runs:
        yield FileRange(path, "parquet", start, stop, first_row)


def _row_groups(stream: BinaryIO, rng: FileRange) -> range:
    if rng.end is not None:
        return range(rng.start, rng.end)
    sizes = row_group_sizes(stream)
    return range(rng.start, len(sizes) if sizes is not None else rng.start)


class _Window:
    """Reads ``size`` bytes of ``stream`` from its current position, then reports end of file."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._left = size

    def read(self, size: int | None = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(want)
        self._left -= len(data)
        return data
