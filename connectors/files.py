"""File sources: ``ReadRecords`` streams CSV, JSONL and Parquet files matched by a path, glob or URI.

Any scheme Beam's ``FileSystems`` knows works (local paths, ``gs://``, ``s3://`` with the matching
extras). Files are matched, reshuffled so that workers share them, then each file is streamed through
its parser (``csv_io``, ``jsonl_io``, ``parquet_io``): nothing holds a whole file. The parsed records are
reshuffled again, in chunks of ``CHUNK_RECORDS``, so that the records of one large file are redacted by
every worker, not by the one that read it. The sinks live in
``file_sinks`` and are re-exported here.

A file that cannot be read to its end (truncated or corrupt compressed data, an I/O error) gives one
``Rejected(source_error)`` whose ``ref`` is the position reached (``after line N``) and whose detail
names the byte offsets; the rows before it are delivered, the rest of the file is not, and the run's
manifest check fails on it. Compressed text files are decompressed by
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
#: Records per element when a file's records are spread over the workers (see ``ReadRecords``).
CHUNK_RECORDS = 100
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


class _ParseFileFn(beam.DoFn):
    """Streams one matched file through its parser; rejected items go to the ``rejected`` output."""

    def __init__(self, fmt: str | None, limits: Limits, jurisdiction: str | None) -> None:
        self._fmt = fmt
        self._limits = limits
        self._jurisdiction = jurisdiction

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        path = readable.metadata.path
        source = source_uri(path)
        fmt = self._fmt or infer_format(path)
        if fmt is None:
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                Rejected(SOURCE_ERROR, "unknown file format (give fmt explicitly)",
                         RecordMeta(source, "file", self._jurisdiction)),
            )
            return
        # Parquet needs random access: open it as stored (seekable); compressed text formats are
        # decompressed by the checked reader (it raises when the compressed data ends early).
        compression = None if fmt == "parquet" else compression_of(path)
        last_ref = "file"
        try:
            stream = readable.open(mime_type="application/octet-stream",
                                   compression_type=CompressionTypes.UNCOMPRESSED)
            if compression is not None:
                stream = CheckedDecompressor(stream, compression)
            with stream:
                jurisdiction, limits = self._jurisdiction, self._limits
                items = parse_stream(stream, fmt, source, jurisdiction=jurisdiction, limits=limits)
                for item in items:
                    last_ref = item.meta.ref
                    yield item if isinstance(item, Record) else beam.pvalue.TaggedOutput(REJECTED, item)
        except (OSError, EOFError, ValueError, zlib.error) as exc:  # I/O or decompression failure mid-file
            where = "file" if last_ref == "file" else f"after {last_ref}"
            if isinstance(exc, CompressedReadError):
                kind = str(exc)  # offsets reached, no data
            else:
                kind = type(exc).__qualname__ if type(exc).__module__ == "builtins" else (
                    f"{type(exc).__module__}.{type(exc).__qualname__}")
            detail = f"reading failed ({'at the start' if where == 'file' else where}): {kind}"
            meta = RecordMeta(source, where, self._jurisdiction)
            yield beam.pvalue.TaggedOutput(REJECTED, Rejected(SOURCE_ERROR, detail, meta))


def _items(chunk: list[Record]) -> list[Record]:
    return chunk


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
    ) -> None:
        super().__init__()
        if fmt is not None and fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
        self._pattern = pattern
        self._fmt = fmt
        self._jurisdiction = jurisdiction
        self._limits = Limits(max_field_bytes, max_record_bytes, max_record_lines, max_depth)

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        matched = FileSystems.match([self._pattern])[0].metadata_list
        if not matched:
            raise FileNotFoundError(f"no file matches {self._pattern!r}")
        outputs = (
            pbegin
            | "Match" >> fileio.MatchFiles(self._pattern, fileio.EmptyMatchTreatment.DISALLOW)
            | "Spread" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches(skip_directories=True)
            | "Parse" >> beam.ParDo(_ParseFileFn(self._fmt, self._limits, self._jurisdiction)).with_outputs(
                REJECTED, main=RECORDS
            )
        )
        # one file is parsed in one bundle: spread its records so that every worker redacts a share. They
        # travel in chunks: one element per record made the reader's worker queue (and the runner decode)
        # one small pickled Record at a time, and that worker's memory grew with the file
        records = (
            outputs[RECORDS]
            | "Chunk" >> beam.BatchElements(min_batch_size=CHUNK_RECORDS, max_batch_size=CHUNK_RECORDS)
            | "Distribute" >> beam.Reshuffle()
            | "Unchunk" >> beam.FlatMap(_items)
        )
        return {RECORDS: records, REJECTED: outputs[REJECTED]}
