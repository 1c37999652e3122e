"""Turn ``--source`` / ``--sink`` URIs into connector transforms, and name default output paths.

* ``postgresql://user@host:5432/db#schema.table`` - PostgreSQL (the part after ``#`` is the table);
* ``http://...`` / ``https://...`` - a paginated JSON API (source only);
* ``s3://bucket/key`` / ``gs://bucket/key`` - an object (or a glob of objects) in cloud storage, read and
  written through Beam's ``FileSystems`` like a local file (``--s3_endpoint_url``, ``--s3_region_name``
  and the other Beam S3 options reach boto3; ``gs://`` needs ``apache-beam[gcp]`` and is not tested here);
* anything else - a file path or glob; the format comes from the extension (.csv, .jsonl, .parquet).

:func:`read_policy` fetches a ``--policy`` given as such a URI (see there for ``extends`` and keys).
"""

from __future__ import annotations

import atexit
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from redactline.connectors.http_api import safe_url
from redactline.connectors.records import redact_dsn

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
#: Object stores reached through Beam's FileSystems (``s3://`` is tested against a local S3 server;
#: ``gs://`` goes through the same code path but cannot be tested here).
REMOTE_SCHEMES = ("s3://", "gs://")


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names an object in cloud storage rather than a local file."""
    return uri.startswith(REMOTE_SCHEMES)


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
    if "://" in uri and not uri.startswith("file://") and not is_remote(uri):
        raise UriError(f"{flag} {redact_dsn(uri)}: unsupported scheme (files: a path, file://, "
                       f"{', '.join(REMOTE_SCHEMES)})")
    if is_remote(uri) and not uri.split("://", 1)[1].split("/", 1)[0]:
        raise UriError(f"{flag} {uri}: name a bucket, e.g. {uri[:5]}bucket/path")
    suffix = posixpath.splitext(uri)[1].lower()
    fmt = FILE_FORMATS.get(suffix)
    if fmt is None and flag != "--source":
        raise UriError(f"{flag} {uri}: the file extension must be one of {sorted(FILE_FORMATS)}")
    return Endpoint(flag, uri, "file", fmt=fmt)


def source_transform(ep: Endpoint, *, jurisdiction: str | None, max_field_bytes: int | None,
                     key: str | None, partitions: int, pagination: str | None, items_path: str = "items",
                     auth_env: str | None = None) -> beam.PTransform:
    """The connector reading ``ep``; its ``expand`` returns ``{"records", "rejected"}``."""
    kwargs = {"max_field_bytes": max_field_bytes} if max_field_bytes else {}
    if ep.kind == "postgres":
        from redactline.connectors.postgres import ReadPostgres

        return ReadPostgres(ep.dsn, table=ep.table, key=key, partitions=partitions, jurisdiction=jurisdiction,
                            **kwargs)
    if ep.kind == "http":
        from redactline.connectors.http_api import ReadHttpApi

        if pagination is None:
            raise UriError("--source is an HTTP API: give --http-pagination cursor|page|link")
        return ReadHttpApi(ep.uri, items_path=items_path, pagination=pagination, auth_env=auth_env,
                           jurisdiction=jurisdiction)
    from redactline.connectors.files import ReadRecords

    return ReadRecords(ep.uri, fmt=ep.fmt, jurisdiction=jurisdiction, **kwargs)


def sink_transform(ep: Endpoint, *, key: str, num_shards: int, types: Any = None) -> beam.PTransform:
    """The connector writing plain dicts to ``ep``. A file sink reports the rows it rejects
    (``{"written", "delivered", "rejected"}``) instead of failing the run on them. ``types`` (an
    :class:`~redactline.pipelines.output_types.SinkTypes`) fixes the columns' types."""
    if ep.kind == "postgres":
        from redactline.connectors.postgres import WritePostgres

        return WritePostgres(ep.dsn, ep.table, [k.strip() for k in key.split(",") if k.strip()],
                             column_types=types.postgres_types if types is not None else None)
    from redactline.connectors.file_sinks import WriteRecords

    assert ep.fmt is not None
    typed: dict[str, Any] = {}
    if types is not None and ep.fmt == "parquet":
        typed = {"columns": types.parquet_columns, "metadata": types.metadata}
    if num_shards <= 1:
        return WriteRecords(ep.uri, ep.fmt, report=True, **typed)  # exactly the named file
    prefix = ep.uri[: -len(posixpath.splitext(ep.uri)[1])]
    return WriteRecords(prefix, ep.fmt, num_shards=num_shards, report=True, **typed)


def default_output(sink: Endpoint, suffix: str) -> str:
    """The path of an output not named on the command line, ``suffix`` appended to the sink's stem.

    A file sink ``out/result.jsonl`` (or ``s3://b/out/result.jsonl``) gives ``out/result<suffix>``
    (``s3://b/out/result<suffix>``); any other sink gives ``redactline-out/<table><suffix>``.
    """
    if sink.kind == "file" and is_remote(sink.uri):
        directory, name = sink.uri.rsplit("/", 1)
        return f"{directory}/{posixpath.splitext(name)[0]}{suffix}"
    if sink.kind == "file":
        path = Path(sink.uri.removeprefix("file://"))
        return str(path.parent / f"{path.stem}{suffix}")
    name = (sink.table or "run").replace(os.sep, "_")
    return str(Path("redactline-out") / f"{name}{suffix}")


def read_policy(uri: str, limit: int) -> str:
    """A local path for ``--policy``: ``uri`` itself when local, else the object copied (at most ``limit``
    bytes, or ``UriError``) into a new private temporary directory, under its own file name.

    The copy is what the policy loader reads and what the driver ships to the workers
    (``policy_ship``); workers never read the policy from storage. Because a remote policy is read
    alone, its ``extends`` may name only ``library:NAME`` and a ``file:`` key must be an absolute path
    on the machines that run the job (``env`` keys are the usual choice): anything else is refused here
    rather than looked up beside the temporary copy. The copy is removed when the process exits.
    """
    if not is_remote(uri):
        return uri.removeprefix("file://")
    try:
        with FileSystems.open(uri) as handle:
            data = handle.read(limit + 1)
    except Exception as exc:  # noqa: BLE001 - Beam wraps every storage failure in its own types
        raise UriError(f"--policy {uri}: cannot read it ({type(exc).__name__})") from None
    if len(data) > limit:
        raise UriError(f"--policy {uri}: larger than {limit} bytes")
    directory = tempfile.mkdtemp(prefix="redactline-policy-")  # 0700: only this user reads it
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = os.path.join(directory, posixpath.basename(uri) or "policy.yaml")
    with open(path, "wb") as out:
        out.write(data)
    _refuse_relative_references(uri, path)
    return path


def _refuse_relative_references(uri: str, path: str) -> None:
    """Refuse what a policy read from storage would resolve beside its temporary copy (see read_policy)."""
    from redactline.policies.loader import LIBRARY_PREFIX, read_policy_file

    data = read_policy_file(Path(path)).data  # bounded, safe YAML; a PolicyError reaches the caller
    for index, ref in enumerate(data.get("extends") or []):
        if not (isinstance(ref, str) and ref.startswith(LIBRARY_PREFIX)):
            raise UriError(f"--policy {uri}: extends[{index}]: a policy read from storage may extend only "
                           f"{LIBRARY_PREFIX}NAME; copy the policy and its bases to a local directory")
    keys = data.get("keys")
    for name, spec in (keys.items() if isinstance(keys, dict) else ()):
        key_file = spec.get("file") if isinstance(spec, dict) else None
        if isinstance(key_file, str) and not os.path.isabs(key_file):
            raise UriError(f"--policy {uri}: keys.{name}.file: a policy read from storage needs an absolute "
                           "key path (or an env key)")
