"""The PostgreSQL server the tests use (127.0.0.1:5432, trust auth, db ``test``) and a schema per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "test"
PG_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_DB}"  # libpq keyword form
PG_URL = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"  # URI form, as ``redactline run`` takes it


@dataclass
class PgSchema:
    """An autocommit connection and a schema created for one test (dropped afterwards)."""

    conn: psycopg.Connection
    name: str
    dsn: str = PG_DSN
    url: str = PG_URL

    def table(self, name: str) -> str:
        """``schema.name``: a table in this test's schema."""
        return f"{self.name}.{name}"


class ServerDown(RuntimeError):
    """The PostgreSQL server the tests need does not answer."""


def connect() -> psycopg.Connection:
    """An autocommit connection to the test server; :class:`ServerDown` says how to start it."""
    try:
        return psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # an environment problem, not a product failure
        raise ServerDown(f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} (run .ci/ensure-postgres): "
                         f"{exc}") from exc


@contextmanager
def fresh_schema(conn: psycopg.Connection) -> Iterator[PgSchema]:
    """Create a uniquely named schema, yield it, then drop it with everything in it and close ``conn``."""
    name = f"rl_test_{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(f'CREATE SCHEMA "{name}"')
        yield PgSchema(conn=conn, name=name)
    finally:
        try:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            conn.close()
