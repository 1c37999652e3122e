"""Paginated HTTP JSON API source.

The fetch logic is plain Python, usable and testable without Beam:

* ``fetch_json``  - one GET with retries (the shared :class:`~redactline.connectors.retry.RetryPolicy`:
  backoff with jitter on 429/5xx/connection errors and on a 2xx body that is not JSON, honouring
  ``Retry-After`` in seconds or as an HTTP date, capped);
* ``iter_pages``  - walks the pages (cursor, page-number or RFC 8288 ``Link: <...>; rel="next"``);
* ``page_outputs`` - turns one page into ``Record``s and ``Rejected``s.

``ReadHttpApi`` wraps them in a Beam PTransform. Pagination is inherently sequential (each request
needs the previous response), so a single DoFn instance fetches all pages of one URL; the records are
reshuffled afterwards so that downstream steps run in parallel.

Failure policy (fail closed, nothing silent):

* a non-retryable 4xx (or 3xx: redirects are not followed), or a retryable failure that persists past
  ``max_retries``, raises ``HttpApiError`` naming the URL (query values masked) and the status, and the
  run fails;
* a 2xx page whose body is still not JSON after the retries, or has no list at ``items_path``, becomes
  one ``Rejected(source_error)`` with ref ``page N`` and pagination **stops there** (the page that
  would tell us where to go next cannot be trusted); the run goes on with what was read, and the
  manifest counts the rejected page;
* an item that is not a JSON object becomes ``Rejected(parse_error)`` with ref ``page N item M``; an
  item nested deeper than ``MAX_DEPTH`` levels becomes ``Rejected(too_deep)`` (a page too deep to parse
  at all is a body that is not JSON). Numbers follow the JSON sources' rules (``records.JSON_NUMBERS``).

Secrets: the auth header value is read from the environment variable ``auth_env`` on the worker, when
the client is built; it is never stored in the pipeline, logged, or put in an error message. URLs in
logs, errors and ``RecordMeta.source`` lose any userinfo and have query values replaced by ``***``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import apache_beam as beam
import httpx

from redactline.connectors.limits import MAX_DEPTH, depth_of
from redactline.connectors.records import (
    JSON_NUMBERS,
    PARSE_ERROR,
    SOURCE_ERROR,
    TOO_DEEP,
    Record,
    RecordMeta,
    Rejected,
)
from redactline.connectors.retry import RetryPolicy, is_retryable_status, parse_retry_after

log = logging.getLogger(__name__)

Pagination = Literal["cursor", "page", "link"]


class HttpApiError(RuntimeError):
    """An HTTP source failure; the message names the safe URL and status, never headers or secrets."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpApiConfig:
    """Everything ``iter_pages`` needs; see ``ReadHttpApi`` for the meaning of each field."""

    url: str
    pagination: Pagination
    items_path: str = "items"
    cursor_param: str = "cursor"
    next_cursor_path: str = "next_cursor"
    page_param: str = "page"
    start_page: int = 1
    auth_env: str | None = None
    auth_header: str = "Authorization"
    timeout: float = 10.0
    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 60.0
    max_pages: int | None = None

    def retry_policy(self) -> RetryPolicy:
        """The shared retry policy with this source's limits (``max_retries`` retries after the first GET)."""
        return RetryPolicy(attempts=self.max_retries + 1, backoff=self.backoff, max_backoff=self.max_backoff,
                           max_retry_after=self.max_retry_after)


@dataclass(frozen=True)
class Page:
    """One fetched page: ``items`` when it parsed, else ``error`` (PII-free) and the ``raw`` body."""

    number: int  # 1-based position in the walk, whatever the pagination style
    items: list[Any] | None = None
    error: str | None = None
    raw: bytes = b""


# --------------------------------------------------------------------------- helpers


def safe_url(url: str | httpx.URL) -> str:
    """The URL without userinfo, with every query value replaced by ``***`` (names kept)."""
    parts = urlsplit(str(url))
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def dig(body: Any, path: str) -> Any:
    """Value at a dotted path in parsed JSON (``""`` = the body itself); None when absent."""
    value = body
    for part in filter(None, path.split(".")):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", type(None): "null"}.get(type(value), type(value).__name__)


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    u = httpx.URL(str(url))
    return u.scheme, u.host, u.port


def make_client(config: HttpApiConfig) -> httpx.Client:
    """One ``httpx.Client`` with explicit timeouts, no redirects, and the auth header from the environment."""
    headers = {"Accept": "application/json"}
    if config.auth_env:
        token = os.environ.get(config.auth_env)
        if not token:
            raise HttpApiError(f"environment variable {config.auth_env} (auth header value) is not set")
        headers[config.auth_header] = token
    return httpx.Client(headers=headers, timeout=httpx.Timeout(config.timeout), follow_redirects=False)


# --------------------------------------------------------------------------- fetching


_NOT_JSON = object()


def fetch_json(
    client: httpx.Client,
    url: str,
    params: dict[str, Any] | None,
    config: HttpApiConfig,
    *,
    retry: RetryPolicy | None = None,
) -> tuple[httpx.Response, Any]:
    """GET ``url`` and parse JSON, retrying 429/5xx, connection errors and non-JSON 2xx bodies.

    Waits ``Retry-After`` when the server sends one (capped at ``max_retry_after``), else the policy's
    jittered backoff (``retry``, default ``config.retry_policy()``). Returns ``(response, body)``; body
    is the ``_NOT_JSON`` sentinel when a 2xx body never parsed. Raises ``HttpApiError`` otherwise.
    """
    policy = retry or config.retry_policy()
    # Merge (not replace) the URL's own query with the pagination parameters.
    target = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
    shown = safe_url(target)
    attempts = policy.attempts
    for attempt in range(attempts):
        last = attempt == attempts - 1
        problem = ""
        response: httpx.Response | None = None
        try:
            response = client.get(target)
        except httpx.TransportError as exc:
            problem = type(exc).__name__  # class only: messages and exc.request are not ours to print
        if response is not None:
            status = response.status_code
            if 200 <= status < 300:
                try:
                    return response, response.json(**JSON_NUMBERS)
                except (ValueError, RecursionError):
                    if last:
                        return response, _NOT_JSON
                    problem = f"HTTP {status} body is not JSON"
            elif is_retryable_status(status):
                problem = f"HTTP {status}"
                if last:
                    message = f"GET {shown} failed: {problem} after {attempts} attempt(s)"
                    raise HttpApiError(message, status=status)
            else:
                reason = f"HTTP {status} {response.reason_phrase}".rstrip()
                raise HttpApiError(f"GET {shown} failed: {reason} (not retried)", status=status)
        elif last:
            raise HttpApiError(f"GET {shown} failed: {problem} after {attempts} attempt(s)")
        after = parse_retry_after(response.headers) if response is not None else None
        delay = policy.delay(attempt + 1, after)
        log.warning("GET %s: %s; retry %d/%d in %.2fs", shown, problem, attempt + 1, attempts - 1, delay)
        policy.pause(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _next_link(response: httpx.Response) -> str | None:
    for link in response.links.values():
        if "next" in link.get("rel", "").lower().split() and link.get("url"):
            return urljoin(str(response.url), link["url"])
    return None


def iter_pages(
    client: httpx.Client, config: HttpApiConfig, *, retry: RetryPolicy | None = None
) -> Iterator[Page]:
    """Yield the pages of ``config.url`` in order, following the configured pagination style.

    ``cursor``: the first request has no cursor; each next request sends ``cursor_param`` = the value at
    ``next_cursor_path``; stops when it is missing, null or empty. ``page``: ``page_param`` counts from
    ``start_page``; stops at the first page with no items. ``link``: follows ``Link: <url>; rel="next"``
    (same origin only, so the auth header never goes elsewhere); stops when there is none.
    A repeated cursor or link raises ``HttpApiError`` rather than looping forever. ``retry`` defaults to
    ``config.retry_policy()``.
    """
    retry = retry or config.retry_policy()
    url, params = config.url, None
    page_value, seen = config.start_page, set()
    origin = _origin(config.url)
    number = 0
    while config.max_pages is None or number < config.max_pages:
        number += 1
        if config.pagination == "page":
            params = {**(params or {}), config.page_param: page_value}
        response, body = fetch_json(client, url, params, config, retry=retry)
        if body is _NOT_JSON:
            detail = f"body is not JSON after {config.max_retries + 1} attempt(s); pagination stopped here"
            yield Page(number, error=detail, raw=response.content)
            return
        items = dig(body, config.items_path)
        if not isinstance(items, list):
            detail = f"no JSON array at items_path {config.items_path!r}; pagination stopped here"
            yield Page(number, error=detail, raw=response.content)
            return
        yield Page(number, items=items)

        if config.pagination == "page":
            if not items:
                return
            page_value += 1
        elif config.pagination == "cursor":
            cursor = dig(body, config.next_cursor_path)
            if cursor is None or cursor == "":
                return
            if not isinstance(cursor, str | int) or isinstance(cursor, bool):
                raise HttpApiError(f"{safe_url(url)}: cursor at {config.next_cursor_path!r} is no string/int")
            if cursor in seen:
                raise HttpApiError(f"{safe_url(url)}: the API repeated an earlier cursor (page {number})")
            seen.add(cursor)
            params = {config.cursor_param: cursor}
        else:
            nxt = _next_link(response)
            if nxt is None:
                return
            if _origin(nxt) != origin:
                raise HttpApiError(f"{safe_url(url)}: next link {safe_url(nxt)} leaves the origin; refused")
            if nxt in seen or nxt == config.url:
                raise HttpApiError(f"{safe_url(url)}: next link repeats an earlier page (page {number})")
            seen.add(nxt)
            url = nxt
    log.warning("%s: stopped after max_pages=%s pages", safe_url(config.url), config.max_pages)


def page_outputs(page: Page, source: str, jurisdiction: str | None = None) -> Iterator[Record | Rejected]:
    """One ``Record`` per JSON-object item (ref ``page N item M``); everything else a ``Rejected``."""
    if page.items is None:
        meta = RecordMeta(source=source, ref=f"page {page.number}", jurisdiction=jurisdiction)
        yield Rejected(SOURCE_ERROR, page.error or "unreadable page", meta, page.raw)
        return
    for m, item in enumerate(page.items, start=1):
        meta = RecordMeta(source=source, ref=f"page {page.number} item {m}", jurisdiction=jurisdiction)
        if isinstance(item, dict) and depth_of(item, MAX_DEPTH) > MAX_DEPTH:
            yield Rejected(TOO_DEEP, f"item nested deeper than {MAX_DEPTH} levels", meta, _item_bytes(item))
        elif isinstance(item, dict):
            yield Record(fields=item, meta=meta)
        else:
            raw = json.dumps(item).encode("utf-8")
            yield Rejected(PARSE_ERROR, f"item is a JSON {_json_kind(item)}, not an object", meta, raw)


def _item_bytes(item: Any) -> bytes:
    """A too-deep item as JSON text for the quarantine, written without recursion (``json.dumps``
    would recurse as deep as the item)."""
    out: list[str] = []
    stack: list[Any] = [item]
    while stack:
        top = stack.pop()
        if isinstance(top, _Close):
            out.append(top.text)
        elif isinstance(top, dict):
            out.append("{")
            stack.append(_Close("}"))
            for i, (key, value) in enumerate(reversed(list(top.items()))):
                stack.append(value)
                comma = "" if i == len(top) - 1 else ","
                stack.append(_Close(f"{comma}{json.dumps(key)}:"))
        elif isinstance(top, list):
            out.append("[")
            stack.append(_Close("]"))
            for i, value in enumerate(reversed(top)):
                stack.append(value)
                if i != len(top) - 1:
                    stack.append(_Close(","))
        else:
            out.append(json.dumps(top))
    return "".join(out).encode("utf-8")


@dataclass(frozen=True)
class _Close:
    text: str


# --------------------------------------------------------------------------- Beam


class _FetchAllPages(beam.DoFn):
    """Fetch every page of the URL it receives, sequentially, with one client per DoFn instance."""

    def __init__(self, config: HttpApiConfig, jurisdiction: str | None) -> None:
        self.config = config
        self.jurisdiction = jurisdiction
        self._client: httpx.Client | None = None

    def setup(self) -> None:
        self._client = make_client(self.config)

    def teardown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def process(self, url: str) -> Iterator[Any]:
        assert self._client is not None
        config = replace(self.config, url=url)
        source = safe_url(url)
        pages = items = 0
        for page in iter_pages(self._client, config):
            pages += 1
            for out in page_outputs(page, source, self.jurisdiction):
                items += 1
                yield out if isinstance(out, Record) else beam.pvalue.TaggedOutput("rejected", out)
        log.info("%s: %d page(s), %d output(s)", source, pages, items)


class ReadHttpApi(beam.PTransform):
    """Read a paginated JSON API; ``expand`` returns ``{"records": ..., "rejected": ...}``.

    ``items_path`` is a dotted path to the array of items in each page (``""``: the body is the array).
    ``pagination`` is ``"cursor"`` (``cursor_param``/``next_cursor_path``), ``"page"`` (``page_param``
    from ``start_page``, until an empty page) or ``"link"`` (RFC 8288 ``rel="next"``). ``auth_env`` names
    an environment variable whose value is sent as ``auth_header``. ``timeout`` applies to connect, read,
    write and pool waits. Up to ``max_retries`` retries with exponential ``backoff`` (full jitter) on 429,
    5xx, connection errors and non-JSON bodies; ``Retry-After`` is honoured up to ``max_retry_after`` seconds.
    ``max_pages`` caps the walk (a warning is logged when it stops early).

    Pages are fetched sequentially by one worker (each request depends on the previous response); the
    records are reshuffled afterwards so downstream steps are parallel. ``RecordMeta.source`` is the URL
    with query values masked; ``ref`` is ``page N item M`` (``page N`` for a rejected page), N counting
    fetched pages from 1. See the module docstring for the failure policy.
    """

    def __init__(
        self,
        url: str,
        *,
        items_path: str = "items",
        pagination: Pagination,
        cursor_param: str = "cursor",
        next_cursor_path: str = "next_cursor",
        page_param: str = "page",
        start_page: int = 1,
        auth_env: str | None = None,
        auth_header: str = "Authorization",
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_pages: int | None = None,
        max_retry_after: float = 60.0,
        jurisdiction: str | None = None,
    ) -> None:
        super().__init__()
        if pagination not in ("cursor", "page", "link"):
            raise ValueError("pagination must be 'cursor', 'page' or 'link'")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("url must be http:// or https://")
        if max_retries < 0 or timeout <= 0 or backoff < 0 or (max_pages is not None and max_pages < 1):
            raise ValueError("max_retries >= 0, timeout > 0, backoff >= 0 and max_pages >= 1 are required")
        self._config = HttpApiConfig(
            url=url, pagination=pagination, items_path=items_path, cursor_param=cursor_param,
            next_cursor_path=next_cursor_path, page_param=page_param, start_page=start_page,
            auth_env=auth_env, auth_header=auth_header, timeout=timeout, max_retries=max_retries,
            backoff=backoff, max_retry_after=max_retry_after, max_pages=max_pages,
        )
        self._jurisdiction = jurisdiction

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        out = (
            pbegin
            | "Url" >> beam.Create([self._config.url])
            | "FetchPages" >> beam.ParDo(_FetchAllPages(self._config, self._jurisdiction)).with_outputs(
                "rejected", main="records"
            )
        )
        records = out.records | "Distribute" >> beam.Reshuffle()
        return {"records": records, "rejected": out.rejected}
