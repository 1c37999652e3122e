"""An ASGI app served by uvicorn on a loopback port in a background thread.

Used by the local LLM proxy (:class:`~redactline.connectors.proxy.ProxyThread`), the enclave service's
:class:`~redactline.enclave_sink.server.serve.ServiceThread`, tests, benchmarks and the demo. No enclave
code here: the enclave server imports this module, never the other way round.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Self

import uvicorn


class UvicornThread:
    """An ASGI app served by uvicorn on ``127.0.0.1`` and an ephemeral port, in a background thread.

    ``config_for(port)`` builds the uvicorn configuration; used by tests, benchmarks and the demo.
    """

    def __init__(self, config_for: Callable[[int], uvicorn.Config], name: str) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._name = name
        self._server = uvicorn.Server(config_for(self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=name, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self._name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
