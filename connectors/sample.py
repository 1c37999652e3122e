"""A bounded sample of a source's records, read on the driver through the very parsing the Beam
sources use (for column profiling before a run).

* files: the matched files in path order, each through :func:`~.files.parse_stream` (the format from
  the extension, compressed text files opened as the source opens them); the first ``n`` records;
* PostgreSQL: the first ``n`` rows of the read :class:`~.postgres.ReadPostgres` would do (its first
  partition; with a key column the lowest key range), converted by the same code; the server-side cursor
  fetches at most ``n`` rows;
* HTTP API: the first pages until ``n`` records, through the same pagination and item parsing.

Only ``Record`` items count; rejected ones are skipped (the run quarantines them). No Beam pipeline
runs; nothing is written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from .limits import MIB, Limits
from .records import Record


def _first(items: Iterator[Any], n: int) -> list[Record]:
    out: list[Record] = []
    for item in items:
        if isinstance(item, Record):
            out.append(item)
            if len(out) >= n:
                break
    return out


def sample_files(pattern: str, n: int, *, fmt: str | None = None, max_field_bytes: int = MIB) -> list[Record]:
    """The first ``n`` records of the files matching ``pattern`` (sorted by path)."""
    from .files import infer_format, parse_stream, source_uri

    matched = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not matched:
        raise FileNotFoundError(f"no file matches {pattern!r}")
    limits = Limits(max_field_bytes)
    out: list[Record] = []
    for path in matched:
        kind = fmt or infer_format(path)
        if kind is None:
            continue
        compression = CompressionTypes.UNCOMPRESSED if kind == "parquet" else CompressionTypes.AUTO
        with FileSystems.open(path, mime_type="application/octet-stream", compression_type=compression) as f:
            items = parse_stream(f, kind, source_uri(path), limits=limits)
            try:
                out += _first(items, n - len(out))
            finally:
                items.close()
        if len(out) >= n:
            break
    return out


def sample_postgres(dsn: str | None, table: str, n: int, *, key: str | None = None,
                    max_field_bytes: int = MIB) -> list[Record]:
    """The first ``n`` rows of ``table`` as :class:`~.postgres.ReadPostgres` reads them."""
    from .postgres import DEFAULT_DSN_ENV, _Dsn, _PlanPartitions, _ReadPartition, _ReadSpec, resolve_dsn

    spec = _ReadSpec(_Dsn(resolve_dsn(dsn, DEFAULT_DSN_ENV)), table, None, key, 1, max(1, n), None,
                     Limits(max_field_bytes))
    reader = _ReadPartition(spec)
    out: list[Record] = []
    for partition in _PlanPartitions(spec).process(None):
        rows = reader.process(partition)
        try:
            out += _first(rows, n - len(out))
        finally:
            rows.close()  # ends the server-side cursor and the transaction
        if len(out) >= n:
            break
    return out


def sample_http(url: str, n: int, *, pagination: str, items_path: str = "items",
                auth_env: str | None = None) -> list[Record]:
    """The first ``n`` records of a paginated JSON API, fetching pages only until there are ``n``."""
    from .http_api import HttpApiConfig, iter_pages, make_client, page_outputs, safe_url

    config = HttpApiConfig(url=url, pagination=pagination, items_path=items_path,  # type: ignore[arg-type]
                           auth_env=auth_env)
    with make_client(config) as client:
        pages = iter_pages(client, config)
        items = itertools.chain.from_iterable(page_outputs(page, safe_url(url)) for page in pages)
        return _first(items, n)
