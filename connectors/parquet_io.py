"""Streaming Parquet reader: record batches of bounded size, typed values made JSON values.

Values are converted by the sources' one conversion, :func:`~redactline.connectors.records.to_json_value`:
date/time/datetime -> ISO 8601 string (with offset when the timestamp has a zone); ``Decimal`` -> its
exact string; duration -> seconds; NaN/inf -> ``"NaN"``/``"Infinity"``/``"-Infinity"``; UUID ->
string; map -> dict when keys are unique strings, else a list of ``[key, value]`` pairs; struct ->
dict; list -> list. Binary values: valid UTF-8 -> string (so the redactor inspects it as text); any
other binary value -> the row is rejected as ``invalid_utf8``. Base64 is deliberately not used: it
would carry the bytes past the redactor uninspected.

A file pyarrow cannot open, or one whose columns repeat a name (a record cannot hold both values, and
keeping one would hide the other from review) -> one ``Rejected(source_error)`` for the file (``ref`` =
``"file"``, the detail names column positions only); a row nested deeper than ``max_depth`` ->
``too_deep`` (checked only when the schema allows such depth); a row group that fails mid-file -> one
``Rejected(source_error)`` naming the first unread row; a row whose values cannot be converted ->
``parse_error`` for that row, ``raw`` = the row as an Arrow IPC stream (lossless).

``parse_row_groups`` reads a run of row groups only (``file_ranges`` splits a file that way); row groups
are read one at a time in both, so a run gives exactly the whole file's items for its rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from redactline.connectors.limits import Limits, depth_of, first_oversize_field
from redactline.connectors.records import (
    INVALID_UTF8,
    OVERSIZE,
    PARSE_ERROR,
    SOURCE_ERROR,
    TOO_DEEP,
    BinaryValueError,
    Record,
    RecordMeta,
    Rejected,
    to_json_value,
)


def _row_bytes(batch: pa.RecordBatch, index: int) -> bytes:
    """One row of ``batch`` as an Arrow IPC stream: the lossless raw form kept for quarantine."""
    batch = batch.slice(index, 1)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def parse_parquet(
    stream: BinaryIO,
    source: str,
    *,
    jurisdiction: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    batch_size: int = 1024,
) -> Iterator[Record | Rejected]:
    """Yield one ``Record`` or ``Rejected`` per row of the Parquet file ``stream`` (``ref`` = ``"row N"``).

    The stream must be seekable (Parquet keeps its footer at the end).
    """
    yield from _parse(stream, source, jurisdiction, limits, batch_size)


def parse_row_groups(
    stream: BinaryIO,
    source: str,
    groups: range,
    first_row: int,
    *,
    jurisdiction: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen dataclass, safe as a default
    batch_size: int = 1024,
) -> Iterator[Record | Rejected]:
    """``parse_parquet``'s items for the row groups ``groups`` only, whose first row is row ``first_row``."""
    yield from _parse(stream, source, jurisdiction, limits, batch_size, groups, first_row)


def row_group_sizes(stream: BinaryIO) -> list[tuple[int, int]] | None:
    """``(rows, compressed bytes)`` of each row group, from the footer only; None for a file that
    ``parse_parquet`` rejects as a whole (unreadable, repeated column names)."""
    try:
        parquet = pq.ParquetFile(stream)
        if _repeated_name(parquet.schema_arrow.names) is not None:
            return None
        meta = parquet.metadata
        return [(group.num_rows, sum(group.column(i).total_compressed_size for i in range(group.num_columns)))
                for group in map(meta.row_group, range(meta.num_row_groups))]
    except Exception:  # whatever fails here, parse_parquet reports it for the whole file
        return None


def _repeated_name(names: list[str]) -> tuple[int, int] | None:
    """``(position, earlier position)`` of the first column whose name repeats an earlier one."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            return position, seen[name]
        seen[name] = position
    return None


def _parse(
    stream: BinaryIO,
    source: str,
    jurisdiction: str | None,
    limits: Limits,
    batch_size: int,
    groups: range | None = None,
    first_row: int = 1,
) -> Iterator[Record | Rejected]:
    try:
        parquet = pq.ParquetFile(stream)
    except Exception as exc:  # any failure to open is a source error for this file
        yield Rejected(SOURCE_ERROR, f"not a readable Parquet file ({type(exc).__name__})",
                       RecordMeta(source, "file", jurisdiction))
        return
    names = parquet.schema_arrow.names
    repeated = _repeated_name(names)
    if repeated is not None:
        yield Rejected(SOURCE_ERROR, f"column {repeated[0]} repeats the name of column {repeated[1]}",
                       RecordMeta(source, "file", jurisdiction))
        return
    # The record is level 1; only a schema nesting deeper than the limit needs a check per row.
    deep = 1 + max((_type_depth(f.type) for f in parquet.schema_arrow), default=0) > limits.max_depth
    row = first_row - 1
    # One row group at a time: a batch never spans two row groups, so a run of row groups read on its
    # own gives exactly the batches (and quarantined raw rows) that the whole file gives
    for group in groups if groups is not None else range(parquet.num_row_groups):
        batches = parquet.iter_batches(batch_size=batch_size, row_groups=[group])
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # a corrupt row group ends the file, loudly
                yield Rejected(SOURCE_ERROR, f"file unreadable from row {row + 1} on ({type(exc).__name__})",
                               RecordMeta(source, f"row {row + 1}", jurisdiction))
                return
            if batch is None:
                break
            try:
                rows: list[dict[str, Any] | None] = batch.to_pylist()
            except Exception:  # fall back to row by row to isolate the bad rows
                rows = list(_rows(batch))
            for index, values in enumerate(rows):
                row += 1
                if deep and values is not None and depth_of(values, limits.max_depth) > limits.max_depth:
                    yield Rejected(TOO_DEEP, f"nested deeper than {limits.max_depth} levels",
                                   RecordMeta(source, f"row {row}", jurisdiction), _row_bytes(batch, index))
                    continue
                yield _convert(values, batch, index, names, source, row, jurisdiction, limits)


def _type_depth(kind: pa.DataType) -> int:
    """Nesting levels an Arrow type adds (a struct, list or map is one level, plus its children)."""
    depth, stack = 0, [(kind, 0)]
    while stack:
        item, level = stack.pop()
        if pa.types.is_struct(item) or pa.types.is_map(item) or pa.types.is_list(item) or (
                pa.types.is_large_list(item) or pa.types.is_fixed_size_list(item)):
            level += 1
            depth = max(depth, level)
            stack.extend((item.field(i).type, level) for i in range(item.num_fields))
    return depth


def _rows(batch: pa.RecordBatch) -> Iterator[dict[str, Any] | None]:
    """Row by row, ``None`` for a row pyarrow cannot turn into Python values."""
    for i in range(batch.num_rows):
        try:
            yield batch.slice(i, 1).to_pylist()[0]
        except Exception:
            yield None


def _convert(
    values: dict[str, Any] | None,
    batch: pa.RecordBatch,
    index: int,
    names: list[str],
    source: str,
    row: int,
    jurisdiction: str | None,
    limits: Limits,
) -> Record | Rejected:
    meta = RecordMeta(source, f"row {row}", jurisdiction)
    if values is None:
        detail = "row has values that cannot be converted"
        return Rejected(PARSE_ERROR, detail, meta, _row_bytes(batch, index))
    fields: dict[str, Any] = {}
    for position, name in enumerate(names, start=1):
        try:
            fields[name] = to_json_value(values.get(name))
        except BinaryValueError:
            return Rejected(INVALID_UTF8, f"field {position} is binary, not UTF-8 text", meta,
                            _row_bytes(batch, index))
        except (TypeError, ValueError):
            return Rejected(PARSE_ERROR, f"field {position} cannot be converted", meta,
                            _row_bytes(batch, index))
    big = first_oversize_field(fields.values(), limits.max_field_bytes)
    if big is not None:
        return Rejected(OVERSIZE, f"field {big[0]} is {big[1]} bytes", meta, _row_bytes(batch, index))
    return Record(fields, meta)
