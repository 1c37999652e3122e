"""Real HTTP servers on 127.0.0.1 for the tests: a scripted JSON API and fake LLM APIs.

:class:`LoopbackServer` answers GET requests with whatever its ``handler`` returns (the HTTP source
tests). :class:`FakeOpenAI` / :class:`FakeAnthropic` speak the OpenAI chat-completions and Anthropic
Messages wire formats (the LLM client, stage, ``prompt`` CLI and proxy tests). The fixtures
``http_server``, ``openai_server``, ``anthropic_server`` and ``llm_server`` (tests/conftest.py) start
and stop them; a test that needs its own lifetime constructs one directly::

    from tests.support.servers import FakeOpenAI

    with FakeOpenAI() as server:
        ...

LoopbackServer
--------------
``LoopbackServer()``  a ``ThreadingHTTPServer`` on an ephemeral port; ``.url(path)`` is its URL;
                   ``.handler(seen, index)`` (``seen``: :class:`Seen`, ``index``: 0-based request number)
                   returns ``(status, body)`` or ``(status, body, headers)``; a body that is not
                   bytes/str is sent as JSON. ``.requests`` lists every :class:`Seen`; ``close()`` stops it.

Fake LLM APIs
-------------
``FakeOpenAI(api_key="sk-test-openai")`` / ``FakeAnthropic(api_key="sk-ant-test")``
    A ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) on 127.0.0.1 with an ephemeral port, started on
    construction; ``close()`` (or ``with``) stops it. ``api_key=None`` accepts any or no key.
``.provider``      ``"openai"`` or ``"anthropic"`` (the destination's ``provider``).
``.base_url``      what a destination's ``url`` must be: ``http://127.0.0.1:PORT/v1`` for OpenAI (the client
                   posts to ``{base}/chat/completions``), ``http://127.0.0.1:PORT`` for Anthropic
                   (``{base}/v1/messages``).
``.destination(**overrides) -> dict``  a policy ``destinations:`` entry for this server (kind external_api,
                   provider, url, model, region ``eu-central-1``, api_key_env ``<PROVIDER>_TEST_KEY``,
                   a prompt template ``"Summarise: {notes}"``); set the env var to ``.api_key``.
``.requests``      every request received, in arrival order, as ``SeenRequest(path, headers (lower-case
                   names), body (parsed JSON or None), raw (bytes), at (time.monotonic()), status (the
                   status answered))``; failed and scripted requests are recorded too.
``.texts()``       the text of every message (system and user) of every request, for PII scans.
``.user_texts()``  the user messages only, one per request.
``.fail_next(n, status=429, retry_after="0", error_type=None)``  the next ``n`` requests get that error
                   (``retry_after=None``: no header). Error bodies quote the prompt, as real providers
                   sometimes do, so tests can check that clients never repeat them.
``.fail_when(substring, status=500, retry_after="0", times=None, error_type=None)``  requests whose
                   messages contain ``substring`` get that error (``times=None``: always).
``.delay_next(n, seconds)``  the next ``n`` requests are answered after ``seconds`` (read timeouts).
``.drop_next(n)``  the next ``n`` connections are closed without an answer (network errors).
``.broken_gzip_next(n)``  the next ``n`` valid requests are answered 200 with ``Content-Encoding: gzip`` and a
                   body that is not gzip (corrupt bytes after a gzip magic number).
``.hold(seconds)`` every request takes at least ``seconds`` (to observe ``max_in_flight``).
``.max_in_flight`` the largest number of requests handled at the same time.
``.mangle``        True (default): answers change the case and spacing of the placeholders they echo.

Answers are deterministic: :func:`echo_answer` lists the placeholders (``<PERSON_1>``...) found in the user
messages, in order of first appearance, rewritten by :func:`mangle` (``< person_1 >``, ``<EMAIL_ADDRESS_1>``,
``<Phone_Number_1 >``, cycling), so re-identification is exercised. Token usage: input = whitespace-separated
words of all messages, output = words of the answer (``prompt_tokens``/``completion_tokens`` or
``input_tokens``/``output_tokens``).

Streaming (OpenAI only): ``"stream": true`` answers ``text/event-stream`` (chunked), one ``data: {...}``
``chat.completion.chunk`` per ``stream_chunk_chars`` characters (default 4, so placeholders are split
across chunks), a final chunk with ``finish_reason: "stop"``, a usage chunk (``choices: []``) when
``stream_options.include_usage`` is set, then ``data: [DONE]``. ``FakeAnthropic`` refuses ``stream``.

The servers validate what real APIs insist on (auth header, ``anthropic-version``, ``max_tokens`` for
Anthropic, ``model`` and non-empty ``messages``) and answer 401/400/404 with the provider's error shape.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_\d+>")


# --------------------------------------------------------------------------- plain JSON API


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
# a body that is not bytes/str is sent as JSON.
Handler = Callable[[Seen, int], tuple]


class _Running:
    """Stop a loopback server started in a thread (``_server``, ``_thread``); usable as a context manager."""

    _server: ThreadingHTTPServer
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoopbackServer(_Running):
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



# --------------------------------------------------------------------------- fake LLM APIs


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up makes the late answer fail with a broken pipe: expected.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class SeenRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    at: float
    status: int = 0


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    error_type: str | None


@dataclass
class _Rule:
    substring: str
    failure: _Failure
    remaining: int | None  # None: forever


@dataclass
class _Script:
    failures: deque[_Failure] = field(default_factory=deque)
    rules: list[_Rule] = field(default_factory=list)
    delays: deque[float] = field(default_factory=deque)
    drops: int = 0
    broken_gzip: int = 0


def mangle(placeholder: str, index: int) -> str:
    """How a model might rewrite ``<PERSON_1>``: 0 -> ``< person_1 >``, 1 -> as is, 2 -> ``<Person_1 >``."""
    inner = placeholder[1:-1]
    style = index % 3
    if style == 0:
        return f"< {inner.lower()} >"
    if style == 1:
        return placeholder
    return "<" + "_".join(part.capitalize() for part in inner.split("_")) + " >"


def placeholders_in(text: str) -> list[str]:
    """Distinct placeholders of ``text`` in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def echo_answer(user_text: str, mangled: bool = True) -> str:
    found = placeholders_in(user_text)
    if not found:
        return "Nothing to summarise."
    shown = [mangle(p, i) if mangled else p for i, p in enumerate(found)]
    return f"Summary for {', '.join(shown)}: the request was noted."


def _words(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


class _FakeLlmServer(_Running):
    provider = ""
    api_path = ""
    base_suffix = ""
    default_error_types: dict[int, str] = {}

    def __init__(self, api_key: str | None = None, stream_chunk_chars: int = 4) -> None:
        self.api_key = api_key
        self.stream_chunk_chars = stream_chunk_chars
        self.requests: list[SeenRequest] = []
        self.mangle = True
        self.max_in_flight = 0
        self._in_flight = 0
        self._hold = 0.0
        self._script = _Script()
        self._lock = threading.Lock()
        self._counter = 0
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.origin = f"http://{host}:{port}"
        self.base_url = self.origin + self.base_suffix
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    # ---- scripting -------------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 429, retry_after: str | None = "0",
                  error_type: str | None = None) -> None:
        with self._lock:
            self._script.failures.extend(_Failure(status, retry_after, error_type) for _ in range(n))

    def fail_when(self, substring: str, status: int = 500, retry_after: str | None = "0",
                  times: int | None = None, error_type: str | None = None) -> None:
        with self._lock:
            self._script.rules.append(_Rule(substring, _Failure(status, retry_after, error_type), times))

    def delay_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._script.delays.extend([seconds] * n)

    def drop_next(self, n: int) -> None:
        with self._lock:
            self._script.drops += n

    def broken_gzip_next(self, n: int) -> None:
        with self._lock:
            self._script.broken_gzip += n

    def hold(self, seconds: float) -> None:
        self._hold = seconds

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script = _Script()
            self.max_in_flight = 0

    # ---- inspection ------------------------------------------------------------------------------
    def texts(self) -> list[str]:
        out: list[str] = []
        for seen in self.requests:
            out += self.message_texts(seen.body)
        return out

    def user_texts(self) -> list[str]:
        return [self.user_text(seen.body) for seen in self.requests]

    def destination(self, **overrides: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": "external_api",
            "provider": self.provider,
            "region": "eu-central-1",
            "url": self.base_url,
            "model": f"fake-{self.provider}-model",
            "api_key_env": f"{self.provider.upper()}_TEST_KEY",
            "prompt": {"template": "Summarise: {notes}"},
        }
        entry.update(overrides)
        return entry

    # ---- per provider ----------------------------------------------------------------------------
    def message_texts(self, body: Any) -> list[str]:
        raise NotImplementedError

    def user_text(self, body: Any) -> str:
        raise NotImplementedError

    def check_auth(self, headers: dict[str, str]) -> tuple[int, str, str] | None:
        """(status, error type, message) when the request is not authenticated, else None."""
        raise NotImplementedError

    def validate(self, body: Any, headers: dict[str, str]) -> str | None:
        """A message for a 400 when the body breaks the wire format, else None."""
        raise NotImplementedError

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, body: Any, text: str, input_tokens: int, output_tokens: int, n: int) -> dict[str, Any]:
        raise NotImplementedError

    # ---- HTTP ------------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                outer._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer._send_json(self, 404, outer.error_body("not_found_error", "no such route"))

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        seen = SeenRequest(h.path, headers, body, raw, time.monotonic())
        with self._lock:
            self.requests.append(seen)
            self._counter += 1
            n = self._counter
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            drop = self._script.drops > 0
            if drop:
                self._script.drops -= 1
            delay = self._script.delays.popleft() if self._script.delays and not drop else 0.0
        try:
            if drop:
                seen.status = -1
                h.close_connection = True
                return
            time.sleep(max(delay, self._hold))
            self._respond(h, seen, n)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(self, h: BaseHTTPRequestHandler, seen: SeenRequest, n: int) -> None:
        if seen.path != self.api_path:
            seen.status = 404
            return self._send_json(h, 404, self.error_body("not_found_error", f"no route {seen.path}"))
        denied = self.check_auth(seen.headers)
        if denied is not None:
            seen.status = denied[0]
            return self._send_json(h, denied[0], self.error_body(denied[1], denied[2]))
        problem = "body is not JSON" if seen.body is None else self.validate(seen.body, seen.headers)
        if problem is not None:
            seen.status = 400
            return self._send_json(h, 400, self.error_body("invalid_request_error", problem))
        user = self.user_text(seen.body)
        failure = self._scripted_failure(user)
        if failure is not None:
            seen.status = failure.status
            error_type = failure.error_type or self.default_error_types.get(failure.status, "api_error")
            # Real providers sometimes quote the input in error messages: clients must not repeat them.
            message = f"scripted failure while handling: {user}"
            extra = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
            return self._send_json(h, failure.status, self.error_body(error_type, message), extra)
        text = echo_answer(user, self.mangle)
        input_tokens = _words(*self.message_texts(seen.body))
        output_tokens = _words(text)
        seen.status = 200
        with self._lock:
            broken = self._script.broken_gzip > 0
            self._script.broken_gzip -= broken
        if broken:
            data = b"\x1f\x8b\x08\x00" + b"not a gzip stream" * 4
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return None
        if seen.body.get("stream"):
            return self._stream(h, seen.body, text, input_tokens, output_tokens, n)
        return self._send_json(h, 200, self.answer(seen.body, text, input_tokens, output_tokens, n))

    def _scripted_failure(self, user: str) -> _Failure | None:
        with self._lock:
            if self._script.failures:
                return self._script.failures.popleft()
            for rule in self._script.rules:
                if rule.substring in user and (rule.remaining is None or rule.remaining > 0):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.failure
        return None

    def _stream(self, h: BaseHTTPRequestHandler, body: Any, text: str, input_tokens: int,
                output_tokens: int, n: int) -> None:
        raise NotImplementedError

    @staticmethod
    def _send_json(h: BaseHTTPRequestHandler, status: int, payload: Any,
                   headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)



def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class FakeOpenAI(_FakeLlmServer):
    provider = "openai"
    api_path = "/v1/chat/completions"
    base_suffix = "/v1"
    default_error_types = {429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}

    def __init__(self, api_key: str | None = "sk-test-openai", stream_chunk_chars: int = 4) -> None:
        super().__init__(api_key, stream_chunk_chars)

    def message_texts(self, body: Any) -> list[str]:
        messages = (body or {}).get("messages", [])
        return [_content_text(m.get("content")) for m in messages if isinstance(m, dict)]

    def user_text(self, body: Any) -> str:
        messages = (body or {}).get("messages", [])
        return "\n".join(_content_text(m.get("content")) for m in messages
                         if isinstance(m, dict) and m.get("role") == "user")

    def check_auth(self, headers: dict[str, str]) -> tuple[int, str, str] | None:
        if self.api_key is None or headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return 401, "invalid_api_key", "Incorrect API key provided."

    def validate(self, body: Any, headers: dict[str, str]) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return "you must provide a model parameter"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages must be a non-empty array"
        if any(not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant")
               for m in messages):
            return "invalid message role"
        return None

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": error_type}}

    def answer(self, body: Any, text: str, input_tokens: int, output_tokens: int, n: int) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake-{n}",
            "object": "chat.completion",
            "created": 1_700_000_000 + n,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens},
            "system_fingerprint": None,
        }

    def _stream(self, h: BaseHTTPRequestHandler, body: Any, text: str, input_tokens: int,
                output_tokens: int, n: int) -> None:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {"id": f"chatcmpl-fake-{n}", "object": "chat.completion.chunk", "created": 1_700_000_000 + n,
                "model": body["model"], "system_fingerprint": None}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            event = {**base, "choices": [choice]}
            if include_usage:
                event["usage"] = None
            return event

        events: list[Any] = [chunk({"role": "assistant", "content": ""})]
        size = max(1, self.stream_chunk_chars)
        events += [chunk({"content": text[i:i + size]}) for i in range(0, len(text), size)]
        events.append(chunk({}, "stop"))
        if include_usage:
            events.append({**base, "choices": [], "usage": {
                "prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens}})
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for event in [*events, "[DONE]"]:
            data = event if isinstance(event, str) else json.dumps(event)
            payload = f"data: {data}\n\n".encode()
            h.wfile.write(f"{len(payload):X}\r\n".encode() + payload + b"\r\n")
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()


class FakeAnthropic(_FakeLlmServer):
    provider = "anthropic"
    api_path = "/v1/messages"
    base_suffix = ""
    default_error_types = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}

    def __init__(self, api_key: str | None = "sk-ant-test", stream_chunk_chars: int = 4) -> None:
        super().__init__(api_key, stream_chunk_chars)

    def message_texts(self, body: Any) -> list[str]:
        body = body or {}
        texts = [_content_text(body.get("system"))] if body.get("system") else []
        messages = body.get("messages", [])
        return texts + [_content_text(m.get("content")) for m in messages if isinstance(m, dict)]

    def user_text(self, body: Any) -> str:
        messages = (body or {}).get("messages", [])
        return "\n".join(_content_text(m.get("content")) for m in messages
                         if isinstance(m, dict) and m.get("role") == "user")

    def check_auth(self, headers: dict[str, str]) -> tuple[int, str, str] | None:
        if self.api_key is None or headers.get("x-api-key") == self.api_key:
            return None
        return 401, "authentication_error", "invalid x-api-key"

    def validate(self, body: Any, headers: dict[str, str]) -> str | None:
        if "anthropic-version" not in headers:
            return "anthropic-version: header is required"
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return "model: Field required"
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return "max_tokens: Field required"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: Field required"
        if any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in messages):
            return "messages: roles must be user or assistant (system goes in the top-level system field)"
        if body.get("stream"):
            return "stream: not supported by this fake server"
        return None

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type, "message": message}}

    def answer(self, body: Any, text: str, input_tokens: int, output_tokens: int, n: int) -> dict[str, Any]:
        return {
            "id": f"msg_fake_{n}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }


FakeLlmServer = _FakeLlmServer
SERVERS: dict[str, type[_FakeLlmServer]] = {"openai": FakeOpenAI, "anthropic": FakeAnthropic}


def llm_policy(name: str, destinations: dict[str, Any]) -> dict[str, Any]:
    """A policy document for LLM tests: pseudonyms everywhere, EU/US residency, the given destinations."""
    return {
        "apiVersion": "redactline.dev/v1",
        "kind": "RedactionPolicy",
        "metadata": {"name": name, "version": "1.0.0"},
        "detection": {"score_threshold": 0.35},
        "transforms": {
            "default": "pseudonym",
            "fields": {"id": "keep", "country": "keep", "name": "pseudonym", "email": "pseudonym",
                       "phone": "pseudonym"},
        },
        "residency": {
            "jurisdiction": {"field": "country"},
            "unknown": "hold",
            "rules": [{"jurisdictions": ["EU"], "allowed_regions": ["EU"]},
                      {"jurisdictions": ["US"], "allowed_regions": ["EU", "US"]}],
        },
        "destinations": destinations,
    }
