"""An attacker's review of the proxy's Responses, embeddings and Anthropic Messages fronts and of the answer
scan, against a real loopback upstream that records every byte it receives and answers as scripted.

Planted values (a name, an e-mail address, a phone, a card number, an IBAN) are written into requests in
disguise (zero-width and other invisible characters, full-width and other NFKC-different forms); the
recorded bytes, once normalised the way a reader (or a model) would read them, must hold none of them.
Answers carry values a model invents, in every field an answer can have; in ``redact`` mode none reaches
the client, in ``flag`` mode they are counted and never logged. Upstream failures, forged placeholders,
malformed requests and the access guard are tried on the new endpoints too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from redactline.connectors.proxy import ProxyConfig, ProxyThread, Redactor, build_app
from redactline.policies import Policy, load_policy
from redactline.policies.answer_scan import scan_answers

KEY = "sk-attack-upstream"
TOKEN = "local-attack-token-51c2"
NAME, EMAIL = "Zebulon Quartermain", "zebulon.q@rtleak.com"
PHONE, CARD = "+1 415 555 0132", "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
PLANTED = [NAME, "Zebulon", "Quartermain", EMAIL, "zebulon.q", "rtleak", PHONE, "555 0132", CARD,
           CARD.replace(" ", ""), IBAN, IBAN.replace(" ", "")]
INVENTED_EMAIL, INVENTED_CARD = "carl.jensen@fabricated-mail.com", "5555 5555 5555 4444"
INVENTED = [INVENTED_EMAIL, "carl.jensen", INVENTED_CARD, INVENTED_CARD.replace(" ", "")]
MARKER = "upstream-said-this-4c1d"  # text only the upstream writes (error bodies)

POLICY = """\
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: proxy-attacks, version: 1.0.0}
transforms:
  default: replace
  entities: {PERSON: pseudonym, EMAIL_ADDRESS: pseudonym, PHONE_NUMBER: pseudonym}
"""


def canonical(text: str) -> str:
    """``text`` as read: NFKC, invisible format characters removed."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")


def found(values: list[str], text: str) -> list[str]:
    readable = canonical(text)
    return [v for v in values if v in text or v in readable]


def wide(text: str) -> str:
    """Full-width forms of ASCII letters, digits and punctuation (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


ZW = "\u200b"  # zero-width space
DISGUISED = [
    f"Zebu{ZW}lon Quarter\u00admain",  # zero-width space, soft hyphen
    wide(NAME),
    EMAIL.replace("@", f"{ZW}@"),
    EMAIL.replace("@", "\uff20"),  # full-width commercial at
    CARD.replace(" ", ZW),
    wide(CARD),
    wide(PHONE),
    IBAN.replace(" ", "\u00a0"),  # no-break spaces
    f"{EMAIL}\u202e",  # a bidi override glued to it
    f"\U000e0041{NAME}",  # a tag character (invisible)
]
PROSE = "Please file this for " + ", ".join(DISGUISED) + "."


# --- the upstream -----------------------------------------------------------------------------------------

Reply = Callable[[str, Any], tuple[int, dict[str, str], bytes]]


class Upstream:
    """Records every request (request line, headers, body) and answers with ``reply(path, body)``."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.bodies: list[Any] = []
        self.reply: Reply = self.echo
        self.delay = 0.0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                data = self.rfile.read(int(self.headers.get("content-length") or 0))
                upstream.raw.append(f"{self.requestline}\r\n{self.headers}".encode() + data)
                body = json.loads(data)
                upstream.bodies.append(body)
                status, headers, payload = upstream.reply(self.path, body)
                if upstream.delay:
                    time.sleep(upstream.delay)
                self.send_response(status)
                for name, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the proxy gave up (timeout test)
                    self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self, reply: Reply | None = None) -> None:
        self.raw.clear()
        self.bodies.clear()
        self.reply = reply or self.echo
        self.delay = 0.0

    @staticmethod
    def echo(path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
        """A well-formed answer of the path's API quoting the request's placeholders."""
        import re

        text = "Noted: " + " ".join(dict.fromkeys(re.findall(r"<[A-Z_]+(?:_\d+)?>", json.dumps(body))))
        return 200, {}, json.dumps(answer_for(path, text)).encode()

    def wire(self) -> str:
        return b"\n".join(self.raw).decode("utf-8")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def answer_for(path: str, text: str) -> Any:
    if path.endswith("/responses"):
        return {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "m",
                "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}]}
    if path.endswith("/embeddings"):
        return {"object": "list", "model": "e", "data": [{"object": "embedding", "index": 0,
                                                          "embedding": [0.5, 0.25]}]}
    if path.endswith("/messages"):
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("proxy-attacks") / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def redactor(policy: Policy) -> Redactor:
    return Redactor.from_engine(policy.engine())


def serve(upstream: Upstream, redactor: Redactor, **options: Any) -> ProxyThread:
    base = upstream.url if options.get("upstream_format") == "anthropic" else f"{upstream.url}/v1"
    config = ProxyConfig(**{"upstream": base, "api_key": KEY, "timeout_s": 10, **options})
    return ProxyThread(build_app(config, redactor))


@pytest.fixture(scope="module")
def openai_proxy(upstream: Upstream, redactor: Redactor) -> Iterator[ProxyThread]:
    with serve(upstream, redactor) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def redacting(upstream: Upstream, redactor: Redactor) -> Iterator[ProxyThread]:
    with serve(upstream, redactor, scan_answers="redact") as proxy:
        yield proxy


@pytest.fixture(scope="module")
def flagging(upstream: Upstream, redactor: Redactor) -> Iterator[ProxyThread]:
    with serve(upstream, redactor, scan_answers="flag") as proxy:
        yield proxy


@pytest.fixture(scope="module")
def anthropic_proxy(upstream: Upstream, redactor: Redactor) -> Iterator[ProxyThread]:
    with serve(upstream, redactor, upstream_format="anthropic", scan_answers="redact",
               local_token=TOKEN) as proxy:
        yield proxy


@pytest.fixture
def clean(upstream: Upstream, caplog: pytest.LogCaptureFixture) -> Iterator[Upstream]:
    """A fresh upstream record; afterwards, no planted or invented value in anything logged."""
    upstream.reset()
    caplog.set_level(logging.DEBUG)
    yield upstream
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert found(PLANTED + INVENTED + [MARKER], logged) == [], "a value reached the logs"


def post(proxy: ProxyThread, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    base = proxy.base_url.removesuffix("/v1")
    return httpx.post(f"{base}{path}", json=body, timeout=30, **kwargs)


ANTHROPIC_AUTH = {"authorization": f"Bearer {TOKEN}"}


# --- requests: values in disguise are redacted before they leave -----------------------------------------

DISGUISED_REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": PROSE}],
                                      "stop": [DISGUISED[2]]}),
    "responses": ("/v1/responses", {"model": "m", "instructions": f"You assist {DISGUISED[0]}.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": PROSE}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": DISGUISED[5], "annotations": []},
                                          {"type": "refusal", "refusal": DISGUISED[3]}]}],
        "metadata": {"who": NAME}, "user": EMAIL}),
    "embeddings": ("/v1/embeddings", {"model": "e", "input": [PROSE, *DISGUISED], "dimensions": 2,
                                      "encoding_format": "float", "user": EMAIL}),
}


@pytest.mark.parametrize("case", list(DISGUISED_REQUESTS))
def test_disguised_values_are_redacted_before_they_leave(case: str, openai_proxy: ProxyThread,
                                                         clean: Upstream) -> None:
    path, body = DISGUISED_REQUESTS[case]
    response = post(openai_proxy, path, body)
    assert response.status_code == 200, response.text
    assert clean.raw, "nothing reached the upstream"
    assert found(PLANTED, clean.wire()) == [], "a disguised value reached the upstream"


def test_anthropic_system_blocks_and_stop_sequences_in_disguise(anthropic_proxy: ProxyThread,
                                                                clean: Upstream) -> None:
    body = {"model": "claude-x", "max_tokens": 32, "metadata": {"user_id": EMAIL},
            "system": [{"type": "text", "text": f"You help {DISGUISED[1]}."}],
            "stop_sequences": [DISGUISED[3], DISGUISED[4]],
            "messages": [{"role": "user", "content": [{"type": "text", "text": PROSE}]},
                         {"role": "assistant", "content": DISGUISED[6]}]}
    response = post(anthropic_proxy, "/v1/messages", body, headers=ANTHROPIC_AUTH)
    assert response.status_code == 200, response.text
    assert found(PLANTED, clean.wire()) == []
    assert "user_id" not in clean.wire() and TOKEN not in clean.wire()


@pytest.mark.parametrize("model", [CARD.replace(" ", ZW), wide(EMAIL), f"{EMAIL.replace('@', ZW + '@')}"])
def test_disguised_value_in_an_identifier_is_refused(model: str, openai_proxy: ProxyThread,
                                                     clean: Upstream) -> None:
    response = post(openai_proxy, "/v1/responses", {"model": model, "input": "hi"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "identifier_has_entity"
    assert found(PLANTED, response.text) == [] and clean.raw == []


# --- malformed requests: 400 naming the field, never a 500 ----------------------------------------------


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/responses", {"model": "m", "input": [{"role": "user", "content": [{"type": ["input_text"],
                                                                             "text": NAME}]}]}),
    ("/v1/responses", {"model": "m", "input": [{"type": {"x": 1}, "role": "user", "content": NAME}]}),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": [
        {"type": {"t": "text"}, "text": NAME}]}]}),
    ("/v1/embeddings", {"model": "e", "input": [[[[EMAIL]]]]}),
])
def test_malformed_request_is_refused_not_crashed(path: str, body: Any, openai_proxy: ProxyThread,
                                                  clean: Upstream) -> None:
    response = post(openai_proxy, path, body)
    assert response.status_code == 400, response.text
    assert found(PLANTED, response.text) == [] and clean.raw == []


def test_deeply_nested_request_json_is_refused_not_crashed(openai_proxy: ProxyThread,
                                                           clean: Upstream) -> None:
    nested = '{"model": "m", "input": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = httpx.post(f"{openai_proxy.base_url}/responses", content=nested.encode(), timeout=30,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert clean.raw == []


# --- who may call the new endpoints ------------------------------------------------------------------------

NEW_ENDPOINTS = [("/v1/responses", {"model": "m", "input": f"hi {NAME}"}),
                 ("/responses", {"model": "m", "input": f"hi {NAME}"}),
                 ("/v1/embeddings", {"model": "e", "input": f"hi {NAME}"}),
                 ("/embeddings", {"model": "e", "input": f"hi {NAME}"})]


@pytest.mark.parametrize(("path", "body"), NEW_ENDPOINTS)
def test_new_endpoints_have_the_access_guard(path: str, body: dict[str, Any], openai_proxy: ProxyThread,
                                             clean: Upstream) -> None:
    port = openai_proxy.port
    attempts = [({"host": "evil.example"}, 403), ({"host": f"attacker.test:{port}"}, 403),
                ({"origin": "https://evil.example"}, 403), ({"content-type": "text/plain"}, 403)]
    for headers, status in attempts:
        response = httpx.post(f"http://127.0.0.1:{port}{path}", content=json.dumps(body).encode(),
                              headers={"content-type": "application/json", **headers}, timeout=30)
        assert response.status_code == status, (headers, response.text)
    assert clean.raw == []


def test_anthropic_front_has_the_access_guard_and_token(anthropic_proxy: ProxyThread,
                                                        clean: Upstream) -> None:
    body = {"model": "c", "max_tokens": 8, "messages": [{"role": "user", "content": f"hi {NAME}"}]}
    for headers, status in [({}, 401), ({"x-api-key": "anything"}, 401),
                            ({"authorization": "Bearer no"}, 401),
                            ({**ANTHROPIC_AUTH, "origin": "null"}, 403),
                            ({**ANTHROPIC_AUTH, "host": "evil.example"}, 403)]:
        assert post(anthropic_proxy, "/v1/messages", body, headers=headers).status_code == status, headers
    assert clean.raw == []
    assert post(anthropic_proxy, "/v1/messages", body, headers=ANTHROPIC_AUTH).status_code == 200
    assert TOKEN not in clean.wire() and found(PLANTED, clean.wire()) == []


def test_client_headers_do_not_reach_the_upstream(openai_proxy: ProxyThread, clean: Upstream) -> None:
    headers = {"accept": f"application/json, text/x-{EMAIL}", "x-note": NAME, "cookie": f"who={EMAIL}",
               "openai-organization": NAME, "user-agent": f"app ({EMAIL})"}
    response = post(openai_proxy, "/v1/responses", {"model": "m", "input": "hello"}, headers=headers)
    assert response.status_code == 200, response.text
    assert found(PLANTED, clean.wire()) == []


# --- upstream failures: never relayed, never logged --------------------------------------------------------


def failing(status: int, payload: bytes, headers: dict[str, str] | None = None) -> Reply:
    return lambda path, body: (status, headers or {}, payload)


ECHOING_ERROR = json.dumps({"error": {"message": f"{MARKER}: bad prompt <PERSON_1> <EMAIL_ADDRESS_1>",
                                      "type": "invalid_request_error"}}).encode()
FAILURES: dict[str, tuple[Reply, int]] = {
    "4xx echoing the prompt": (failing(400, ECHOING_ERROR), 400),
    "5xx echoing the prompt": (failing(503, ECHOING_ERROR), 502),
    "not JSON": (failing(200, f"<html>{MARKER} <PERSON_1></html>".encode()), 502),
    "a redirect": (failing(307, ECHOING_ERROR, {"location": "http://127.0.0.1:9/elsewhere"}), 502),
    "deeply nested JSON": (failing(200, b"[" * 100_000 + b"]" * 100_000), 502),
}


@pytest.mark.parametrize("case", list(FAILURES))
@pytest.mark.parametrize(("path", "body"), [NEW_ENDPOINTS[0], NEW_ENDPOINTS[2]])
def test_upstream_failure_relays_no_upstream_text(case: str, path: str, body: dict[str, Any],
                                                   openai_proxy: ProxyThread, clean: Upstream) -> None:
    reply, status = FAILURES[case]
    clean.reply = reply
    response = post(openai_proxy, path, {**body, "input": f"Tell {NAME} at {EMAIL}"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] == "redactline_upstream"
    assert MARKER not in response.text and "<PERSON_1>" not in response.text
    assert found(PLANTED, response.text) == [] and found(PLANTED, clean.wire()) == []


def test_upstream_timeout(upstream: Upstream, redactor: Redactor, clean: Upstream) -> None:
    clean.delay = 1.5
    with serve(upstream, redactor, timeout_s=0.5) as proxy:
        response = post(proxy, "/v1/embeddings", {"model": "e", "input": f"{NAME}"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_timeout"


# --- re-identification: only this request's placeholders, never a forged or foreign one -------------------


def test_forged_and_foreign_placeholders_stay_placeholders(openai_proxy: ProxyThread,
                                                           clean: Upstream) -> None:
    first = post(openai_proxy, "/v1/responses", {"model": "m", "input": f"Write to {NAME} at {EMAIL}."})
    assert NAME in first.text and EMAIL in first.text  # this request's own placeholders are restored
    forged = "<PERSON_1> <EMAIL_ADDRESS_1> <PERSON_99> < person_1 > <PHONE_NUMBER_1> <CREDIT_CARD>"
    clean.reply = lambda path, body: (200, {}, json.dumps(answer_for(path, forged)).encode())
    for path in ("/v1/responses", "/v1/chat/completions"):
        body = {"model": "m", "input": "hello"} if "responses" in path else \
            {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
        response = post(openai_proxy, path, body)
        assert response.status_code == 200
        assert found(PLANTED, response.text) == [], "another request's value was restored"
        assert "<PERSON_99>" in response.text and "<PERSON_1>" in response.text


# --- answer scan: every field a model writes ---------------------------------------------------------------

INVENTION = f"Also write to {INVENTED_EMAIL}, card <Card {INVENTED_CARD}>."


def chat_answer(own: str) -> dict[str, Any]:
    arguments = json.dumps({"to": INVENTED_EMAIL, "card": int(INVENTED_CARD.replace(" ", "")),
                            INVENTED_EMAIL: own, "note": INVENTION})
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "note": INVENTION, "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": f"{own} {INVENTION}", "refusal": INVENTION,
                             "tool_calls": [{"id": "call_1", "type": "function",
                                             "function": {"name": "send", "arguments": arguments}}]}},
                {"index": 1, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": [{"type": "text", "text": INVENTION}]}}]}


def responses_answer(own: str) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "m",
            "output_text": f"{own} {INVENTION}", "metadata": {"note": INVENTION}, "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": INVENTION}]},
                {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [
                    {"type": "output_text", "text": f"{own} {INVENTION}", "annotations": [
                        {"type": "url_citation", "title": INVENTION, "url": "https://example.org/"}]},
                    {"type": "refusal", "refusal": INVENTION}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "send",
                 "arguments": json.dumps({"to": INVENTED_EMAIL})}]}


def messages_answer(own: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "c", "stop_reason": "end_turn",
            "content": [{"type": "thinking", "thinking": INVENTION, "signature": "c2lnbmF0dXJl"},
                        {"type": "text", "text": f"{own} {INVENTION}"},
                        {"type": "tool_use", "id": "toolu_1", "name": "send",
                         "input": {"to": INVENTED_EMAIL, "card": INVENTED_CARD}}]}


SCANNED: dict[str, tuple[str, dict[str, Any], Callable[[str], Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": f"To {NAME}"}]},
             chat_answer),
    "responses": ("/v1/responses", {"model": "m", "input": f"To {NAME}"}, responses_answer),
    "messages": ("/v1/messages", {"model": "c", "max_tokens": 8,
                                  "messages": [{"role": "user", "content": f"To {NAME}"}]}, messages_answer),
}


@pytest.mark.parametrize("case", list(SCANNED))
def test_redact_mode_leaves_no_invented_value_in_any_answer_field(
        case: str, redacting: ProxyThread, anthropic_proxy: ProxyThread, clean: Upstream) -> None:
    path, body, answer = SCANNED[case]
    clean.reply = lambda p, b: (200, {}, json.dumps(answer("<PERSON_1>")).encode())
    proxy = anthropic_proxy if case == "messages" else redacting
    response = post(proxy, path, body, headers=ANTHROPIC_AUTH if case == "messages" else None)
    assert response.status_code == 200, response.text
    assert found(INVENTED, response.text) == [], "an invented value reached the client"
    assert NAME in response.text  # the client's own value came back
    assert "EMAIL_ADDRESS" in response.headers["x-redactline-answer-entities"]


def test_redact_mode_scans_an_answer_that_is_not_an_object(redacting: ProxyThread, clean: Upstream) -> None:
    clean.reply = lambda p, b: (200, {}, json.dumps([INVENTION, {"x": INVENTION}]).encode())
    response = post(redacting, "/v1/responses", {"model": "m", "input": "hi"})
    assert found(INVENTED, response.text) == []


def test_redact_mode_drops_logprobs(redacting: ProxyThread, clean: Upstream) -> None:
    tokens = [{"token": piece, "logprob": -0.1, "bytes": list(piece.encode()), "top_logprobs": []}
              for piece in ("carl", ".jen", "sen@", "fabricated", "-mail", ".com")]
    answer = chat_answer("hi")
    answer["choices"][0]["logprobs"] = {"content": tokens, "refusal": None}
    clean.reply = lambda p, b: (200, {}, json.dumps(answer).encode())
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    refused = post(redacting, "/v1/chat/completions", {**chat, "logprobs": True, "top_logprobs": 3})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unsupported_field"
    refused = post(redacting, "/v1/responses", {"model": "m", "input": "hi", "top_logprobs": 3})
    assert refused.status_code == 400
    assert clean.raw == []
    response = post(redacting, "/v1/chat/completions", chat)  # sent unasked: dropped all the same
    assert response.status_code == 200 and "jen" not in response.text and "fabricated" not in response.text


def test_flag_mode_counts_every_field_and_never_logs_a_value(flagging: ProxyThread, clean: Upstream,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    clean.reply = lambda p, b: (200, {}, json.dumps(responses_answer("<PERSON_1>")).encode())
    response = post(flagging, "/v1/responses", {"model": "m", "input": f"To {NAME}"})
    assert response.status_code == 200
    assert INVENTED_EMAIL in response.text  # flagged, not changed
    counts = dict(item.split("=") for item in response.headers["x-redactline-answer-entities"].split(","))
    # output_text, message text, refusal, summary, annotation title, metadata note, function_call arguments
    assert int(counts["EMAIL_ADDRESS"]) >= 7 and int(counts["CREDIT_CARD"]) >= 6
    assert any("EMAIL_ADDRESS" in r.getMessage() for r in caplog.records)


def test_scan_skips_only_real_placeholders(redactor: Redactor) -> None:
    engine = redactor.engine
    text = f"Dear <PERSON_1>, <Card {INVENTED_CARD}> or <Call 212 555 0199> or <{INVENTED_EMAIL}>."
    scan = scan_answers(engine, [text], "redact", known=lambda span: span == "<PERSON_1>")
    assert "<PERSON_1>" in scan.texts[0]
    assert found([*INVENTED, "212 555 0199"], scan.texts[0]) == []
    assert scan_answers(engine, [wide(INVENTED_EMAIL)], "redact").texts == ["[EMAIL_ADDRESS]"]


def test_a_finding_overlapping_a_placeholder_keeps_its_part_outside_it() -> None:
    from presidio_analyzer import RecognizerResult

    from redactline.policies.answer_scan import _spans

    text = "<PERSON_1> Vandersloot wrote"
    spans = _spans(text, [RecognizerResult("PERSON", 0, 22, 0.85)], lambda span: span == "<PERSON_1>")
    assert [(text[s:e], kind) for s, e, kind in spans] == [("Vandersloot", "PERSON")]
    assert _spans("<PERSON_1>.", [RecognizerResult("PERSON", 0, 11, 0.85)], lambda span: True) == []


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/responses", {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": f"{NAME} " * 30_000}]}]}),
    ("/v1/embeddings", {"model": "e", "input": [f"{EMAIL} "] * 20_000}),
])
def test_very_long_input_is_refused_unsent(path: str, body: dict[str, Any], openai_proxy: ProxyThread,
                                           clean: Upstream) -> None:
    response = post(openai_proxy, path, body)
    assert response.status_code == 413 and response.json()["error"]["code"] == "oversize"
    assert found(PLANTED, response.text) == [] and clean.raw == []
