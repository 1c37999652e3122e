"""Fixtures for connector tests: a real PostgreSQL schema per test and a real loopback HTTP server."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "test"
PG_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_DB}"


@dataclass
class PgSchema:
    """An autocommit connection and a schema created for one test (dropped afterwards)."""

    conn: psycopg.Connection
    name: str
    dsn: str = PG_DSN

    def table(self, name: str) -> str:
        return f"{self.name}.{name}"


@pytest.fixture
def pg() -> Iterator[PgSchema]:
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required: {exc}")
    name = f"rl_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield PgSchema(conn=conn, name=name)
    finally:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        conn.close()


# --------------------------------------------------------------------------- HTTP


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


# A handler gets (request, 0-based request index) and returns (status, body) or (status, body, headers);
# a body that is not bytes/str is sent as JSON. Tests cannot import conftest, so replies are plain tuples.
Handler = Callable[[Seen, int], tuple]


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1:<ephemeral>; set ``handler`` to script the replies."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.handler: Handler = lambda seen, i: (404, {"error": "no handler"})
        outer = self

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(parts.path, parse_qs(parts.query), headers, time.monotonic())
                with outer._lock:
                    index = len(outer.requests)
                    outer.requests.append(seen)
                status, payload, *rest = outer.handler(seen, index)
                extra = dict(rest[0]) if rest else {}
                body = _encode(payload)
                self.send_response(status)
                self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str = "/items") -> str:
        return self.base + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    try:
        yield server
    finally:
        server.close()
