"""File sinks: ``WriteRecords`` writes a PCollection of plain ``dict`` as JSONL, CSV or Parquet shards.

Every row is first put in the sources' one JSON form
(:func:`~redactline.connectors.records.to_json_value`: a date -> ISO 8601 text, a non-finite number ->
null), so every output line is strict JSON; a row holding a value with no JSON form is rejected
(``sink_type_error`` naming the field, never the value).

* JSONL: one compact JSON object per line, UTF-8.
* CSV: header = the sorted union of keys over the whole PCollection; missing keys and ``None`` are
  empty cells; strings are written as they are, any other value as compact JSON text.
* Parquet: the schema is decided over the whole PCollection by a widening rule that does not depend on
  the order rows arrive in (see :func:`join_kinds`: null joins anything, int + float -> double, nested
  types unified, any other mix -> string holding compact JSON text for non-strings; columns sorted); a
  row that still does not fit its column types is rejected (``sink_type_error`` naming the field).
  ``columns`` (a run's :mod:`redactline.pipelines.output_types`: the source's columns in source order,
  each with the type the policy leaves it) fixes those columns' types and order, whatever the data;
  columns it does not name follow, typed by the rule above. ``metadata`` goes into the file's key-value
  metadata (the policy identity). With ``columns`` an empty result still writes one valid Parquet file
  with that schema and no rows.

Rejected rows never fail the run: with ``report=True`` the transform returns them (the run seals them
into its quarantine and counts only the rows written as delivered); without it, a rejected row fails
the pipeline with its detail, as a standalone writer cannot put it anywhere else.

Rows are assigned to shards by a content hash (stable across processes). JSONL with a known shard count
(a single file name, or ``num_shards``) is written where the rows are produced: each bundle streams its
rows into part files of up to ``ROWS_PER_PART`` rows, and no step groups or holds the rows. Otherwise
(CSV needs the header, Parquet the schema, and ``num_shards=0`` the row count, before a row can be
written) a row goes, within its shard, to one of its parts by the same hash (one part per
``ROWS_PER_PART`` rows: a small shard is one part), and each part is grouped and written to a temporary
file on whichever worker holds it. Either way one step per shard then joins
its parts (byte copy; Parquet row groups copied) into a temporary name and renames it, so a retried
shard never leaves a half-written file and no worker holds a whole shard's rows in memory (a single
output file used to be one group on one worker: its memory grew with the input).
``prefix_or_path`` ending in the format's extension names one single file; otherwise shards are
named ``{prefix}-00000-of-00004.{ext}``. An empty PCollection writes no file (except a Parquet sink
given ``columns``, see above).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from redactline.connectors.records import SINK_TYPE_ERROR, RecordMeta, Rejected, to_json_value
from redactline.connectors.source_schema import from_json_form

EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
_READ_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
PARQUET_BATCH_ROWS = 10_000
#: Rows per part a shard is written in (on any worker) before one step joins the parts: no worker holds
#: a whole shard's rows. A shard of fewer rows is one part (its rows stay in the order they came).
ROWS_PER_PART = 5_000
_COPY_BYTES = 1 << 20
ROWS, REJECTED = "rows", "rejected"


def _json(value: Any) -> str:
    """Compact strict JSON (``allow_nan=False``: the rows are JSON values by now, and a line that is not
    strict JSON must fail loudly rather than reach a consumer)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=to_json_value,
                      allow_nan=False)


def csv_cell(value: Any) -> str:
    """How one value is written into a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _json(value)


# --------------------------------------------------------------------------- rows -> JSON values


def _raw(row: dict[str, Any]) -> bytes:
    """The rejected row for the sealed quarantine (``repr`` only for a value with no JSON form)."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True, default=repr).encode("utf-8")


def _rejected(reason_detail: str, row: dict[str, Any], where: str, name: str) -> Rejected:
    return Rejected(SINK_TYPE_ERROR, reason_detail, RecordMeta(where, f"field {name}"), _raw(row))


def json_row(row: dict[str, Any], where: str) -> dict[str, Any] | Rejected:
    """``row`` with every value in the sources' one JSON form (non-finite numbers -> null), or a
    ``Rejected(sink_type_error)`` naming the first field whose value has no JSON form."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        try:
            out[str(name)] = to_json_value(value)
        except (TypeError, ValueError) as exc:  # UnsupportedValue, BinaryValueError: type only
            detail = f"field {str(name)!r}: {type(exc).__name__} has no JSON form"
            return _rejected(detail, row, where, str(name))
    return out


class _JsonRowsFn(beam.DoFn):
    def __init__(self, where: str) -> None:
        self._where = where

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        out = json_row(row, self._where)
        yield beam.pvalue.TaggedOutput(REJECTED, out) if isinstance(out, Rejected) else out


# --------------------------------------------------------------------------- Parquet schema
#
# A column's type is the join of the kinds of its values, so the schema is the same whatever the
# order rows arrive in: null joins anything; int + float -> double; two nested values (objects,
# arrays) -> their Arrow types unified (permissive promotion); every other mix, an integer outside
# int64, or a nested value Arrow or Parquet cannot type -> string, written as the value itself for a
# string and as compact JSON text for anything else.

_STRING = "string"
Kind = str | pa.DataType  # "null", "bool", "int", "float", "string", or a nested Arrow type
_SCALAR_TYPES = {"null": pa.null(), "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(),
                 _STRING: pa.string()}
_INT64 = range(-(2**63), 2**63)


def _writable(kind: pa.DataType) -> bool:
    """Parquet cannot store a struct without fields (from ``{}``)."""
    if pa.types.is_struct(kind) and kind.num_fields == 0:
        return False
    return all(_writable(kind.field(i).type) for i in range(kind.num_fields))


def kind_of(value: Any) -> Kind:
    """The kind of one JSON value (see the widening rule above)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if value in _INT64 else _STRING
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict | list):
        try:
            kind = pa.array([value]).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return _STRING
        return kind if _writable(kind) else _STRING
    return _STRING


def join_kinds(a: Kind, b: Kind) -> Kind:
    """The least kind holding both (commutative, associative up to Arrow's own promotion)."""
    nested_a, nested_b = not isinstance(a, str), not isinstance(b, str)
    if not nested_a and not nested_b:
        if a == b or b == "null":
            return a
        if a == "null":
            return b
        return "float" if {a, b} == {"int", "float"} else _STRING
    if nested_a and nested_b:
        if a.equals(b):
            return a
        try:
            unified = pa.unify_schemas([pa.schema([("v", a)]), pa.schema([("v", b)])],
                                       promote_options="permissive").field("v").type
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return _STRING
        return unified if _writable(unified) else _STRING
    other = b if nested_a else a
    return (a if nested_a else b) if other == "null" else _STRING


def column_type(kind: Kind) -> pa.DataType:
    return _SCALAR_TYPES[kind] if isinstance(kind, str) else kind


#: Columns a run fixes in a Parquet output: (name, Arrow type or None = typed from the data), in order.
ColumnHint = list[tuple[str, pa.DataType | None]]


class ColumnKinds(beam.CombineFn):
    """Combines rows into one Parquet schema (the join of every column's kinds; columns sorted).

    ``columns`` come first, in their order and with their type when it is given; ``metadata`` is added
    to the schema. With ``columns`` an empty input still has a schema (a column never seen is null).
    """

    def __init__(self, columns: ColumnHint | None = None, metadata: dict[str, str] | None = None) -> None:
        super().__init__()
        self._columns = list(columns or [])
        self._metadata = dict(metadata or {})

    def create_accumulator(self) -> dict[str, Kind]:
        return {}

    def add_input(self, acc: dict[str, Kind], row: dict[str, Any]) -> dict[str, Kind]:
        for name, value in row.items():
            kind = kind_of(value)
            acc[name] = join_kinds(acc[name], kind) if name in acc else kind
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict[str, Kind]]) -> dict[str, Kind]:
        merged: dict[str, Kind] = {}
        for acc in accumulators:
            for name, kind in acc.items():
                merged[name] = join_kinds(merged[name], kind) if name in merged else kind
        return merged

    def extract_output(self, acc: dict[str, Kind]) -> pa.Schema | None:
        if not acc and not self._columns:
            return None
        fields = []
        for name, kind in self._columns:
            fields.append((name, kind if kind is not None else column_type(acc.get(name, "null"))))
        hinted = {name for name, _ in self._columns}
        fields += [(name, column_type(acc[name])) for name in sorted(acc) if name not in hinted]
        schema = pa.schema(fields)
        return schema.with_metadata(self._metadata) if self._metadata else schema


_RESTORED = (pa.types.is_timestamp, pa.types.is_date, pa.types.is_time, pa.types.is_decimal)


def parquet_row(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """``row`` as its Parquet column types take it: a non-string value in a string column -> JSON text;
    a date, time, timestamp or decimal column takes the value back from its JSON form (ISO 8601 text,
    decimal text)."""
    out: dict[str, Any] = {}
    for field in schema:
        value = row.get(field.name)
        if value is not None and pa.types.is_string(field.type) and not isinstance(value, str):
            value = _json(value)
        elif value is not None and any(check(field.type) for check in _RESTORED):
            value = from_json_form(value, field.type)
        out[field.name] = value
    return out


def parquet_misfit(row: dict[str, Any], schema: pa.Schema) -> str | None:
    """The name of the first field of ``row`` its column type cannot hold, else None."""
    fitted = parquet_row(row, schema)
    try:
        pa.Table.from_pylist([fitted], schema=schema)
        return None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
        pass
    for field in schema:
        try:
            pa.array([fitted[field.name]], type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
            return field.name
    return next(iter(schema.names), "")


class _FitParquetFn(beam.DoFn):
    def __init__(self, where: str) -> None:
        self._where = where

    def process(self, row: dict[str, Any], schema: pa.Schema) -> Iterator[Any]:
        name = parquet_misfit(row, schema)
        if name is None:
            yield row
            return
        detail = f"field {name!r} does not fit the Parquet column type {schema.field(name).type}"
        yield beam.pvalue.TaggedOutput(REJECTED, _rejected(detail, row, self._where, name))


def _write_jsonl(stream: Any, rows: Iterable[dict[str, Any]], layout: Any) -> None:
    for row in rows:
        stream.write((_json(row) + "\n").encode("utf-8"))


def _write_csv(stream: Any, rows: Iterable[dict[str, Any]], header: list[str]) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in header])
    text.flush()
    text.detach()


def _write_parquet(stream: Any, rows: Iterable[dict[str, Any]], schema: pa.Schema) -> None:
    with pq.ParquetWriter(stream, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(parquet_row(row, schema))
            if len(batch) >= PARQUET_BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}


class _WriteEmptyParquetFn(beam.DoFn):
    """Writes one Parquet file with the schema and no rows when nothing was written (count 0)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def process(self, count: int, schema: pa.Schema | None) -> Iterator[str]:
        if count or schema is None:
            return
        temp = f"{self._name}.tmp-{uuid.uuid4().hex}"
        with FileSystems.create(temp, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            _write_parquet(stream, [], schema)
        FileSystems.rename([temp], [self._name])
        yield self._name


def shard_of(row: dict[str, Any], total: int) -> int:
    """A stable shard index for ``row`` (same in every process, unlike ``hash``)."""
    return _row_hash(row) % total


def _row_hash(row: dict[str, Any]) -> int:
    return zlib.crc32(json.dumps(row, sort_keys=True, default=to_json_value).encode("utf-8"))


def parts_per_shard(rows: int, shards: int) -> int:
    """Parts per shard so that a part holds about ``ROWS_PER_PART`` rows (at least one part)."""
    return max(1, math.ceil(rows / (max(shards, 1) * ROWS_PER_PART)))


def part_key(row: dict[str, Any], total: int, parts: int = 1) -> tuple[int, int, int]:
    """``(shard, total, part)``: the row's shard and, within it, one of ``parts`` parts (both from one
    content hash, so stable across processes)."""
    digest = _row_hash(row)
    return digest % total, total, (digest // total) % parts


def _write_part_body(fmt: str, stream: Any, rows: Iterable[dict[str, Any]], layout: Any) -> None:
    """A part's rows: a whole file for Parquet (its row groups are copied), the lines without a CSV header."""
    if fmt == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text)
        for row in rows:
            writer.writerow([csv_cell(row.get(name)) for name in layout])
        text.flush()
        text.detach()
        return
    _WRITERS[fmt](stream, rows, layout)


class _WritePartFn(beam.DoFn):
    """Writes one part of a shard (a group of about ``ROWS_PER_PART`` rows) to a
    temporary file beside the final name; yields ``((shard, total), part name)``. Parts are written on
    every worker and no worker holds a whole shard's rows."""

    def __init__(self, fmt: str, prefix: str, single_path: bool) -> None:
        self._fmt = fmt
        self._prefix = prefix
        self._single = single_path

    def process(self, element: tuple[tuple[int, int, int], Iterable[dict]], layout: Any) -> Iterator[Any]:
        (index, total, part), rows = element
        final = _final_name(self._prefix, self._fmt, self._single, index, total)
        name = f"{final}.tmp-part{part:03d}-{uuid.uuid4().hex}"
        with FileSystems.create(name, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            _write_part_body(self._fmt, stream, rows, layout)
        yield (index, total), name


def _final_name(prefix: str, fmt: str, single: bool, index: int, total: int) -> str:
    if single:
        return prefix
    return f"{prefix}-{index:05d}-of-{total:05d}{EXTENSIONS[fmt]}"


def _copy_parquet(out: Any, parts: list[str], schema: pa.Schema) -> None:
    """The parts' rows into one Parquet file, in row groups of about ``PARQUET_BATCH_ROWS`` (streamed:
    one row group's worth in memory)."""
    with pq.ParquetWriter(out, schema) as writer:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for part in parts:
            with FileSystems.open(part, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                for batch in pq.ParquetFile(stream).iter_batches(batch_size=PARQUET_BATCH_ROWS):
                    pending.append(batch)
                    rows += batch.num_rows
                    if rows >= PARQUET_BATCH_ROWS:
                        writer.write_table(pa.Table.from_batches(pending, schema=schema))
                        pending, rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))


class _StreamPartsFn(beam.DoFn):
    """JSONL rows written into part files as they arrive, in the step that produced them: one open part
    per shard (the shard from the row's content hash), a new part every ``ROWS_PER_PART`` rows; yields
    ``((shard, total), part name)`` for each closed part, the last ones when the bundle ends. No row
    travels to another step or is grouped: a worker holds one row at a time, whatever the input size."""

    def __init__(self, prefix: str, single_path: bool, total: int) -> None:
        self._prefix = prefix
        self._single = single_path
        self._total = total
        self._open: dict[int, list[Any]] = {}  # shard -> [part name, stream, rows written]

    def start_bundle(self) -> None:
        self._open = {}

    def process(self, row: dict[str, Any]) -> Iterator[tuple[tuple[int, int], str]]:
        shard = shard_of(row, self._total)
        part = self._open.get(shard)
        if part is None:
            final = _final_name(self._prefix, "jsonl", self._single, shard, self._total)
            name = f"{final}.tmp-part-{uuid.uuid4().hex}"
            part = [name, FileSystems.create(name, compression_type=CompressionTypes.UNCOMPRESSED), 0]
            self._open[shard] = part
        part[1].write((_json(row) + "\n").encode("utf-8"))
        part[2] += 1
        if part[2] >= ROWS_PER_PART:
            yield self._close(shard)

    def finish_bundle(self) -> Iterator[Any]:
        for shard in sorted(self._open):
            yield GlobalWindows.windowed_value(self._close(shard))

    def _close(self, shard: int) -> tuple[tuple[int, int], str]:
        name, stream, _ = self._open.pop(shard)
        stream.close()
        return (shard, self._total), name


class _WriteShardFn(beam.DoFn):
    """Joins a shard's parts into its final file (temporary name, then renamed) and removes the parts."""

    def __init__(self, fmt: str, prefix: str, single_path: bool) -> None:
        self._fmt = fmt
        self._prefix = prefix
        self._single = single_path

    def process(self, element: tuple[tuple[int, int], Iterable[str]], layout: Any) -> Iterator[str]:
        (index, total), names = element
        parts = sorted(names)
        final = _final_name(self._prefix, self._fmt, self._single, index, total)
        temp = f"{final}.tmp-{uuid.uuid4().hex}"
        with FileSystems.create(temp, compression_type=CompressionTypes.UNCOMPRESSED) as out:
            if self._fmt == "parquet":
                _copy_parquet(out, parts, layout)
            else:
                if self._fmt == "csv":
                    _write_csv(out, [], layout)  # the header
                for part in parts:
                    with FileSystems.open(part, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                        shutil.copyfileobj(stream, out, _COPY_BYTES)
        FileSystems.rename([temp], [final])
        FileSystems.delete(parts)
        yield final


class WriteRecords(beam.PTransform):
    """Write a PCollection of ``dict`` to files; returns the PCollection of written file names.

    ``num_shards=0`` lets the sink choose: one shard per ``rows_per_shard`` rows (at least one).
    ``report=True`` returns ``{"written": file names, "delivered": the rows written, "rejected":
    Rejected(sink_type_error)}`` instead (see the module docstring). ``columns`` and ``metadata``: the
    Parquet schema's fixed columns and key-value metadata (see the module docstring).
    """

    def __init__(
        self, prefix_or_path: str, fmt: str, num_shards: int = 0, *, rows_per_shard: int = 1_000_000,
        report: bool = False, columns: ColumnHint | None = None, metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        if fmt not in EXTENSIONS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(EXTENSIONS)}")
        if num_shards < 0 or rows_per_shard < 1:
            raise ValueError("num_shards must be >= 0 and rows_per_shard >= 1")
        self._fmt = fmt
        self._prefix = prefix_or_path
        self._single = prefix_or_path.lower().endswith(EXTENSIONS[fmt])
        if self._single and num_shards > 1:
            raise ValueError(f"{num_shards} shards requested but a single file name was given")
        self._num_shards = 1 if self._single else num_shards
        self._rows_per_shard = rows_per_shard
        self._report = report
        self._columns = columns
        self._metadata = metadata

    def expand(self, rows: beam.PCollection) -> Any:
        where = self._prefix if "://" in self._prefix else "file://" + os.path.abspath(self._prefix)
        checked = rows | "JsonRows" >> beam.ParDo(_JsonRowsFn(where)).with_outputs(REJECTED, main=ROWS)
        pcoll, rejected = checked[ROWS], [checked[REJECTED]]
        schema = None
        if self._fmt == "parquet":
            schema = pcoll | "Schema" >> beam.CombineGlobally(ColumnKinds(self._columns, self._metadata))
            fit = beam.ParDo(_FitParquetFn(where), schema=beam.pvalue.AsSingleton(schema))
            fitted = pcoll | "Fit" >> fit.with_outputs(REJECTED, main=ROWS)
            pcoll = fitted[ROWS]
            rejected.append(fitted[REJECTED])
        all_rejected = tuple(rejected) | "AllRejected" >> beam.Flatten()
        written = self._write(pcoll, schema)
        if schema is not None and self._columns is not None:
            empty = (pcoll | "CountWritten" >> beam.combiners.Count.Globally()
                     | "EmptyFile" >> beam.ParDo(_WriteEmptyParquetFn(self._final_empty_name()),
                                                 schema=beam.pvalue.AsSingleton(schema)))
            written = (written, empty) | "AllWritten" >> beam.Flatten()
        if self._report:
            return {"written": written, "delivered": pcoll, "rejected": all_rejected}
        all_rejected | "FailOnRejected" >> beam.Map(_fail)
        return written

    def _final_empty_name(self) -> str:
        """The one file an empty result writes: the named file, else the first shard's name."""
        if self._single:
            return self._prefix
        return f"{self._prefix}-00000-of-{max(self._num_shards, 1):05d}{EXTENSIONS[self._fmt]}"

    def _write(self, pcoll: beam.PCollection, schema: beam.PCollection | None) -> beam.PCollection:
        if self._fmt == "jsonl" and self._num_shards:
            return self._write_streamed(pcoll)
        count = pcoll | "CountRows" >> beam.combiners.Count.Globally()
        if self._num_shards:
            total = pcoll.pipeline | "ShardCount" >> beam.Create([self._num_shards])
        else:
            per = self._rows_per_shard
            total = count | "ShardCount" >> beam.Map(lambda n: max(1, math.ceil(n / per)))
        if self._fmt == "csv":
            layout = (
                pcoll
                | "Keys" >> beam.FlatMap(lambda row: [str(k) for k in row])
                | "DistinctKeys" >> beam.Distinct()
                | "AllKeys" >> beam.combiners.ToList()
                | "Sorted" >> beam.Map(sorted)
            )
        elif schema is not None:
            layout = schema
        else:
            layout = pcoll.pipeline | "NoLayout" >> beam.Create([None])
        return (
            pcoll
            | "AssignShard" >> beam.Map(_keyed, n=beam.pvalue.AsSingleton(total),
                                        rows=beam.pvalue.AsSingleton(count))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteParts" >> beam.ParDo(
                _WritePartFn(self._fmt, self._prefix, self._single), layout=beam.pvalue.AsSingleton(layout)
            )
            | "GroupParts" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(
                _WriteShardFn(self._fmt, self._prefix, self._single), layout=beam.pvalue.AsSingleton(layout)
            )
        )

    def _write_streamed(self, pcoll: beam.PCollection) -> beam.PCollection:
        """JSONL with a known shard count: parts written where the rows are (:class:`_StreamPartsFn`),
        then joined per shard. (The grouped path below needs the row count before it can key a row, so
        every row waited, whole, in the runner until the last one was produced.)"""
        return (
            pcoll
            | "WriteParts" >> beam.ParDo(_StreamPartsFn(self._prefix, self._single, self._num_shards))
            | "GroupParts" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(_WriteShardFn(self._fmt, self._prefix, self._single), layout=None)
        )


def _keyed(row: dict[str, Any], n: int, rows: int) -> tuple[tuple[int, int, int], dict[str, Any]]:
    return part_key(row, n, parts_per_shard(rows, n)), row


def _fail(rejected: Rejected) -> None:
    raise ValueError(f"{rejected.meta.source}: {rejected.detail}")


def read_back(path_glob: str) -> list[dict[str, Any]]:
    """Every row of every JSONL/CSV/Parquet file matching ``path_glob``, files in name order.

    For tests and demos; it reads whole files into memory. CSV values come back as strings.
    """
    paths = sorted(m.path for m in FileSystems.match([path_glob])[0].metadata_list)
    rows: list[dict[str, Any]] = []
    for path in paths:
        ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
        fmt = _READ_EXTENSIONS.get(ext)
        if fmt is None:
            raise ValueError(f"cannot tell the format of {path!r}")
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            if fmt == "parquet":
                rows.extend(pq.read_table(stream).to_pylist())
                continue
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
            if fmt == "csv":
                rows.extend(dict(row) for row in csv.DictReader(text))
            else:
                rows.extend(json.loads(line) for line in text if line.strip())
    return rows
