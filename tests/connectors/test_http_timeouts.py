"""The request-header deadline (slowloris) on a real uvicorn server on 127.0.0.1, over raw sockets.

A short deadline (0.3 s) keeps the tests fast; the upper bounds leave room for a loaded machine.
"""

from __future__ import annotations

import contextlib
import math
import socket
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from redactline.connectors.http_timeouts import header_timeout_protocol
from redactline.connectors.local_server import UvicornThread
from redactline.connectors.proxy import uvicorn_config

TIMEOUT = 0.3
LATE = 2.0  # margin over the deadline for a busy machine
REQUEST = b"GET /ok HTTP/1.1\r\nHost: test\r\n\r\n"


async def _ok(request):
    return PlainTextResponse("ok")


@pytest.fixture(scope="module")
def server():
    app = Starlette(routes=[Route("/ok", _ok)])

    def config_for(port: int) -> uvicorn.Config:
        return uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                              http=header_timeout_protocol(TIMEOUT), timeout_keep_alive=10)

    with UvicornThread(config_for, "header timeout test") as thread:
        yield thread


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    return data


def _until_closed(sock: socket.socket, trickle: bool) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed; ``trickle`` sends a header
    line every 50 ms meanwhile (each one is progress, none may extend the deadline)."""
    start = time.monotonic()
    sock.settimeout(0.05)
    received = b""
    while time.monotonic() - start < TIMEOUT + LATE:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            if trickle:
                with contextlib.suppress(OSError):  # the server closed between our reads
                    sock.sendall(b"X-Slow: 1\r\n")
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - start


def test_slow_and_silent_connections_are_closed_at_the_deadline(server):
    slow, silent = _connect(server), _connect(server)
    try:
        slow.sendall(b"GET /ok HTTP/1.1\r\nHost: test\r\n")  # headers never finished
        received, elapsed = _until_closed(slow, trickle=True)
        assert received.startswith(b"HTTP/1.1 408 ") and b"connection: close" in received.lower()
        assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + LATE
        received, _ = _until_closed(silent, trickle=False)  # opened at the same time: also past due
        assert received == b""  # nothing was asked: closed without an answer
    finally:
        slow.close()
        silent.close()


def test_keep_alive_connection_idle_between_requests(server):
    with _connect(server) as sock:
        sock.sendall(REQUEST)
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT * 1.5)  # idle longer than the header deadline: keep-alive governs the wait
        sock.sendall(REQUEST)
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /ok HTTP/1.1\r\n")  # the next request stalls: its own deadline applies
        received, elapsed = _until_closed(sock, trickle=False)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + LATE


def test_deadline_must_be_positive_and_reaches_the_proxy_config():
    for bad in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError, match="header timeout"):
            header_timeout_protocol(bad)
    config = uvicorn_config(Starlette(), "127.0.0.1", 0, header_timeout=TIMEOUT)
    assert config.http.header_timeout == TIMEOUT
    assert uvicorn_config(Starlette(), "127.0.0.1", 0).http.header_timeout == 10.0
