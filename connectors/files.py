"""File sources: ``ReadRecords`` streams CSV, JSONL and Parquet files matched by a path, glob or URI.

Any scheme Beam's ``FileSystems`` knows works (local paths, ``gs://``, ``s3://`` with the matching
extras). Files are read in two passes (:mod:`.file_ranges`): pass 1 cuts each matched file into ranges
of about ``RANGE_BYTES`` at clean record boundaries (a structural read: the real parser, values
discarded; Parquet: the footer); the ranges are reshuffled over the workers; pass 2 parses each range
in the step that redacts its records. A large file is thus redacted by every worker, its records never
travel through the runner, and no task holds more than its ranges' records: worker memory does not grow
with the input. A compressed text file cannot be entered in the middle and is one range.
The sinks live in ``file_sinks`` and are re-exported here.

A file that cannot be read to its end (truncated or corrupt compressed data, an I/O error) gives one
``Rejected(source_error)`` per range that meets the failure, whose ``ref`` is the position reached
(``after line N``) and whose detail names the byte offsets; the rows before it are delivered, the rest
of that range is not, and the run's manifest check fails on it. Compressed text files are decompressed by
:class:`~redactline.connectors.compressed.CheckedDecompressor`, which notices a file that ends early
(Beam's own reader takes a truncated ``.gz`` for a shorter file).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from redactline.connectors.compressed import CheckedDecompressor, CompressedReadError, compression_of
from redactline.connectors.csv_io import parse_csv
from redactline.connectors.file_ranges import FileRange, parse_range, plan_ranges
from redactline.connectors.file_sinks import WriteRecords, read_back
from redactline.connectors.jsonl_io import parse_jsonl
from redactline.connectors.limits import MAX_DEPTH, MIB, Limits
from redactline.connectors.parquet_io import parse_parquet
from redactline.connectors.records import SOURCE_ERROR, Record, RecordMeta, Rejected

__all__ = [
    "FORMATS", "ReadRecords", "WriteRecords", "infer_format", "parse_stream", "read_back", "source_uri",
]

RECORDS = "records"
REJECTED = "rejected"

Parser = Callable[..., Iterator[Record | Rejected]]
FORMATS: dict[str, Parser] = {"csv": parse_csv, "jsonl": parse_jsonl, "parquet": parse_parquet}
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
RANGES = "ranges"
#: Bytes of a file per range (pass 2's unit of work, see ``ReadRecords``); a file over
#: ``RANGE_BYTES * MAX_RANGES_PER_FILE`` gets proportionally larger ranges.
RANGE_BYTES = 32 * 1024
MAX_RANGES_PER_FILE = 4096
#: Attribute of the ``Distribute`` reshuffle: into how many parts the input is worth splitting (one per
#: ``PARTITION_BYTES`` of matched files), for a runner that fixes a reshuffle's partition count when the
#: graph is built (the Dask runner): a fixed count would let each partition grow with the input.
PARTITIONS_HINT = "redactline_partitions"
PARTITION_BYTES = 256 * 1024
_COMPRESSED = (".gz", ".bz2", ".deflate", ".zst", ".zstd", ".lzma", ".xz", ".snappy")


def infer_format(path: str) -> str | None:
    """``csv``/``jsonl``/``parquet`` from the file name (a compression suffix is looked through)."""
    name = path.lower()
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return _EXTENSIONS.get(os.path.splitext(name)[1])


def source_uri(path: str) -> str:
    """The URI recorded in ``RecordMeta.source``: ``file:///abs/path`` for local files, else as given."""
    if "://" in path:
        return path
    return "file://" + os.path.abspath(path)


def parse_stream(
    stream: BinaryIO, fmt: str, source: str, *, jurisdiction: str | None = None, limits: Limits = Limits()  # noqa: B008
) -> Iterator[Record | Rejected]:
    """Parse an open binary stream in format ``fmt`` (a pure generator, no Beam)."""
    try:
        parser = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}") from None
    return parser(stream, source, jurisdiction=jurisdiction, limits=limits)


def _reading_failed(exc: BaseException, last_ref: str, source: str, jurisdiction: str | None) -> Rejected:
    """The ``source_error`` for a file that could not be read to its end (``ref``: the position reached)."""
    where = "file" if last_ref == "file" else f"after {last_ref}"
    if isinstance(exc, CompressedReadError):
        kind = str(exc)  # offsets reached, no data
    else:
        kind = type(exc).__qualname__ if type(exc).__module__ == "builtins" else (
            f"{type(exc).__module__}.{type(exc).__qualname__}")
    detail = f"reading failed ({'at the start' if where == 'file' else where}): {kind}"
    return Rejected(SOURCE_ERROR, detail, RecordMeta(source, where, jurisdiction))


_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error)  # I/O or decompression failure mid-file


def _open_raw(path: str) -> BinaryIO:
    """The file's bytes as stored (seekable where the filesystem allows: local, gs://, s3://)."""
    return FileSystems.open(path, mime_type="application/octet-stream",
                            compression_type=CompressionTypes.UNCOMPRESSED)


def _splittable(path: str, fmt: str) -> bool:
    """Compressed text cannot be entered in the middle: such a file is read as one range."""
    return fmt == "parquet" or compression_of(path) is None


class _PlanRangesFn(beam.DoFn):
    """Pass 1: cuts one matched file into :class:`FileRange` pieces of about ``RANGE_BYTES`` at clean record
    boundaries (a structural read of the file; Parquet: its footer only). The pieces are few and small,
    so the runner can deal them over the workers and each worker parses the pieces it redacts: no task
    ever holds a whole file's records. A file the plan cannot read to its end becomes one whole-file
    range, so that pass 2 reports the failure where the parse reaches it, as for an unsplit file."""

    def __init__(self, fmt: str | None, limits: Limits, jurisdiction: str | None,
                 range_bytes: int | None) -> None:
        self._fmt = fmt
        self._limits = limits
        self._jurisdiction = jurisdiction
        self._range_bytes = range_bytes

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        path = readable.metadata.path
        fmt = self._fmt or infer_format(path)
        if fmt is None:
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                Rejected(SOURCE_ERROR, "unknown file format (give fmt explicitly)",
                         RecordMeta(source_uri(path), "file", self._jurisdiction)),
            )
            return
        if not _splittable(path, fmt):
            yield FileRange(path, fmt)
            return
        try:  # planned whole before any piece is emitted: a failed plan falls back to one range
            with _open_raw(path) as stream:
                target = self._range_bytes or range_target_bytes(readable.metadata.size_in_bytes)
                pieces = list(plan_ranges(stream, path, fmt, limits=self._limits, target_bytes=target))
        except _READ_ERRORS:
            pieces = [FileRange(path, fmt)]
        yield from pieces


class _ParseRangeFn(beam.DoFn):
    """Pass 2: parses one :class:`FileRange`; rejected items go to the ``rejected`` output."""

    def __init__(self, limits: Limits, jurisdiction: str | None) -> None:
        self._limits = limits
        self._jurisdiction = jurisdiction

    def process(self, piece: FileRange) -> Iterator[Any]:
        source = source_uri(piece.path)
        # Parquet needs random access: open it as stored (seekable); compressed text formats are
        # decompressed by the checked reader (it raises when the compressed data ends early).
        compression = None if piece.fmt == "parquet" else compression_of(piece.path)
        last_ref = "file" if piece.start == 0 else f"line {piece.first_line - 1}"
        try:
            stream = _open_raw(piece.path)
            if compression is not None:
                stream = CheckedDecompressor(stream, compression)
            with stream:
                for item in parse_range(stream, piece, source, jurisdiction=self._jurisdiction,
                                        limits=self._limits):
                    last_ref = item.meta.ref
                    yield item if isinstance(item, Record) else beam.pvalue.TaggedOutput(REJECTED, item)
        except _READ_ERRORS as exc:
            failed = _reading_failed(exc, last_ref, source, self._jurisdiction)
            yield beam.pvalue.TaggedOutput(REJECTED, failed)


def range_target_bytes(file_bytes: int) -> int:
    """Bytes per range: ``RANGE_BYTES``, more for a file so large that it would make over
    ``MAX_RANGES_PER_FILE`` ranges (each range opens the file again: a request on cloud storage)."""
    return max(RANGE_BYTES, -(-file_bytes // MAX_RANGES_PER_FILE))


class ReadRecords(beam.PTransform):
    """Read every file matching ``pattern`` into ``{"records": PCollection[Record], "rejected": ...}``.

    ``fmt`` (``csv``, ``jsonl``, ``parquet``) is inferred per file from its extension when not given;
    a file whose format cannot be inferred becomes one ``Rejected(source_error)``. A pattern that
    matches nothing raises ``FileNotFoundError`` naming it, when the pipeline is built.
    """

    def __init__(
        self,
        pattern: str,
        fmt: str | None = None,
        max_field_bytes: int = MIB,
        jurisdiction: str | None = None,
        *,
        max_record_bytes: int | None = None,
        max_record_lines: int = 1000,
        max_depth: int = MAX_DEPTH,
        range_bytes: int | None = None,
    ) -> None:
        super().__init__()
        if fmt is not None and fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
        self._pattern = pattern
        self._fmt = fmt
        self._jurisdiction = jurisdiction
        self._limits = Limits(max_field_bytes, max_record_bytes, max_record_lines, max_depth)
        self._range_bytes = range_bytes

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        matched = FileSystems.match([self._pattern])[0].metadata_list
        if not matched:
            raise FileNotFoundError(f"no file matches {self._pattern!r}")
        plan = _PlanRangesFn(self._fmt, self._limits, self._jurisdiction, self._range_bytes)
        planned = (
            pbegin
            | "Match" >> fileio.MatchFiles(self._pattern, fileio.EmptyMatchTreatment.DISALLOW)
            | "Spread" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches(skip_directories=True)
            | "Plan" >> beam.ParDo(plan).with_outputs(REJECTED, main=RANGES)
        )
        # the ranges, not the records, are dealt over the workers: each worker parses what it redacts, in
        # the same step, so a file's records never travel through the runner nor sit in one task
        distribute = beam.Reshuffle()
        total_bytes = sum(m.size_in_bytes for m in matched)
        setattr(distribute, PARTITIONS_HINT, max(1, -(-total_bytes // PARTITION_BYTES)))
        parsed = (
            planned[RANGES]
            | "Distribute" >> distribute
            | "Parse" >> beam.ParDo(_ParseRangeFn(self._limits, self._jurisdiction)).with_outputs(
                REJECTED, main=RECORDS)
        )
        rejected = (planned[REJECTED], parsed[REJECTED]) | "Rejected" >> beam.Flatten()
        return {RECORDS: parsed[RECORDS], REJECTED: rejected}
