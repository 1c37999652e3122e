"""ReadHttpApi and its fetch/pagination functions against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
import uuid
from dataclasses import replace
from typing import Any

import apache_beam as beam
import pytest

from redactline.connectors.http_api import (
    HttpApiConfig,
    HttpApiError,
    ReadHttpApi,
    iter_pages,
    make_client,
    safe_url,
)
from redactline.connectors.records import PARSE_ERROR, SOURCE_ERROR, Record, Rejected
from tests.support.beam import pipeline

TOKEN = "Bearer tok-Zq81-very-secret"

_OUT: dict[str, list[Any]] = {}
_LOCK = threading.Lock()


def _collect(element: Any, key: str) -> None:
    with _LOCK:
        _OUT.setdefault(key, []).append(element)


def run_read(url: str, **kwargs: Any) -> tuple[list[Record], list[Rejected]]:
    """Run ReadHttpApi on the test runner; return (records, rejected)."""
    run = uuid.uuid4().hex
    with pipeline() as p:
        out = p | ReadHttpApi(url, **kwargs)
        out["records"] | "CollectRecords" >> beam.Map(_collect, f"{run}:records")
        out["rejected"] | "CollectRejected" >> beam.Map(_collect, f"{run}:rejected")
    return _OUT.pop(f"{run}:records", []), _OUT.pop(f"{run}:rejected", [])


def pages_of(url: str, slept: list[float] | None = None, **kwargs: Any) -> list[Any]:
    """Walk pages with the plain functions and the real client factory (no Beam); retries do not wait,
    their delays are appended to ``slept``."""
    kwargs.setdefault("backoff", 0.01)
    config = HttpApiConfig(url=url, **kwargs)
    record = (slept if slept is not None else []).append
    with make_client(config) as client:
        return list(iter_pages(client, config, retry=replace(config.retry_policy(), sleep=record)))


ITEMS = [{"id": i, "name": f"person {i}"} for i in range(1, 8)]


def cursor_handler(seen: Any, _i: int) -> tuple:
    start = int(seen.query.get("cursor", ["c0"])[0][1:])
    chunk = ITEMS[start : start + 3]
    nxt = f"c{start + 3}" if start + 3 < len(ITEMS) else None
    return 200, {"data": {"items": chunk}, "meta": {"next": nxt}}


def page_handler(seen: Any, _i: int) -> tuple:
    page = int(seen.query["page"][0])
    return 200, {"items": ITEMS[(page - 1) * 3 : page * 3]}


def link_handler(seen: Any, _i: int) -> tuple:
    n = int(seen.query.get("p", ["1"])[0])
    links = [f'</items?p={n - 1}>; rel="prev"'] if n > 1 else []
    if n < 3:  # page 2's next link is absolute, page 1's relative
        target = f"/items?p={n + 1}" if n == 1 else f"{seen.headers['host']}/items?p={n + 1}"
        target = target if target.startswith("/") else f"http://{target}"
        links.append(f'<{target}>; rel="next"')
    headers = {"Link": ", ".join(links)} if links else {}
    return 200, ITEMS[(n - 1) * 3 : n * 3], headers


# --------------------------------------------------------------------------- pagination styles


def test_cursor_pagination(http_server: Any) -> None:
    http_server.handler = cursor_handler
    records, rejected = run_read(
        http_server.url(), pagination="cursor", items_path="data.items", next_cursor_path="meta.next",
        jurisdiction="EU",
    )
    assert rejected == []
    assert sorted(r.fields["id"] for r in records) == [1, 2, 3, 4, 5, 6, 7]
    refs = {r.fields["id"]: r.meta.ref for r in records}
    assert refs[1] == "page 1 item 1" and refs[4] == "page 2 item 1" and refs[7] == "page 3 item 1"
    assert {r.meta.source for r in records} == {http_server.url()}
    assert {r.meta.jurisdiction for r in records} == {"EU"}
    assert [s.query.get("cursor") for s in http_server.requests] == [None, ["c3"], ["c6"]]


def test_page_number_pagination_stops_on_empty_page(http_server: Any) -> None:
    http_server.handler = page_handler
    records, rejected = run_read(http_server.url("/items?status=open"), pagination="page")
    assert rejected == []
    assert sorted(r.fields["id"] for r in records) == [1, 2, 3, 4, 5, 6, 7]
    assert [s.query["page"] for s in http_server.requests] == [["1"], ["2"], ["3"], ["4"]]
    assert all(s.query["status"] == ["open"] for s in http_server.requests)  # the URL's own query is kept
    assert {r.meta.source for r in records} == {http_server.url("/items?status=***")}


def test_link_header_pagination(http_server: Any) -> None:
    http_server.handler = link_handler
    records, rejected = run_read(http_server.url("/items"), pagination="link", items_path="")
    assert rejected == []
    assert sorted(r.fields["id"] for r in records) == [1, 2, 3, 4, 5, 6, 7]
    assert [s.query.get("p") for s in http_server.requests] == [None, ["2"], ["3"]]


def test_max_pages_caps_the_walk(http_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    http_server.handler = page_handler
    pages = pages_of(http_server.url(), pagination="page", max_pages=2)
    assert [p.number for p in pages] == [1, 2]
    assert len(http_server.requests) == 2
    assert "max_pages=2" in caplog.text


def test_repeated_cursor_is_an_error_not_a_loop(http_server: Any) -> None:
    http_server.handler = lambda seen, i: (200, {"items": [{"i": i}], "next_cursor": "same"})
    with pytest.raises(HttpApiError, match="repeated"):
        pages_of(http_server.url(), pagination="cursor")
    assert len(http_server.requests) == 2


def test_next_link_to_another_origin_is_refused(http_server: Any) -> None:
    http_server.handler = lambda seen, i: (200, [{"i": i}], {"Link": '<http://192.0.2.1/steal>; rel="next"'})
    with pytest.raises(HttpApiError, match="leaves the origin"):
        pages_of(http_server.url(), pagination="link", items_path="")
    assert len(http_server.requests) == 1


# --------------------------------------------------------------------------- retries


def test_429_retry_after_is_honoured(http_server: Any) -> None:
    def handler(seen: Any, i: int) -> tuple:
        if i == 0:
            return 429, {"error": "slow down"}, {"Retry-After": "1"}
        return 200, {"items": ITEMS[:2]}

    http_server.handler = handler
    slept: list[float] = []
    pages = pages_of(http_server.url(), slept, pagination="cursor", backoff=0.01)
    assert [len(p.items) for p in pages] == [2]
    assert len(http_server.requests) == 2
    assert slept == [1.0]  # backoff alone would have waited at most 0.01 s


def test_retry_after_is_capped(http_server: Any) -> None:
    def handler(seen: Any, i: int) -> tuple:
        return (503, "busy", {"Retry-After": "3600"}) if i == 0 else (200, {"items": []})

    http_server.handler = handler
    slept: list[float] = []
    pages = pages_of(http_server.url(), slept, pagination="cursor", max_retry_after=0.2)
    assert len(pages) == 1 and len(http_server.requests) == 2
    assert slept == [0.2]


def test_500_twice_then_success(http_server: Any) -> None:
    http_server.handler = lambda seen, i: (500, "oops") if i < 2 else (200, {"items": ITEMS[:3]})
    records, _ = run_read(http_server.url(), pagination="cursor", backoff=0.01)
    assert sorted(r.fields["id"] for r in records) == [1, 2, 3]
    assert len(http_server.requests) == 3


def test_persistent_503_fails_after_max_retries(http_server: Any) -> None:
    http_server.handler = lambda seen, i: (503, "down")
    with pytest.raises(HttpApiError, match=r"HTTP 503 after 3 attempt\(s\)") as info:
        pages_of(http_server.url(), pagination="page", max_retries=2)
    assert info.value.status == 503
    assert len(http_server.requests) == 3


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpApiError, match=r"ConnectError after 3 attempt\(s\)"):
        pages_of(f"http://127.0.0.1:{port}/items", pagination="page", max_retries=2)


def test_read_timeout_is_explicit_and_retried(http_server: Any) -> None:
    def handler(seen: Any, i: int) -> tuple:
        time.sleep(0.6)
        return 200, {"items": []}

    http_server.handler = handler
    started = time.monotonic()
    with pytest.raises(HttpApiError, match=r"ReadTimeout after 2 attempt\(s\)"):
        pages_of(http_server.url(), pagination="page", timeout=0.15, max_retries=1)
    assert time.monotonic() - started < 0.6 * 2  # neither attempt waited for the slow reply
    assert len(http_server.requests) == 2


def test_404_is_a_clear_error_without_query_secrets(http_server: Any) -> None:
    http_server.handler = lambda seen, i: (404, {"error": "nope"})
    url = http_server.url("/missing?api_key=QUERYSECRET&page=1")
    with pytest.raises(Exception, match="404") as info:
        run_read(url, pagination="page", backoff=0.01)
    text = str(info.value)
    assert "/missing?api_key=***&page=***" in text and http_server.base in text
    assert "QUERYSECRET" not in "".join(traceback.format_exception(info.value))
    assert len(http_server.requests) == 1  # not retried


# --------------------------------------------------------------------------- auth and secrets


def test_auth_header_from_env_reaches_server_and_never_logs(
    http_server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("RL_TEST_API_TOKEN", TOKEN)

    def handler(seen: Any, i: int) -> tuple:
        if i == 0:
            return 500, "retry me"
        return (200, {"items": [{"ok": True}]}) if i == 1 else (401, {"error": "bad token"})

    http_server.handler = handler
    records, _ = run_read(
        http_server.url(), pagination="page", auth_env="RL_TEST_API_TOKEN", auth_header="X-Api-Key",
        backoff=0.01, max_pages=1,
    )
    assert len(records) == 1
    assert [s.headers.get("x-api-key") for s in http_server.requests] == [TOKEN, TOKEN]
    with pytest.raises(Exception, match="401") as info:
        run_read(http_server.url(), pagination="page", auth_env="RL_TEST_API_TOKEN", auth_header="X-Api-Key")
    assert http_server.requests[-1].headers.get("x-api-key") == TOKEN
    assert "tok-Zq81" not in "".join(traceback.format_exception(info.value))
    assert "tok-Zq81" not in caplog.text
    assert "retry 1/5" in caplog.text  # the retry was logged, without the header


def test_missing_auth_env_names_the_variable(http_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RL_TEST_API_TOKEN_MISSING", raising=False)
    with pytest.raises(Exception, match="RL_TEST_API_TOKEN_MISSING"):
        run_read(http_server.url(), pagination="page", auth_env="RL_TEST_API_TOKEN_MISSING")
    assert http_server.requests == []


def test_safe_url_masks_userinfo_and_query_values() -> None:
    assert safe_url("https://user:pw@api.example:8443/v1/x?token=abc&page=2#frag") == (
        "https://api.example:8443/v1/x?token=***&page=***"
    )


# --------------------------------------------------------------------------- rejects


def test_non_object_items_are_rejected(http_server: Any) -> None:
    items = [{"id": 1}, "alice@example.com", [1], None, {"id": 5}]
    http_server.handler = lambda seen, i: (200, {"items": items})
    records, rejected = run_read(http_server.url(), pagination="cursor")
    assert sorted(r.fields["id"] for r in records) == [1, 5]
    assert sorted((r.reason, r.meta.ref, r.detail) for r in rejected) == [
        (PARSE_ERROR, "page 1 item 2", "item is a JSON string, not an object"),
        (PARSE_ERROR, "page 1 item 3", "item is a JSON array, not an object"),
        (PARSE_ERROR, "page 1 item 4", "item is a JSON null, not an object"),
    ]
    assert b"alice@example.com" in next(r.raw for r in rejected if r.meta.ref == "page 1 item 2")


def test_non_json_page_is_rejected_after_retries_and_stops(http_server: Any) -> None:
    def handler(seen: Any, i: int) -> tuple:
        page = int(seen.query["page"][0])
        if page == 2:
            return 200, "<html>maintenance</html>", {"Content-Type": "text/html"}
        return 200, {"items": ITEMS[(page - 1) * 3 : page * 3]}

    http_server.handler = handler
    records, rejected = run_read(http_server.url(), pagination="page", max_retries=2, backoff=0.01)
    assert sorted(r.fields["id"] for r in records) == [1, 2, 3]
    assert len(rejected) == 1
    bad = rejected[0]
    assert (bad.reason, bad.meta.ref) == (SOURCE_ERROR, "page 2")
    assert "not JSON after 3 attempt(s)" in bad.detail and "stopped" in bad.detail
    assert bad.raw == b"<html>maintenance</html>"
    assert [s.query["page"] for s in http_server.requests] == [["1"], ["2"], ["2"], ["2"]]  # no page 3


def test_page_without_items_array_is_rejected(http_server: Any) -> None:
    http_server.handler = lambda seen, i: (200, {"results": []})
    records, rejected = run_read(http_server.url(), pagination="cursor")
    assert records == []
    assert [(r.reason, r.meta.ref) for r in rejected] == [(SOURCE_ERROR, "page 1")]
    assert "items_path 'items'" in rejected[0].detail
