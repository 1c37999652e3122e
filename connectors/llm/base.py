"""What every LLM API client shares: the request loop, retries, bounded concurrency, PII-free errors.

A provider module (``openai_chat``, ``anthropic_messages``) only says how a prompt becomes a JSON body,
which headers authenticate it, and where the answer and the token counts sit in the reply. Everything
that decides *whether* and *when* a request goes out lives here, once:

* one ``httpx.Client`` per client object (connection reuse; thread-safe, so ``complete_many`` shares
  it), explicit connect/read/write/pool timeouts, redirects never followed;
* a semaphore of ``max_concurrency`` slots around each HTTP request, so the bound holds however many
  threads call ``complete`` (a slot is released while a retry waits);
* retries on 429/5xx, timeouts and network errors, at most ``max_retries``, waiting ``Retry-After`` when
  the server sends one, else a jittered backoff (the shared policy of :mod:`redactline.connectors.retry`);
  an answer whose body cannot be decoded (broken gzip) or parsed is a ``bad_response``, never retried
  (the prompt reached the API) and never an exception other than :class:`LlmError`;
* errors that say which destination, which HTTP status and which provider error *type* — never the
  prompt, the answer, the provider's error message (it may quote the prompt) or any header.

The body is encoded once (:meth:`ChatClient.encode`) and those exact bytes are what is sent, so a caller
can show precisely what left the machine (``redactline prompt --show-sent``).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from ..retry import RetryPolicy, Sleep, is_retryable_status, parse_retry_after

log = logging.getLogger(__name__)

# Failure codes carried by LlmError.code (stable: pipelines turn them into quarantine details).
HTTP_STATUS = "http_status"  # the API answered with an error status
TIMEOUT = "timeout"  # connect/read/write/pool timeout
NETWORK = "network"  # connection refused/reset, protocol error
BAD_RESPONSE = "bad_response"  # a 2xx whose body is not the expected JSON shape, or cannot be decoded
RETRY_AFTER_TOO_LONG = "retry_after_too_long"  # the server asked to wait longer than we are willing to

_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
USER_AGENT = "redactline-llm/1"


class LlmConfigError(ValueError):
    """A destination that cannot be turned into a client (wrong kind, missing API key variable, ...)."""


class LlmError(RuntimeError):
    """A request that failed for good. The message is PII-free: destination, status, provider error type.

    ``attempts`` counts the HTTP requests made (1 + retries), so usage can be accounted for even when the
    answer never came. ``retryable`` says whether the last failure was of a retryable kind.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        error_type: str | None = None,
        attempts: int = 1,
        retryable: bool = False,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason or message  # the short form, without the destination (for log lines)
        self.code = code
        self.status = status
        self.error_type = error_type
        self.attempts = attempts
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only state survives pickling (thread/process pools)
        return (_rebuild_error, (str(self), self.code, self.status, self.error_type, self.attempts,
                                 self.retryable, self.reason))


def _rebuild_error(message: str, code: str, status: int | None, error_type: str | None, attempts: int,
                   retryable: bool, reason: str) -> LlmError:
    return LlmError(message, code=code, status=status, error_type=error_type, attempts=attempts,
                    retryable=retryable, reason=reason)


@dataclass(frozen=True)
class Prompt:
    """One request: the user message and an optional system message. Text only (no tools, no images)."""

    user: str = field(repr=False)
    system: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Answer:
    """The model's text (still pseudonymized: re-identification is the caller's job) and accounting."""

    text: str = field(repr=False)
    model: str
    usage: Usage
    attempts: int = 1

    @property
    def retries(self) -> int:
        return self.attempts - 1


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs. ``api_key`` stays out of ``repr``; None sends no credentials."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    max_tokens: int = 1024
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    max_concurrency: int = 4
    max_retries: int = 4
    backoff_s: float = 0.5  # first backoff ceiling; doubles per retry
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0  # a longer Retry-After fails the request instead of stalling the run
    name: str = "llm"  # the destination's name, for errors and logs

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise LlmConfigError("max_concurrency must be at least 1")
        if self.max_retries < 0:
            raise LlmConfigError("max_retries must not be negative")
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise LlmConfigError("timeouts must be positive")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LlmConfigError(f"destination {self.name!r}: the base URL must be an absolute http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise LlmConfigError(f"destination {self.name!r}: the base URL must not carry credentials, "
                                 "a query or a fragment")


def provider_error_type(response: httpx.Response) -> str | None:
    """The provider's error *type* (``rate_limit_error``, ``invalid_api_key``...) if it is a plain token.

    Both wire formats put it at ``error.type`` (OpenAI also has ``error.code``). Free text such as
    ``error.message`` is never read: providers quote the offending input there.
    """
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("type", "code"):
        value = error.get(key)
        if isinstance(value, str) and _SAFE_TOKEN.match(value):
            return value
    return None


class ChatClient(ABC):
    """Send prompts to one API endpoint with retries; see the module docstring. Use as a context manager."""

    provider: ClassVar[str]
    path: ClassVar[str]  # appended to the base URL

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + self.path
        self._where = f"{self.provider} destination {settings.name!r} ({urlsplit(self.url).netloc})"
        self.retry = RetryPolicy(attempts=settings.max_retries + 1, backoff=settings.backoff_s,
                                 max_backoff=settings.max_backoff_s,
                                 max_retry_after=settings.max_retry_after_s, sleep=sleep, rng=rng)
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        # Called with the attempt number (1 = first) just before each HTTP request, from the calling
        # thread: lets a pipeline count a request as sent even if the run stops before it is answered.
        self.on_send: Callable[[int], None] | None = None
        connect = min(settings.connect_timeout_s, settings.timeout_s)
        timeout = httpx.Timeout(settings.timeout_s, connect=connect)
        limits = httpx.Limits(max_connections=settings.max_concurrency,
                              max_keepalive_connections=settings.max_concurrency)
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        headers.update(self.auth_headers())
        self._http = httpx.Client(headers=headers, timeout=timeout, limits=limits, follow_redirects=False,
                                  transport=transport, trust_env=False)

    # ---- what a provider module defines -------------------------------------------------------------
    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate (and version) every request."""

    @abstractmethod
    def build_body(self, prompt: Prompt) -> dict[str, Any]:
        """The JSON request body for ``prompt``."""

    @abstractmethod
    def parse_answer(self, body: Any) -> tuple[str, Usage, str | None]:
        """(text, usage, model) from a 2xx JSON body; raise ``ValueError`` when the shape is wrong."""

    # ---- public API ---------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self.settings.model

    def encode(self, prompt: Prompt) -> bytes:
        """The exact bytes :meth:`complete` would send for ``prompt`` (compact UTF-8 JSON)."""
        body = self.build_body(prompt)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def complete(self, prompt: Prompt) -> Answer:
        """Send one prompt; return the answer or raise :class:`LlmError` once retries are exhausted."""
        return self.post(self.encode(prompt))

    def complete_many(self, prompts: Sequence[Prompt]) -> list[Answer | LlmError]:
        """Send ``prompts`` with at most ``max_concurrency`` in flight; one result per prompt, in order.

        A prompt that fails for good gives its :class:`LlmError` in its slot instead of raising, so one
        bad request does not lose the others' answers. Any other exception (a bug) propagates.
        """
        if not prompts:
            return []
        if len(prompts) == 1:
            return [self._try(prompts[0])]
        workers = min(self.settings.max_concurrency, len(prompts))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="redactline-llm")
        try:
            return list(pool.map(self._try, prompts))
        finally:
            # Interrupted (SIGTERM, Ctrl-C): prompts not yet sent are cancelled, never sent; the requests
            # in flight finish (or time out) before this returns.
            pool.shutdown(wait=True, cancel_futures=True)

    def post(self, body: bytes) -> Answer:
        """Send already-encoded ``body`` (see :meth:`encode`) with the retry policy of this client."""
        settings, policy = self.settings, self.retry
        total = policy.attempts
        for attempt in range(1, total + 1):
            wait: float | None = None
            try:
                with self._slots:
                    if self.on_send is not None:
                        self.on_send(attempt)
                    response = self._http.post(self.url, content=body)
            except httpx.TimeoutException as exc:
                failure = self._error(f"{_kind(exc)} timeout", TIMEOUT, attempt, retryable=True)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                reason = f"network error ({type(exc).__name__})"
                failure = self._error(reason, NETWORK, attempt, retryable=True)
            except httpx.DecodingError:
                # An answer came (e.g. 200 with Content-Encoding: gzip) but its body cannot be decoded.
                # The prompt reached the API, so it is not sent again: this request failed for good.
                raise self._error("a response body that cannot be decoded (Content-Encoding)", BAD_RESPONSE,
                                  attempt) from None
            except httpx.TransportError as exc:  # proxy or protocol errors of our own side: not retried
                raise self._error(f"transport error ({type(exc).__name__})", NETWORK, attempt) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._answer(response, attempt)
                error_type = provider_error_type(response)
                shown = f"HTTP {status}" + (f" ({error_type})" if error_type else "")
                if not is_retryable_status(status):
                    raise self._error(f"{shown}, not retried", HTTP_STATUS, attempt, status=status,
                                      error_type=error_type)
                failure = self._error(shown, HTTP_STATUS, attempt, status=status, error_type=error_type,
                                      retryable=True)
                wait = parse_retry_after(response.headers)
                if wait is not None and wait > settings.max_retry_after_s:
                    raise self._error(f"{shown}; the server asked to wait {wait:.0f}s, more than "
                                      f"max_retry_after_s={settings.max_retry_after_s:g}",
                                      RETRY_AFTER_TOO_LONG, attempt, status=status, error_type=error_type,
                                      retryable=True)
            if attempt == total:
                raise failure
            wait = policy.delay(attempt, wait)
            log.warning("%s: %s; retry %d/%d in %.2fs", self._where, failure.reason, attempt,
                        settings.max_retries, wait)
            policy.pause(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings.name!r}, model={self.model!r}, url={self.url!r})"

    # ---- internals ----------------------------------------------------------------------------------
    def _try(self, prompt: Prompt) -> Answer | LlmError:
        try:
            return self.complete(prompt)
        except LlmError as exc:
            return exc

    def _answer(self, response: httpx.Response, attempt: int) -> Answer:
        try:
            text, usage, model = self.parse_answer(response.json())
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            # The body is not repeated in the error: it is the model's answer to a (sanitized) prompt.
            raise self._error(f"HTTP {response.status_code} with a body that is not a {self.provider} answer",
                              BAD_RESPONSE, attempt, status=response.status_code) from None
        return Answer(text=text, model=model or self.model, usage=usage, attempts=attempt)

    def _error(self, reason: str, code: str, attempts: int, *, status: int | None = None,
               error_type: str | None = None, retryable: bool = False) -> LlmError:
        tail = f" after {attempts} attempt(s)" if attempts > 1 else ""
        return LlmError(f"{self._where}: {reason}{tail}", code=code, status=status, error_type=error_type,
                        attempts=attempts, retryable=retryable, reason=reason)


def _kind(exc: httpx.TimeoutException) -> str:
    return {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(exc), "request")


def non_negative_int(value: Any) -> int:
    """A token count from a usage object: a non-negative int, else 0 (providers omit fields)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
