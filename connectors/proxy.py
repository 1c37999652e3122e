"""A local OpenAI-compatible proxy: redact chat requests, forward them, re-identify the answers.

Existing clients (the official ``openai`` SDK, LangChain, curl) point their base URL at the proxy and
change nothing else. Per ``POST /v1/chat/completions``:

Steps 1, 2 and 4 are the egress exchange (:mod:`redactline.policies.exchange`) that the batch LLM stage
and ``redactline prompt`` use too:

1. every message's text (string ``content``, the ``text`` parts of list content, ``name``, tool-call
   ``arguments``, ``refusal``) is redacted with the policy's engine under ONE pseudonym context
   (:meth:`EgressExchange.redact_texts`), so ``<PERSON_1>`` is the same person in the system prompt,
   the history and the question;
2. with a destination, the policy's residency rules and the destination's egress controls decide
   whether the request may leave at all (:meth:`Redacted.decide`); a refusal is a 403
   ``{"error": {"type": "redactline_policy", "code": <reason>, ...}}``;
3. the sanitized request goes to the upstream OpenAI-compatible API with httpx;
4. the answer's ``content`` / tool-call ``arguments`` are re-identified from the request's vault
   (:meth:`Redacted.reidentify`); when streaming, every delta goes through :meth:`Redacted.stream`
   and held-back text is flushed at ``finish_reason`` and before ``[DONE]``.

Fail closed: content the proxy cannot redact (images, audio, files, unknown part types or message
fields) is refused with 400 instead of being forwarded. ``user`` and ``metadata`` are dropped (free-form
identifiers). Nothing the proxy logs contains message text: only status codes, reason codes, counts.

Upstream failures become 502 (429 stays 429 with its ``Retry-After``, so clients back off); a 4xx
from the upstream is relayed with its status and a generic message, never the upstream's text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from redactline.policies.destinations import DestinationConfig
from redactline.policies.exchange import RESIDENCY, EgressExchange, ExchangeDecision, Redacted, Restorer
from redactline.policies.log_hygiene import quiet_text_loggers
from redactline.policies.reidentify import StreamingReidentifier

from .local_server import UvicornThread

logger = logging.getLogger(__name__)

POLICY_ERROR = "redactline_policy"
REQUEST_ERROR = "redactline_request"
UPSTREAM_ERROR = "redactline_upstream"

# Message keys the proxy understands. Anything else is refused rather than forwarded unread.
_MESSAGE_TEXT_KEYS = ("content", "name", "refusal")
_MESSAGE_PASS_KEYS = ("role", "tool_call_id", "tool_calls", "function_call")
_DROPPED_TOP_LEVEL = ("user", "metadata")


class ProxyRefusal(Exception):
    """A request the proxy will not forward. ``message`` is PII-free by construction."""

    def __init__(self, status: int, error_type: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return _error(self.status, self.error_type, self.code, self.message)


def _error(status: int, error_type: str, code: str, message: str, headers: dict[str, str] | None = None
           ) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type, "code": code, "param": None}}
    return JSONResponse(body, status_code=status, headers=headers)


class Redactor:
    """The policy's engine shared by every request of a proxy, one request at a time (thread-safe)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()  # one spaCy pipeline; it promises no concurrent callers

    @classmethod
    def from_engine(cls, engine: Any) -> Redactor:
        return cls(engine)

    def redact(self, exchange: EgressExchange, texts: list[str]) -> Redacted:
        """``texts`` redacted by ``exchange`` (built on this engine) under one context."""
        with self._lock:
            return exchange.redact_texts(texts)


@dataclass
class ProxyConfig:
    """Where to forward and under which controls. ``api_key`` None: the client's Authorization header
    is forwarded as it came."""

    upstream: str
    api_key: str | None = field(default=None, repr=False)
    destination_name: str | None = None
    destination: DestinationConfig | None = None
    residency: Any = None  # ResidencyConfig | None: checked when a destination is named
    jurisdiction: str | None = None
    timeout_s: float = 120.0
    max_body_bytes: int = 16 * 1024 * 1024

    @property
    def base(self) -> str:
        return self.upstream.rstrip("/")


# --- request side -----------------------------------------------------------------------------------------


@dataclass
class _Slot:
    """A place in the request body holding text to redact, and how to write the redacted text back."""

    text: str
    put: Callable[[str], None]


def _collect_slots(body: dict[str, Any]) -> list[_Slot]:
    """Every text of the request that the model will read; refuses what cannot be redacted."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProxyRefusal(400, REQUEST_ERROR, "invalid_messages", "messages must be a non-empty list")
    slots: list[_Slot] = []

    def slot(container: dict[str, Any] | list[Any], key: Any) -> None:
        value = container[key]
        if isinstance(value, str):
            slots.append(_Slot(value, lambda new, c=container, k=key: c.__setitem__(k, new)))

    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ProxyRefusal(400, REQUEST_ERROR, "invalid_messages", f"messages[{index}] is not an object")
        unknown = sorted(set(message) - set(_MESSAGE_TEXT_KEYS) - set(_MESSAGE_PASS_KEYS))
        if unknown:
            raise ProxyRefusal(
                400, REQUEST_ERROR, "unsupported_field",
                f"messages[{index}] has fields the proxy cannot redact: {', '.join(unknown)[:200]}",
            )
        for key in ("name", "refusal"):
            if key in message:
                slot(message, key)
        content = message.get("content")
        if isinstance(content, str):
            slot(message, "content")
        elif isinstance(content, list):
            for part_index, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                    kind = part.get("type") if isinstance(part, dict) else None
                    shown = kind if isinstance(kind, str) and kind.isidentifier() else "unknown"
                    raise ProxyRefusal(
                        400, REQUEST_ERROR, "unsupported_content",
                        f"messages[{index}].content[{part_index}]: {shown} parts cannot be redacted; "
                        "only text is forwarded",
                    )
                key = part["type"]
                if not isinstance(part.get(key), str):
                    raise ProxyRefusal(400, REQUEST_ERROR, "invalid_messages",
                                       f"messages[{index}].content[{part_index}] has no {key} string")
                slot(part, key)
        elif content is not None:
            raise ProxyRefusal(400, REQUEST_ERROR, "invalid_messages",
                               f"messages[{index}].content is invalid")
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and "arguments" in function:
                slot(function, "arguments")
        legacy = message.get("function_call")
        if isinstance(legacy, dict) and "arguments" in legacy:
            slot(legacy, "arguments")
    return slots


# --- response side ----------------------------------------------------------------------------------------


def _reidentify_message(message: Any, vault: Restorer) -> None:
    if not isinstance(message, dict):
        return
    for key in ("content", "refusal"):
        if isinstance(message.get(key), str):
            message[key] = vault.reidentify(message[key])
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            function["arguments"] = vault.reidentify(function["arguments"])


def reidentify_completion(body: Any, vault: Restorer) -> Any:
    """Re-identify a non-streaming chat completion in place (``choices[].message``)."""
    if isinstance(body, dict):
        for choice in body.get("choices") or []:
            if isinstance(choice, dict):
                _reidentify_message(choice.get("message"), vault)
    return body


class StreamRewriter:
    """Re-identifies a chat-completion SSE stream chunk by chunk (one streaming re-identifier per
    choice and text slot), flushing held-back text when a choice finishes and before ``[DONE]``."""

    def __init__(self, vault: Restorer) -> None:
        self._vault = vault
        self._streams: dict[tuple[int, str, int], StreamingReidentifier] = {}
        self._template: dict[str, Any] | None = None

    def _stream(self, key: tuple[int, str, int]) -> StreamingReidentifier:
        if key not in self._streams:
            self._streams[key] = self._vault.stream()
        return self._streams[key]

    def _flush_choice(self, index: int, delta: dict[str, Any]) -> None:
        for key in sorted(k for k in self._streams if k[0] == index):
            rest = self._streams.pop(key).finish()
            if not rest:
                continue
            _, slot, tool = key
            if slot == "content":
                delta["content"] = (delta.get("content") or "") + rest
            elif slot == "refusal":
                delta["refusal"] = (delta.get("refusal") or "") + rest
            else:
                calls = delta.setdefault("tool_calls", [])
                target = next((c for c in calls if isinstance(c, dict) and c.get("index") == tool), None)
                if target is None:
                    target = {"index": tool, "function": {"arguments": ""}}
                    calls.append(target)
                function = target.setdefault("function", {})
                function["arguments"] = (function.get("arguments") or "") + rest

    def chunk(self, data: dict[str, Any]) -> dict[str, Any]:
        """Rewrite one parsed ``chat.completion.chunk``."""
        self._template = {k: data[k] for k in ("id", "object", "created", "model") if k in data}
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice["delta"] = {}
            for slot in ("content", "refusal"):
                if isinstance(delta.get(slot), str):
                    delta[slot] = self._stream((index, slot, 0)).feed(delta[slot])
            for call in delta.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    key = (index, "tool", call.get("index", 0))
                    function["arguments"] = self._stream(key).feed(function["arguments"])
            if choice.get("finish_reason") is not None:
                self._flush_choice(index, delta)
        return data

    def leftovers(self) -> dict[str, Any] | None:
        """A final chunk with text still held back (a stream that ended without finish_reason)."""
        choices = []
        for index in sorted({k[0] for k in self._streams}):
            delta: dict[str, Any] = {}
            self._flush_choice(index, delta)
            if delta:
                choices.append({"index": index, "delta": delta, "finish_reason": None})
        if not choices:
            return None
        base = dict(self._template or {"object": "chat.completion.chunk"})
        base["choices"] = choices
        return base


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


async def rewrite_sse(lines: AsyncIterator[str], vault: Restorer) -> AsyncIterator[bytes]:
    """Upstream SSE lines -> re-identified SSE events. Comments and unknown fields are dropped."""
    rewriter = StreamRewriter(vault)
    data: list[str] = []
    done = False

    async def events() -> AsyncIterator[str]:
        async for line in lines:
            if line == "":
                if data:
                    yield "\n".join(data)
                    data.clear()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            yield "\n".join(data)

    async for payload in events():
        if payload.strip() == "[DONE]":
            if (rest := rewriter.leftovers()) is not None:
                yield _sse(json.dumps(rest, ensure_ascii=False))
            yield _sse("[DONE]")
            done = True
            break
        try:
            parsed = json.loads(payload)
        except ValueError:
            logger.warning("proxy: upstream sent a stream event that is not JSON; dropped")
            continue
        if isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed:
            logger.warning("proxy: upstream reported an error inside the stream")
            yield _sse(json.dumps({"error": {"message": "upstream error during the stream",
                                             "type": UPSTREAM_ERROR, "code": "upstream_error"}}))
            continue
        if isinstance(parsed, dict):
            parsed = rewriter.chunk(parsed)
        yield _sse(json.dumps(parsed, ensure_ascii=False))
    if not done and (rest := rewriter.leftovers()) is not None:
        yield _sse(json.dumps(rest, ensure_ascii=False))


# --- the app ----------------------------------------------------------------------------------------------


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProxyRefusal(413, REQUEST_ERROR, "too_large", f"request body is over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ProxyRefusal(413, REQUEST_ERROR, "too_large", f"request body is over {limit} bytes")
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ProxyRefusal(400, REQUEST_ERROR, "invalid_json", "the request body is not JSON") from None
    if not isinstance(parsed, dict):
        raise ProxyRefusal(400, REQUEST_ERROR, "invalid_json", "the request body must be a JSON object")
    return parsed


def _refusal(config: ProxyConfig, decision: ExchangeDecision) -> ProxyRefusal:
    """The 403 for a request the exchange's decision holds back (reason codes and codes only)."""
    code = decision.reason or "held"
    if decision.control == RESIDENCY:
        assert config.destination is not None  # without a destination nothing is decided
        return ProxyRefusal(403, POLICY_ERROR, code,
                            f"residency: data of jurisdiction {config.jurisdiction or '(unknown)'} may not "
                            f"go to destination {config.destination_name} in {config.destination.region}")
    return ProxyRefusal(403, POLICY_ERROR, code, f"destination {config.destination_name}: {decision.detail}")


def _upstream_headers(config: ProxyConfig, request: Request) -> dict[str, str]:
    headers = {"accept": request.headers.get("accept", "application/json")}
    if config.api_key is not None:
        headers["authorization"] = f"Bearer {config.api_key}"
    elif "authorization" in request.headers:
        headers["authorization"] = request.headers["authorization"]
    return headers


def _upstream_failure(response: httpx.Response) -> JSONResponse:
    status = response.status_code
    logger.warning("proxy: upstream answered HTTP %d", status)
    if status == 429:
        retry = response.headers.get("retry-after")
        headers = {"retry-after": retry} if retry and len(retry) < 64 else None
        return _error(429, UPSTREAM_ERROR, "upstream_rate_limited", "the upstream API is rate limiting",
                      headers)
    if 400 <= status < 500:
        return _error(status, UPSTREAM_ERROR, "upstream_refused", f"the upstream API refused the request "
                      f"(HTTP {status})")
    return _error(502, UPSTREAM_ERROR, "upstream_error", f"the upstream API failed (HTTP {status})")


def _transport_failure(exc: httpx.HTTPError) -> JSONResponse:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
    logger.warning("proxy: upstream %s error (%s)", kind, type(exc).__name__)
    return _error(502, UPSTREAM_ERROR, f"upstream_{kind}", f"the upstream API could not be reached ({kind})")


def build_app(config: ProxyConfig, redactor: Redactor, *, transport: httpx.AsyncBaseTransport | None = None
              ) -> Starlette:
    """The proxy as an ASGI app. ``redactor`` wraps the policy's engine (built once, it loads spaCy)."""
    quiet_text_loggers()
    exchange = EgressExchange(redactor.engine, config.destination, residency=config.residency)
    state: dict[str, httpx.AsyncClient] = {}

    def client() -> httpx.AsyncClient:
        if "client" not in state:
            state["client"] = httpx.AsyncClient(
                timeout=httpx.Timeout(config.timeout_s, connect=min(10.0, config.timeout_s)),
                follow_redirects=False,
                transport=transport,
            )
        return state["client"]

    async def completions(request: Request) -> Response:
        try:
            body = await _read_json(request, config.max_body_bytes)
            slots = _collect_slots(body)
            redacted = await run_in_threadpool(redactor.redact, exchange, [s.text for s in slots])
            assert redacted.texts is not None
            for slot_, text in zip(slots, redacted.texts, strict=True):
                slot_.put(text)
            decision = redacted.decide(config.jurisdiction)
            if not decision.allowed:
                raise _refusal(config, decision)
        except ProxyRefusal as refusal:
            logger.info("proxy: refused a request (%s)", refusal.code)
            return refusal.response()
        for key in _DROPPED_TOP_LEVEL:
            body.pop(key, None)
        stream = body.get("stream") is True
        upstream = client().build_request(
            "POST", f"{config.base}/chat/completions",
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={**_upstream_headers(config, request), "content-type": "application/json"},
        )
        try:
            response = await client().send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        if response.status_code >= 400:
            await response.aclose()
            return _upstream_failure(response)
        if not stream:
            try:
                raw = await response.aread()
            except httpx.HTTPError as exc:
                return _transport_failure(exc)
            finally:
                await response.aclose()
            try:
                answer = json.loads(raw)
            except ValueError:
                return _error(502, UPSTREAM_ERROR, "upstream_bad_response", "the upstream answer is not JSON")
            return JSONResponse(reidentify_completion(answer, redacted))
        if "text/event-stream" not in response.headers.get("content-type", ""):
            await response.aclose()
            return _error(502, UPSTREAM_ERROR, "upstream_bad_response", "the upstream did not stream")

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for event in rewrite_sse(response.aiter_lines(), redacted):
                    yield event
            except httpx.HTTPError as exc:
                logger.warning("proxy: upstream stream broke (%s)", type(exc).__name__)
            finally:
                await response.aclose()  # also when the client hangs up mid-stream

        return StreamingResponse(relay(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    async def models(request: Request) -> Response:
        try:
            response = await client().get(f"{config.base}/models", headers=_upstream_headers(config, request))
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        if response.status_code >= 400:
            return _upstream_failure(response)
        try:
            return JSONResponse(response.json())
        except ValueError:
            return _error(502, UPSTREAM_ERROR, "upstream_bad_response", "the upstream answer is not JSON")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "destination": config.destination_name})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if "client" in state:
            await state.pop("client").aclose()

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


# --- serving ----------------------------------------------------------------------------------------------


def uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # request lines are harmless, but keep one rule: the proxy logs codes only
        timeout_keep_alive=10,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


class ProxyThread(UvicornThread):
    """The proxy on ``127.0.0.1`` and an ephemeral port, in a background thread (tests)."""

    def __init__(self, app: Starlette) -> None:
        super().__init__(lambda port: uvicorn_config(app, "127.0.0.1", port), "redactline proxy")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
