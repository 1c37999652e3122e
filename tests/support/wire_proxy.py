"""A recording, fault-injecting HTTP proxy on 127.0.0.1 for enclave tests.

The pipeline talks to the proxy; the proxy forwards to the real enclave service and keeps every HTTP
message as it crossed the wire (request line, headers, body; status line, headers, body), so tests can
search the bytes. Faults are scripted per ``/v1/batches`` request:

* ``fail_batches = n``   - answer the next n batch requests with 503 (never forwarded);
* ``stall_batches = n``  - hold the next n batch requests without forwarding until the client gives up;
* ``drop_replies = n``   - forward the next n batch requests, then close the connection without replying;
* ``switch_after = (k, url)`` - after k forwarded batches, send everything to ``url`` (a restarted enclave).
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BATCHES = "/v1/batches"


class WireProxy:
    def __init__(self, target: str) -> None:
        self.target = target
        self.wire: list[bytes] = []
        self.batch_requests = 0  # /v1/batches requests received from the client
        self.forwarded_batches = 0
        self.fail_batches = 0
        self.stall_batches = 0
        self.drop_replies = 0
        self.switch_after: tuple[int, str] | None = None
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                proxy._handle(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def all_bytes(self) -> bytes:
        with self.lock:
            return b"".join(self.wire)

    def _record(self, data: bytes) -> None:
        with self.lock:
            self.wire.append(data)

    def _fault(self, path: str) -> str | None:
        with self.lock:
            if path != BATCHES:
                return None
            self.batch_requests += 1
            for name in ("fail_batches", "stall_batches", "drop_replies"):
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return name
            return None

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        head = handler.requestline.encode() + b"\r\n" + bytes(handler.headers)
        self._record(head + body)
        fault = self._fault(handler.path)
        if fault == "fail_batches":
            self._reply(handler, 503, b'{"error":"unavailable","message":"injected"}', "application/json")
            return
        if fault == "stall_batches":
            time.sleep(3.0)  # longer than the client's timeout in these tests
            handler.close_connection = True
            return
        target = self._target_for(handler.path)
        parts = urlsplit(target)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(handler.command, handler.path, body=body or None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        if handler.path == BATCHES:
            with self.lock:
                self.forwarded_batches += 1
        if fault == "drop_replies":
            handler.close_connection = True
            return
        self._reply(handler, response.status, payload, response.getheader("content-type", ""))

    def _target_for(self, path: str) -> str:
        with self.lock:
            if self.switch_after is not None and self.forwarded_batches >= self.switch_after[0]:
                self.target = self.switch_after[1]
            return self.target

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, payload: bytes, ctype: str) -> None:
        head = f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(payload)}\r\n\r\n"
        self._record(head.encode() + payload)
        handler.send_response(status)
        handler.send_header("content-type", ctype)
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def __enter__(self) -> WireProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
