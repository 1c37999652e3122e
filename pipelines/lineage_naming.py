"""OpenLineage dataset names for a run's source and outputs, as the OpenLineage naming spec defines them.

* PostgreSQL: namespace ``postgres://host:port``, name ``database.schema.table``; a table given without a
  schema is named in ``public`` (the connector looks up ``current_schema()`` only when the job runs);
  host, port and database fall back as libpq's do (``PGHOST``, ``PGPORT``, ``PGDATABASE``, the user);
* a local file or glob: namespace ``file``, name its absolute path; ``file://host/path``: ``file://host``;
* ``s3://bucket/key`` and ``gs://bucket/key``: namespace ``s3://bucket`` / ``gs://bucket``, name the key;
* an HTTP API (no naming rule in the spec): namespace ``scheme://host:port``, name the path.

Only host, port, database, table and path reach a name: never a user, a password or a query value
(tokens travel in queries). The client's naming classes build the strings.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import posixpath
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class DatasetName:
    """An OpenLineage dataset identity."""

    namespace: str
    name: str


def for_uri(uri: str, table: str | None = None) -> DatasetName:
    """The dataset named by a ``--source``/``--sink``/``--held``/``--quarantine`` URI (``table``: the
    part after ``#`` of a PostgreSQL URI)."""
    if uri.startswith(("postgresql://", "postgres://")):
        dsn, _, fragment = uri.partition("#")
        return postgres(dsn, table or fragment)
    if uri.startswith(("http://", "https://")):
        return _http(uri)
    if uri.startswith(("s3://", "gs://")):
        return _object(uri)
    return _file(uri)


def postgres(dsn: str, table: str) -> DatasetName:
    """``postgres://host:port`` + ``db.schema.table`` (see the module docstring for the fallbacks)."""
    from openlineage.client.naming.dataset import Postgres
    from psycopg.conninfo import conninfo_to_dict

    parts: dict[str, object] = {}
    # a parse error message may quote the password: the DSN's content is never repeated
    with contextlib.suppress(Exception):
        parts = conninfo_to_dict(dsn)
    host = str(parts.get("host") or parts.get("hostaddr") or os.environ.get("PGHOST") or "localhost")
    host = host.split(",")[0]
    if host.startswith("/"):  # a Unix socket directory: the server is this machine
        host = "localhost"
    port = str(parts.get("port") or os.environ.get("PGPORT") or "5432").split(",")[0]
    user = str(parts.get("user") or os.environ.get("PGUSER") or _login())
    database = str(parts.get("dbname") or os.environ.get("PGDATABASE") or user)
    schema, _, name = table.rpartition(".")
    naming = Postgres(host=host, port=port, database=database, schema=schema or "public", table=name)
    return DatasetName(naming.get_namespace(), naming.get_name())


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "postgres"


def _http(uri: str) -> DatasetName:
    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return DatasetName(f"{parts.scheme}://{netloc}", parts.path or "/")


def _object(uri: str) -> DatasetName:
    from openlineage.client.naming.dataset import GCS, S3

    scheme, rest = uri.split("://", 1)
    bucket, _, key = rest.partition("/")
    cls = S3 if scheme == "s3" else GCS
    naming = cls(bucket_name=bucket, object_key=key or "/")
    return DatasetName(naming.get_namespace(), naming.get_name())


def _file(uri: str) -> DatasetName:
    from openlineage.client.naming.dataset import LocalFileSystem, RemoteFileSystem

    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.hostname and parts.hostname != "localhost":
            remote = RemoteFileSystem(host=parts.hostname, path=parts.path or "/")
            return DatasetName(remote.get_namespace(), remote.get_name())
        uri = parts.path
    path = posixpath.normpath(os.path.abspath(uri))
    local = LocalFileSystem(path=path)
    return DatasetName(local.get_namespace(), local.get_name())
