"""A local OpenAI-compatible proxy: redact chat requests, forward them, re-identify the answers.

Existing clients (the official ``openai`` SDK, LangChain, curl) point their base URL at the proxy and
change nothing else. Per ``POST /v1/chat/completions``:

0. the request must come from a local program, not a web page: its ``Host`` names the proxy's loopback
   address and port (DNS rebinding), it has no ``Origin`` header and its Content-Type is
   ``application/json`` (CSRF); with a local token (``--require-token-env``) it carries
   ``Authorization: Bearer <token>``. Otherwise 403 (401 for the token), nothing is read further;
1. the body is read by the closed request model (:mod:`redactline.connectors.proxy_request`): every
   string is either text, redacted with the policy's engine under ONE pseudonym context
   (:meth:`EgressExchange.redact_texts`), so ``<PERSON_1>`` is the same person in the system prompt,
   the history, the tool descriptions and the question; or an identifier (tool names, ids) the engine
   must find nothing in; or a checked closed value. Anything else is a 400 naming the field. Requests
   are redacted concurrently on a small pool of engines (:class:`Redactor`), each within the policy's
   budget (``detection.budget``): over it, 413 ``oversize`` or 422 ``engine_timeout``, never forwarded;
2. with a destination, the policy's residency rules and the destination's egress controls decide
   whether the request may leave at all (:meth:`Redacted.decide`); a refusal is a 403
   ``{"error": {"type": "redactline_policy", "code": <reason>, ...}}``;
3. the sanitized request goes to the upstream OpenAI-compatible API with httpx;
4. the answer's ``content`` / ``refusal`` are re-identified from the request's vault
   (:meth:`Redacted.reidentify`), tool-call and function-call ``arguments`` value by value when they are
   JSON; when streaming, every text delta goes through :meth:`Redacted.stream` and held-back text is
   flushed at ``finish_reason`` and before ``[DONE]``; streamed arguments are held until their choice
   finishes, then re-identified whole.

Nothing the proxy logs contains request text: only status codes, reason codes, counts.

Upstream failures become 502 (429 stays 429 with its ``Retry-After``, so clients back off); a 4xx
from the upstream is relayed with its status and a generic message, never the upstream's text; a redirect
is not followed and its body is no answer (502).

A value in disguise (zero-width or other invisible characters, full-width forms) is detected and sent as
read (:func:`~redactline.policies.readable.readable`). With ``scan_answers``, every string a model can write
in the answer is scanned (:mod:`redactline.connectors.proxy_answers`), skipping only this request's own
placeholders; in ``redact`` mode log-probabilities are refused in requests and dropped from answers.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from redactline.policies.answer_scan import AnswerScan, scan_answers
from redactline.policies.budget import EngineTimeout, Limits, TextTooLarge, deadline
from redactline.policies.destinations import DestinationConfig
from redactline.policies.exchange import RESIDENCY, EgressExchange, ExchangeDecision, Redacted, Restorer
from redactline.policies.log_hygiene import quiet_text_loggers
from redactline.policies.readable import readable
from redactline.policies.reidentify import StreamingReidentifier

from .http_timeouts import DEFAULT_HEADER_TIMEOUT, header_timeout_protocol
from .llm.anthropic_messages import ANTHROPIC_VERSION
from .local_server import UvicornThread
from .proxy_answers import AnswerTooDeep, answer_slots
from .proxy_apis import (
    parse_anthropic_request,
    parse_embeddings_request,
    parse_responses_request,
    reidentify_message,
    reidentify_response,
)
from .proxy_request import (
    REQUEST_ERROR,
    UNSUPPORTED_FIELD,
    ParsedRequest,
    ProxyRefusal,
    parse_request,
    refuse_identifiers,
)
from .records import ENGINE_TIMEOUT, OVERSIZE

logger = logging.getLogger(__name__)

POLICY_ERROR = "redactline_policy"
UPSTREAM_ERROR = "redactline_upstream"
OPENAI, ANTHROPIC = "openai", "anthropic"  # upstream wire formats
ANSWER_SCAN_HEADER = "x-redactline-answer-entities"  # entity types/counts the answer scan found

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _error(status: int, error_type: str, code: str, message: str, headers: dict[str, str] | None = None
           ) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type, "code": code, "param": None}}
    return JSONResponse(body, status_code=status, headers=headers)


class Redactor:
    """The policy's engines for the proxy's requests: a small pool, one request per engine at a time.

    Requests are redacted concurrently, up to one per engine (spaCy's pipeline promises no concurrent
    callers on one instance, so an engine is never shared by two requests); a request that finds every
    engine busy waits for one, at most its time budget (then 503 ``busy``). Each request runs under the
    policy's budget (``detection.budget``) as a whole: all its texts and identifiers together within
    ``max_text_bytes`` (else 413 ``oversize``) and ``max_seconds`` of detection (else 422
    ``engine_timeout``). A refused request is never forwarded, and its message names limits only.
    """

    def __init__(self, engines: Sequence[Any]) -> None:
        if not engines:
            raise ValueError("a Redactor needs at least one engine")
        self.engine = engines[0]
        self.size = len(engines)
        self.budget: Limits = getattr(self.engine, "budget", None) or Limits()
        self._idle = list(engines)
        self._available = threading.Condition()

    @classmethod
    def from_engine(cls, engine: Any) -> Redactor:
        """One engine: requests are redacted one at a time."""
        return cls([engine])

    @classmethod
    def from_policy(cls, policy: Any, workers: int = 2) -> Redactor:
        """``workers`` engines of ``policy`` (each loads spaCy), built now so no request waits for one."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        return cls([policy.engine() for _ in range(workers)])

    @contextlib.contextmanager
    def _checkout(self) -> Iterator[Any]:
        with self._available:
            if not self._available.wait_for(lambda: self._idle, timeout=self.budget.max_seconds):
                raise ProxyRefusal(503, REQUEST_ERROR, "busy", "every redaction engine is busy; retry later")
            engine = self._idle.pop()
        try:
            yield engine
        finally:
            with self._available:
                self._idle.append(engine)
                self._available.notify()

    def redact_request(
        self, exchange_for: Callable[[Any], EgressExchange], request: ParsedRequest
    ) -> Redacted:
        """Refuse ``request`` when an identifier holds an entity or it is over its budget; else its texts
        redacted under one context by the exchange ``exchange_for(engine)`` builds on a free engine."""
        limits = self.budget
        with self._checkout() as engine:
            try:
                # identifiers are checked, and texts redacted and sent, as read (readable()): a value in
                # disguise (zero-width characters, full-width forms) is found like the plain one
                values = list(dict.fromkeys(identifier.value for identifier in request.identifiers))
                shown = [readable(value) for value in values]
                texts = [readable(slot.text) for slot in request.texts]
                limits.check_size([*shown, *texts], "request")
                with deadline(limits.max_seconds):
                    if values:
                        found = {
                            value: [r.entity_type for r in results if seen[r.start:r.end].strip()]
                            for value, seen, results in zip(values, shown, engine.analyze_texts(shown),
                                                            strict=True)
                        }
                        refuse_identifiers(request.identifiers, [found[i.value] for i in request.identifiers])
                    return exchange_for(engine).redact_texts(texts)
            except EngineTimeout:
                raise ProxyRefusal(422, REQUEST_ERROR, ENGINE_TIMEOUT,
                                   f"redacting the request ran past the policy's time budget "
                                   f"({limits.max_seconds:g} s, detection.budget.max_seconds); "
                                   "it was not sent") from None
            except TextTooLarge:
                raise ProxyRefusal(413, REQUEST_ERROR, OVERSIZE,
                                   f"the request's text is over the policy's size budget "
                                   f"({limits.max_text_bytes} bytes, detection.budget.max_text_bytes); "
                                   "it was not sent") from None


    def scan(self, texts: list[str], mode: str, known: Callable[[str], bool] | None = None) -> AnswerScan:
        """Scan answer ``texts`` (placeholders not yet restored) on a free engine (see answer_scan);
        ``known`` says which ``<...>`` spans are the request's placeholders."""
        if mode == "off" or not texts:
            return AnswerScan(list(texts))
        limits = self.budget
        with self._checkout() as engine:
            try:
                with deadline(limits.max_seconds):
                    return scan_answers(engine, texts, mode, known)
            except (EngineTimeout, TextTooLarge):
                # fail closed: an answer the scan could not finish is not delivered
                raise ProxyRefusal(502, UPSTREAM_ERROR, "answer_scan_failed",
                                   "the answer could not be scanned within the policy's budget") from None


@dataclass
class ProxyConfig:
    """Where to forward and under which controls. ``api_key`` None: the client's Authorization header
    is forwarded as it came, unless ``local_token`` is set: then clients must present it as their bearer
    token and it never goes upstream."""

    upstream: str
    api_key: str | None = field(default=None, repr=False)
    destination_name: str | None = None
    destination: DestinationConfig | None = None
    residency: Any = None  # ResidencyConfig | None: checked when a destination is named
    jurisdiction: str | None = None
    timeout_s: float = 120.0
    max_body_bytes: int = 16 * 1024 * 1024
    local_token: str | None = field(default=None, repr=False)
    upstream_format: str = OPENAI  # openai: chat, responses, embeddings, models; anthropic: messages
    scan_answers: str = "off"  # off | flag | redact (policies/answer_scan.py)

    @property
    def base(self) -> str:
        return self.upstream.rstrip("/")


# --- response side ----------------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def reidentify_arguments(arguments: str, vault: Restorer) -> str:
    """Tool-call arguments with the originals put back: value by value (keys too) when they are JSON, so a
    restored value with quotes or backslashes stays valid JSON; as text otherwise. Unchanged arguments
    keep their exact spelling."""
    try:
        parsed = json.loads(arguments, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return vault.reidentify(arguments)
    changed = False

    def walk(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, str):
            restored = vault.reidentify(value)
            changed = changed or restored != value
            return restored
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {walk(key): walk(item) for key, item in value.items()}
        return value

    restored = walk(parsed)
    return json.dumps(restored, ensure_ascii=False) if changed else arguments


def _reidentify_message(message: Any, vault: Restorer) -> None:
    if not isinstance(message, dict):
        return
    for key in ("content", "refusal"):
        if isinstance(message.get(key), str):
            message[key] = vault.reidentify(message[key])
    functions = [call.get("function") for call in message.get("tool_calls") or [] if isinstance(call, dict)]
    functions.append(message.get("function_call"))
    for function in functions:
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            function["arguments"] = reidentify_arguments(function["arguments"], vault)


def reidentify_completion(body: Any, vault: Restorer) -> Any:
    """Re-identify a non-streaming chat completion in place (``choices[].message``)."""
    if isinstance(body, dict):
        for choice in body.get("choices") or []:
            if isinstance(choice, dict):
                _reidentify_message(choice.get("message"), vault)
    return body


class StreamRewriter:
    """Re-identifies a chat-completion SSE stream chunk by chunk.

    ``content`` and ``refusal`` go through one streaming re-identifier per choice, flushed when the choice
    finishes and before ``[DONE]``. Tool-call (and legacy function-call) ``arguments`` are held per call
    and sent re-identified (value by value when JSON) in the chunk that finishes the choice: a placeholder
    split across deltas, or a restored value that needs JSON escaping, is only safe on the whole text.
    """

    def __init__(self, vault: Restorer) -> None:
        self._vault = vault
        self._streams: dict[tuple[int, str], StreamingReidentifier] = {}
        self._arguments: dict[tuple[int, str, int], list[str]] = {}
        self._template: dict[str, Any] | None = None

    def _stream(self, key: tuple[int, str]) -> StreamingReidentifier:
        if key not in self._streams:
            self._streams[key] = self._vault.stream()
        return self._streams[key]

    def _flush_choice(self, index: int, delta: dict[str, Any]) -> None:
        for key in sorted(k for k in self._streams if k[0] == index):
            rest = self._streams.pop(key).finish()
            if rest:
                slot = key[1]
                delta[slot] = (delta.get(slot) or "") + rest
        for key in sorted(k for k in self._arguments if k[0] == index):
            held = "".join(self._arguments.pop(key))
            if not held:
                continue
            _, kind, tool = key
            if kind == "function":
                function = delta.get("function_call")
                if not isinstance(function, dict):
                    function = delta["function_call"] = {}
            else:
                calls = delta.get("tool_calls")
                if not isinstance(calls, list):
                    calls = delta["tool_calls"] = []
                target = next((c for c in calls if isinstance(c, dict) and c.get("index") == tool), None)
                if target is None:
                    target = {"index": tool, "function": {}}
                    calls.append(target)
                function = target.setdefault("function", {})
            restored = reidentify_arguments(held, self._vault)
            function["arguments"] = (function.get("arguments") or "") + restored

    def _hold(self, key: tuple[int, str, int], function: Any) -> None:
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            self._arguments.setdefault(key, []).append(function["arguments"])
            function["arguments"] = ""

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
                    delta[slot] = self._stream((index, slot)).feed(delta[slot])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    tool = call.get("index")
                    self._hold((index, "tool", tool if isinstance(tool, int) else 0), call.get("function"))
            self._hold((index, "function", 0), delta.get("function_call"))
            if choice.get("finish_reason") is not None:
                self._flush_choice(index, delta)
        return data

    def leftovers(self) -> dict[str, Any] | None:
        """A final chunk with text still held back (a stream that ended without finish_reason)."""
        choices = []
        for index in sorted({k[0] for k in self._streams} | {k[0] for k in self._arguments}):
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
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
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


def _allowed_hosts(scope: Any) -> set[str]:
    """The ``Host`` values that name this proxy: its loopback names, or the address the client connected
    to, with the port it listens on (a DNS-rebound page sends its own host name instead)."""
    server = scope.get("server")
    if not server or server[1] is None:
        return set()
    address, port = str(server[0]).lower(), server[1]
    names = {*_LOOPBACK_NAMES, f"[{address}]" if ":" in address else address}
    return {f"{name}:{port}" for name in names} | (names if port == 80 else set())


def _forbidden(config: ProxyConfig, request: Request, *, json_body: bool) -> ProxyRefusal | None:
    """Why ``request`` may not use the proxy (a web page, a rebound DNS name, a missing local token)."""
    if request.headers.get("host", "").strip().lower() not in _allowed_hosts(request.scope):
        return ProxyRefusal(403, REQUEST_ERROR, "forbidden_host",
                            "the Host header must name the proxy's loopback address and port "
                            "(127.0.0.1, localhost or [::1])")
    if "origin" in request.headers:
        return ProxyRefusal(403, REQUEST_ERROR, "cross_origin",
                            "requests with an Origin header (web pages) are refused")
    if json_body:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return ProxyRefusal(403, REQUEST_ERROR, "unsupported_media_type",
                                "the request's Content-Type must be application/json")
    if config.local_token is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = config.local_token.encode("utf-8")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8"), expected):
            return ProxyRefusal(401, REQUEST_ERROR, "invalid_local_token",
                                "this proxy requires its local token as the bearer token")
    return None


def _refused(refusal: ProxyRefusal) -> JSONResponse:
    logger.info("proxy: refused a request (%d %s)", refusal.status, refusal.code)
    headers = {"www-authenticate": "Bearer"} if refusal.status == 401 else None
    return JSONResponse(refusal.payload(), status_code=refusal.status, headers=headers)


_ANTHROPIC_VERSION_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _upstream_headers(config: ProxyConfig, request: Request, *, stream: bool = False) -> dict[str, str]:
    """What goes upstream besides the body: a fixed Accept, the API's version and key. No header of the
    client's is copied (they are free text), except its own key when the proxy has none."""
    headers = {"accept": "text/event-stream" if stream else "application/json"}
    if config.upstream_format == ANTHROPIC:
        version = request.headers.get("anthropic-version", "")
        headers["anthropic-version"] = version if _ANTHROPIC_VERSION_SHAPE.fullmatch(version) \
            else ANTHROPIC_VERSION
        if config.api_key is not None:
            headers["x-api-key"] = config.api_key
        elif config.local_token is None and "x-api-key" in request.headers:
            headers["x-api-key"] = request.headers["x-api-key"]
        return headers
    if config.api_key is not None:
        headers["authorization"] = f"Bearer {config.api_key}"
    elif config.local_token is None and "authorization" in request.headers:
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
    def exchange_for(engine: Any) -> EgressExchange:
        return EgressExchange(engine, config.destination, residency=config.residency)

    state: dict[str, httpx.AsyncClient] = {}

    def client() -> httpx.AsyncClient:
        if "client" not in state:
            state["client"] = httpx.AsyncClient(
                timeout=httpx.Timeout(config.timeout_s, connect=min(10.0, config.timeout_s)),
                follow_redirects=False,
                transport=transport,
            )
        return state["client"]

    async def prepare(request: Request, parse: Callable[[dict[str, Any]], ParsedRequest]
                      ) -> tuple[ParsedRequest, Redacted, dict[str, Any]]:
        """Admission, the closed request model, redaction and the egress decision; ProxyRefusal else."""
        if (forbidden := _forbidden(config, request, json_body=True)) is not None:
            raise forbidden
        parsed = parse(await _read_json(request, config.max_body_bytes))
        if parsed.stream and config.scan_answers != "off":
            raise ProxyRefusal(400, REQUEST_ERROR, UNSUPPORTED_FIELD,
                               "stream: answers are scanned (scan_answers), which needs the whole answer; "
                               "send stream: false")
        if config.scan_answers == "redact" and (parsed.body.get("logprobs") or
                                                parsed.body.get("top_logprobs")):
            raise ProxyRefusal(400, REQUEST_ERROR, UNSUPPORTED_FIELD,
                               "logprobs: answers are redacted (scan_answers: redact), and token "
                               "log-probabilities spell out the answer unscanned; leave them off")
        redacted = await run_in_threadpool(redactor.redact_request, exchange_for, parsed)
        assert redacted.texts is not None
        body = parsed.apply(redacted.texts)
        decision = redacted.decide(config.jurisdiction)
        if not decision.allowed:
            raise _refusal(config, decision)
        return parsed, redacted, body

    async def send(request: Request, path: str, body: dict[str, Any]) -> httpx.Response | Response:
        """POST ``body`` upstream (streamed response); a JSON error response on failure."""
        upstream = client().build_request(
            "POST", f"{config.base}{path}",
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={**_upstream_headers(config, request, stream=body.get("stream") is True),
                     "content-type": "application/json"},
        )
        try:
            response = await client().send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        if not 200 <= response.status_code < 300:  # redirects are not followed: their body is no answer
            await response.aclose()
            return _upstream_failure(response)
        return response

    async def answer_json(response: httpx.Response) -> Any:
        try:
            raw = await response.aread()
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        finally:
            await response.aclose()
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return _error(502, UPSTREAM_ERROR, "upstream_bad_response", "the upstream answer is not JSON")

    def known_to(redacted: Redacted) -> Callable[[str], bool]:
        """Whether a ``<...>`` span of an answer is one of this request's placeholders."""
        return lambda span: redacted.reidentify(span) != span

    async def restored(answer: Any, redacted: Redacted, reidentify: Callable[[Any, Restorer], Any]
                       ) -> Response:
        """The answer scanned (scan_answers: every string a model can write, see proxy_answers) and
        re-identified."""
        headers = None
        mode = config.scan_answers
        if mode != "off":
            try:
                holder, slots = answer_slots(answer, drop_logprobs=mode == "redact")
                scan = await run_in_threadpool(redactor.scan, slots.texts, mode, known_to(redacted))
            except AnswerTooDeep:
                return _refused(ProxyRefusal(502, UPSTREAM_ERROR, "answer_scan_failed",
                                             "the answer is nested too deeply to be scanned"))
            except ProxyRefusal as refusal:
                return _refused(refusal)
            if mode == "redact":
                slots.write(scan.texts)
                answer = holder[0]
            if scan.total:
                logger.warning("proxy: the answer held %d entit%s the prompt did not carry (%s): %s",
                               scan.total, "y" if scan.total == 1 else "ies", scan.summary(),
                               "redacted" if config.scan_answers == "redact" else "flagged")
                headers = {ANSWER_SCAN_HEADER: scan.summary()}
        return JSONResponse(reidentify(answer, redacted), headers=headers)

    def json_route(path: str, parse: Callable[[dict[str, Any]], ParsedRequest],
                   reidentify: Callable[[Any, Restorer], Any]) -> Callable[[Request], Any]:
        """A non-streaming endpoint: prepare, send to ``path`` upstream, scan and restore the answer."""

        async def endpoint(request: Request) -> Response:
            try:
                _, redacted, body = await prepare(request, parse)
            except ProxyRefusal as refusal:
                return _refused(refusal)
            response = await send(request, path, body)
            if not isinstance(response, httpx.Response):
                return response
            answer = await answer_json(response)
            if isinstance(answer, Response):
                return answer
            return await restored(answer, redacted, reidentify)

        return endpoint

    async def completions(request: Request) -> Response:
        try:
            parsed, redacted, body = await prepare(request, parse_request)
        except ProxyRefusal as refusal:
            return _refused(refusal)
        response = await send(request, "/chat/completions", body)
        if not isinstance(response, httpx.Response):
            return response
        if not parsed.stream:
            answer = await answer_json(response)
            if isinstance(answer, Response):
                return answer
            return await restored(answer, redacted, reidentify_completion)
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
        if (forbidden := _forbidden(config, request, json_body=False)) is not None:
            return _refused(forbidden)
        try:
            response = await client().get(f"{config.base}/models", headers=_upstream_headers(config, request))
        except httpx.HTTPError as exc:
            return _transport_failure(exc)
        if not 200 <= response.status_code < 300:
            return _upstream_failure(response)
        try:
            return JSONResponse(response.json())
        except (ValueError, RecursionError):
            return _error(502, UPSTREAM_ERROR, "upstream_bad_response", "the upstream answer is not JSON")

    async def healthz(request: Request) -> Response:
        forbidden = _forbidden(config, request, json_body=False)
        if forbidden is not None and forbidden.status == 403:  # no token needed, but only local programs
            return _refused(forbidden)
        return JSONResponse({"status": "ok", "destination": config.destination_name})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if "client" in state:
            await state.pop("client").aclose()

    def passed_back(answer: Any, vault: Restorer) -> Any:
        return answer  # embeddings: vectors, no text to restore

    if config.upstream_format == ANTHROPIC:
        messages = json_route("/v1/messages", parse_anthropic_request, reidentify_message)
        routes = [Route("/v1/messages", messages, methods=["POST"])]
    else:
        responses = json_route("/responses", parse_responses_request, reidentify_response)
        embeddings = json_route("/embeddings", parse_embeddings_request, passed_back)
        routes = [
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/responses", responses, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    return Starlette(routes=[*routes, Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)


# --- serving ----------------------------------------------------------------------------------------------


def uvicorn_config(
    app: Starlette, host: str, port: int, *, header_timeout: float = DEFAULT_HEADER_TIMEOUT
) -> uvicorn.Config:
    """uvicorn settings of the proxy; ``header_timeout``: seconds for a request line and headers."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_timeout_protocol(header_timeout),  # slowloris: uvicorn has no header deadline
        log_level="warning",
        access_log=False,  # request lines are harmless, but keep one rule: the proxy logs codes only
        timeout_keep_alive=10,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


class ProxyThread(UvicornThread):
    """The proxy on ``127.0.0.1`` and an ephemeral port, in a background thread (tests)."""

    def __init__(self, app: Starlette, *, header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> None:
        super().__init__(
            lambda port: uvicorn_config(app, "127.0.0.1", port, header_timeout=header_timeout),
            "redactline proxy",
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
