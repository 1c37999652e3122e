"""Turn ``--source`` / ``--sink`` URIs into connector transforms, and name default output paths.

* ``postgresql://user@host:5432/db#schema.table`` - PostgreSQL (the part after ``#`` is the table);
* ``http://...`` / ``https://...`` - a paginated JSON API (source only);
* anything else - a file path or glob; the format comes from the extension (.csv, .jsonl, .parquet).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam

from redactline.connectors.http_api import safe_url
from redactline.connectors.records import redact_dsn

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


class UriError(ValueError):
    """A source or sink URI that cannot be used; the message names the flag."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed URI: ``kind`` is ``postgres``, ``http`` or ``file``."""

    flag: str
    uri: str
    kind: str
    dsn: str | None = None
    table: str | None = None
    fmt: str | None = None

    @property
    def safe(self) -> str:
        """The URI for logs, lineage and the manifest: no password, no query value (tokens travel there)."""
        if self.kind == "http":
            return safe_url(self.uri)
        base, sep, fragment = self.uri.partition("#")
        head, qsep, query = base.partition("?")
        head = redact_dsn(head)
        if qsep:
            head += "?" + "&".join(f"{part.partition('=')[0]}=***" for part in query.split("&") if part)
        return head + sep + fragment


def parse(flag: str, uri: str | None, *, allow_http: bool = False) -> Endpoint:
    """Parse ``uri`` given for ``flag``; raises :class:`UriError` naming the flag."""
    if not uri:
        raise UriError(f"{flag} is required")
    if uri.startswith(("postgresql://", "postgres://")):
        dsn, sep, table = uri.partition("#")
        if not sep or not table:
            raise UriError(f"{flag} {redact_dsn(uri)}: add the table after '#', e.g. ...#public.users")
        return Endpoint(flag, uri, "postgres", dsn=dsn, table=table)
    if uri.startswith(("http://", "https://")):
        if not allow_http:
            raise UriError(f"{flag}: an HTTP API is supported as a source only")
        return Endpoint(flag, uri, "http")
    if "://" in uri and not uri.startswith("file://"):
        raise UriError(f"{flag} {redact_dsn(uri)}: unsupported scheme")
    suffix = Path(uri).suffix.lower()
    fmt = FILE_FORMATS.get(suffix)
    if fmt is None and flag != "--source":
        raise UriError(f"{flag} {uri}: the file extension must be one of {sorted(FILE_FORMATS)}")
    return Endpoint(flag, uri, "file", fmt=fmt)


def source_transform(ep: Endpoint, *, jurisdiction: str | None, max_field_bytes: int | None,
                     key: str | None, partitions: int, pagination: str | None, items_path: str = "items",
                     auth_env: str | None = None) -> beam.PTransform:
    """The connector reading ``ep``; its ``expand`` returns ``{"records", "rejected"}``."""
    if ep.kind == "postgres":
        from redactline.connectors.postgres import ReadPostgres

        return ReadPostgres(ep.dsn, table=ep.table, key=key, partitions=partitions, jurisdiction=jurisdiction)
    if ep.kind == "http":
        from redactline.connectors.http_api import ReadHttpApi

        if pagination is None:
            raise UriError("--source is an HTTP API: give --http-pagination cursor|page|link")
        return ReadHttpApi(ep.uri, items_path=items_path, pagination=pagination, auth_env=auth_env,
                           jurisdiction=jurisdiction)
    from redactline.connectors.files import ReadRecords

    kwargs = {"max_field_bytes": max_field_bytes} if max_field_bytes else {}
    return ReadRecords(ep.uri, fmt=ep.fmt, jurisdiction=jurisdiction, **kwargs)


def sink_transform(ep: Endpoint, *, key: str, num_shards: int) -> beam.PTransform:
    """The connector writing plain dicts to ``ep``. A file sink reports the rows it rejects
    (``{"written", "delivered", "rejected"}``) instead of failing the run on them."""
    if ep.kind == "postgres":
        from redactline.connectors.postgres import WritePostgres

        return WritePostgres(ep.dsn, ep.table, [k.strip() for k in key.split(",") if k.strip()])
    from redactline.connectors.file_sinks import WriteRecords

    assert ep.fmt is not None
    if num_shards <= 1:
        return WriteRecords(ep.uri, ep.fmt, report=True)  # exactly the named file
    prefix = ep.uri[: -len(Path(ep.uri).suffix)]
    return WriteRecords(prefix, ep.fmt, num_shards=num_shards, report=True)


def default_outputs(sink: Endpoint) -> tuple[Path, str]:
    """Directory and file stem for outputs not named on the command line.

    A file sink ``out/result.jsonl`` gives ``out/`` and ``result``; any other sink gives
    ``./redactline-out/`` and the table name.
    """
    if sink.kind == "file":
        path = Path(sink.uri.removeprefix("file://"))
        return path.parent, path.stem
    name = (sink.table or "run").replace(os.sep, "_")
    return Path("redactline-out"), name
