"""A deadline for request headers on uvicorn's h11 protocol (slowloris).

uvicorn times out idle keep-alive connections only after a response, and cancels that timer on the
first byte that arrives: a client that connects and sends nothing, or dribbles header bytes, holds
its connection (and a slot of ``limit_concurrency``) for as long as it likes. The protocol class
:func:`header_timeout_protocol` returns closes such a connection once ``seconds`` have passed
without a complete request line and header block:

* on a new connection the clock starts when it is accepted;
* on a kept-alive connection it starts with the first byte of the next request (the wait before it
  stays uvicorn's ``timeout_keep_alive``);
* it stops when h11 has parsed the headers (the app's own limits cover the body).

The deadline is total, not per byte: trickling keeps nothing alive. A connection holding part of a
request gets ``408 Request Timeout`` with ``Connection: close``; one that sent nothing is closed
silently, as an idle keep-alive connection is. Both services (the LLM proxy and the enclave service)
pass the class as ``uvicorn.Config(http=...)``, which pins them to h11 (the only HTTP/1.1 parser in
the lock file; uvicorn would otherwise pick httptools when installed).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_HEADER_TIMEOUT", "HeaderTimeoutH11Protocol", "header_timeout_protocol"]

DEFAULT_HEADER_TIMEOUT = 10.0

logger = logging.getLogger(__name__)

_TIMEOUT_RESPONSE = h11.Response(
    status_code=408,
    headers=[(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"16"),
             (b"connection", b"close")],
    reason=b"Request Timeout",
)
_TIMEOUT_BODY = b"request timeout\n"


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers (``header_timeout``)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()  # headers parsed (or the connection is done / in error)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timeout_expired)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout_expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        partial, _ = self.conn.trailing_data
        if partial and self.conn.our_state is h11.IDLE:
            try:
                self.transport.write(self.conn.send(_TIMEOUT_RESPONSE) or b"")
                self.transport.write(self.conn.send(h11.Data(data=_TIMEOUT_BODY)) or b"")
                self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:  # h11 refused the state change: just close
                pass
        # no address or bytes logged: the partial request may carry anything
        logger.debug("request headers not complete within %.1f s: connection closed", self.header_timeout)
        self.transport.close()


def header_timeout_protocol(seconds: float = DEFAULT_HEADER_TIMEOUT) -> type[HeaderTimeoutH11Protocol]:
    """A :class:`HeaderTimeoutH11Protocol` subclass whose deadline is ``seconds`` (for ``Config(http=)``)."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"header timeout must be a positive number of seconds, not {seconds!r}")
    return type("HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": float(seconds)})
