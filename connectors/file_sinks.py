"""File sinks: ``WriteRecords`` writes a PCollection of plain ``dict`` as JSONL, CSV or Parquet shards.

* JSONL: one compact JSON object per line, UTF-8 (a non-JSON value such as a date is written in the
  sources' one JSON form, :func:`~redactline.connectors.records.to_json_value`).
* CSV: header = the sorted union of keys over the whole PCollection; missing keys and ``None`` are
  empty cells; strings are written as they are, any other value as compact JSON text.
* Parquet: the schema is inferred over the whole PCollection (per-column pyarrow inference, types
  unified with permissive promotion, columns sorted); a column whose types cannot be unified fails
  the pipeline with an error naming the column.

Rows are assigned to shards by a content hash (stable across processes), grouped, and each shard is
written to a temporary name and then renamed, so a retried shard never leaves a half-written file.
``prefix_or_path`` ending in the format's extension names one single file; otherwise shards are
named ``{prefix}-00000-of-00004.{ext}``. An empty PCollection writes no file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from redactline.connectors.records import to_json_value

EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
_READ_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
PARQUET_BATCH_ROWS = 10_000


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=to_json_value)


def csv_cell(value: Any) -> str:
    """How one value is written into a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _json(value)


def _column_type(name: str, values: list[Any]) -> pa.DataType:
    try:
        return pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise ValueError(f"Parquet sink: column {name!r} mixes incompatible types") from None


def _infer_schema(rows: list[dict[str, Any]]) -> pa.Schema:
    names = sorted({str(k) for row in rows for k in row})
    return pa.schema([(n, _column_type(n, [row.get(n) for row in rows])) for n in names])


def _unify(a: pa.Schema | None, b: pa.Schema | None) -> pa.Schema | None:
    if a is None or b is None:
        return a if b is None else b
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"Parquet sink: columns with incompatible types ({type(exc).__name__})") from None


class UnionSchema(beam.CombineFn):
    """Combines rows into one Parquet schema (inferred per batch of rows, then unified)."""

    BATCH = 512

    def create_accumulator(self) -> tuple[pa.Schema | None, list[dict[str, Any]]]:
        return None, []

    def _flush(self, acc: tuple[pa.Schema | None, list]) -> tuple[pa.Schema | None, list]:
        schema, rows = acc
        return (_unify(schema, _infer_schema(rows)) if rows else schema), []

    def add_input(self, acc, row):  # noqa: D102 - CombineFn protocol
        acc[1].append(row)
        return self._flush(acc) if len(acc[1]) >= self.BATCH else acc

    def merge_accumulators(self, accumulators):  # noqa: D102 - CombineFn protocol
        merged: pa.Schema | None = None
        for acc in accumulators:
            merged = _unify(merged, self._flush(acc)[0])
        return merged, []

    def extract_output(self, acc) -> pa.Schema | None:  # noqa: D102 - CombineFn protocol
        schema = self._flush(acc)[0]
        if schema is None:
            return None
        return pa.schema(sorted(schema, key=lambda f: f.name))


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
            batch.append(row)
            if len(batch) >= PARQUET_BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}


def shard_of(row: dict[str, Any], total: int) -> int:
    """A stable shard index for ``row`` (same in every process, unlike ``hash``)."""
    return zlib.crc32(json.dumps(row, sort_keys=True, default=to_json_value).encode("utf-8")) % total


class _WriteShardFn(beam.DoFn):
    def __init__(self, fmt: str, prefix: str, single_path: bool) -> None:
        self._fmt = fmt
        self._prefix = prefix
        self._single = single_path

    def _final_name(self, index: int, total: int) -> str:
        if self._single:
            return self._prefix
        return f"{self._prefix}-{index:05d}-of-{total:05d}{EXTENSIONS[self._fmt]}"

    def process(self, element: tuple[tuple[int, int], Iterable[dict]], layout: Any) -> Iterator[str]:
        (index, total), rows = element
        final = self._final_name(index, total)
        temp = f"{final}.tmp-{uuid.uuid4().hex}"
        with FileSystems.create(temp, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            _WRITERS[self._fmt](stream, rows, layout)
        FileSystems.rename([temp], [final])
        yield final


class WriteRecords(beam.PTransform):
    """Write a PCollection of ``dict`` to files; returns the PCollection of written file names.

    ``num_shards=0`` lets the sink choose: one shard per ``rows_per_shard`` rows (at least one).
    """

    def __init__(
        self, prefix_or_path: str, fmt: str, num_shards: int = 0, *, rows_per_shard: int = 1_000_000
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

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        if self._num_shards:
            total = pcoll.pipeline | "ShardCount" >> beam.Create([self._num_shards])
        else:
            per = self._rows_per_shard
            total = (
                pcoll
                | "CountRows" >> beam.combiners.Count.Globally()
                | "ShardCount" >> beam.Map(lambda n: max(1, math.ceil(n / per)))
            )
        if self._fmt == "csv":
            layout = (
                pcoll
                | "Keys" >> beam.FlatMap(lambda row: [str(k) for k in row])
                | "DistinctKeys" >> beam.Distinct()
                | "AllKeys" >> beam.combiners.ToList()
                | "Sorted" >> beam.Map(sorted)
            )
        elif self._fmt == "parquet":
            layout = pcoll | "Schema" >> beam.CombineGlobally(UnionSchema())
        else:
            layout = pcoll.pipeline | "NoLayout" >> beam.Create([None])
        return (
            pcoll
            | "AssignShard" >> beam.Map(
                lambda row, n: ((shard_of(row, n), n), row), n=beam.pvalue.AsSingleton(total)
            )
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(
                _WriteShardFn(self._fmt, self._prefix, self._single), layout=beam.pvalue.AsSingleton(layout)
            )
        )


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
