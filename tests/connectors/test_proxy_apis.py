"""The proxy's Responses, embeddings and Anthropic Messages endpoints, and the answer scan, against a real
loopback upstream that records every byte it receives.

The upstream echoes the placeholders it received (so re-identification is exercised) and, when asked,
writes an e-mail address of its own into the answer (a model inventing personal data).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from redactline.connectors.proxy import ProxyConfig, ProxyThread, Redactor, build_app
from redactline.connectors.proxy_cli import build_config
from redactline.policies import Policy, load_policy

NAME, EMAIL = "Margaret Sullivan", "margaret.sullivan@example.org"
OTHER, PHONE = "Robert Whitfield", "+1 212 555 0147"
PII = [NAME, *NAME.split(), EMAIL, OTHER, *OTHER.split(), PHONE]
INVENTED = "carl.jensen@fabricated-mail.com"
VECTOR = [0.25, -1.5, 3.0]
KEY = "sk-upstream-key"
PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")

POLICY = """\
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: proxy-apis-test, version: 1.0.0}
transforms:
  default: replace
  entities: {PERSON: pseudonym, EMAIL_ADDRESS: pseudonym, PHONE_NUMBER: pseudonym}
destinations:
  claude: {kind: external_api, provider: anthropic, region: us-east-1, url: "URL", model: m,
           prompt: {template: "{text}"}, scan_answers: redact}
  gpt: {kind: external_api, provider: openai, region: us-east-1, url: "URL/v1", model: m,
        prompt: {template: "{text}"}}
  gpt-scan: {kind: external_api, provider: openai, region: us-east-1, url: "URL/v1", model: m,
             prompt: {template: "{text}"}, scan_answers: redact}
"""


class Upstream:
    """OpenAI (/v1/responses, /v1/embeddings, /v1/chat/completions) and Anthropic (/v1/messages) shapes."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []  # every request: request line, headers and body, as received
        self.paths: list[str] = []
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.invent = False
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                head = f"{self.requestline}\r\n{self.headers}".encode()
                upstream.raw.append(head + body)
                upstream.paths.append(self.path)
                upstream.bodies.append(json.loads(body))
                upstream.headers.append({k.lower(): v for k, v in self.headers.items()})
                payload = upstream.answer(self.path, json.loads(body))
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.raw.clear()
        self.paths.clear()
        self.bodies.clear()
        self.headers.clear()
        self.invent = False

    def text_for(self, body: Any) -> str:
        found = list(dict.fromkeys(PLACEHOLDER.findall(json.dumps(body))))
        text = f"Noted for {', '.join(found) or 'nobody'}."
        return text + (f" Contact {INVENTED} for details." if self.invent else "")

    def answer(self, path: str, body: Any) -> Any:
        text = self.text_for(body)
        if path == "/v1/responses":
            return {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
                    "model": body["model"], "instructions": body.get("instructions"),
                    "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                                "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                    "parallel_tool_calls": False, "tool_choice": "auto", "tools": [],
                    "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7,
                              "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens_details": {"reasoning_tokens": 0}}}
        if path == "/v1/embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            packed = base64.b64encode(struct.pack("<3f", *VECTOR)).decode()
            vector = packed if body.get("encoding_format") == "base64" else VECTOR
            return {"object": "list", "model": body["model"],
                    "data": [{"object": "embedding", "index": i, "embedding": vector}
                             for i in range(len(inputs))],
                    "usage": {"prompt_tokens": 2, "total_tokens": 2}}
        if path == "/v1/messages":
            return {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 3, "output_tokens": 4}}
        return {"id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}]}

    def assert_no_pii(self) -> None:
        assert self.raw, "nothing reached the upstream"
        wire = b"\n".join(self.raw).decode("utf-8")
        assert [value for value in PII if value in wire] == []


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def policy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("proxy-apis") / "policy.yaml"
    path.write_text(POLICY.replace("URL", upstream.url), encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def redactor(policy: Policy) -> Redactor:
    return Redactor.from_engine(policy.engine())


def running(upstream: Upstream, redactor: Redactor, **options: Any) -> ProxyThread:
    upstream.reset()
    base = upstream.url if options.get("upstream_format") == "anthropic" else f"{upstream.url}/v1"
    return ProxyThread(build_app(ProxyConfig(upstream=base, api_key=KEY, timeout_s=20, **options), redactor))


def sdk(proxy: ProxyThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.base_url, api_key="local", max_retries=0, timeout=30)


def test_responses_api_through_the_sdk(upstream: Upstream, redactor: Redactor) -> None:
    with running(upstream, redactor) as proxy:
        client = sdk(proxy)
        answer = client.responses.create(model="m", instructions=f"You assist {NAME}.",
                                         input=f"Write to {OTHER} at {EMAIL} or {PHONE}.")
        assert all(value in answer.output_text for value in (NAME, OTHER, EMAIL, PHONE))
        assert "<" not in answer.output_text
        assert answer.instructions == f"You assist {NAME}."  # the echoed instructions, restored
        sent = upstream.bodies[-1]
        assert re.fullmatch(r"You assist <PERSON_\d>\.", sent["instructions"])
        listed = client.responses.create(model="m", input=[
            {"role": "user", "content": [{"type": "input_text", "text": f"Hello, I am {NAME}."}]},
            {"role": "assistant", "content": f"Hi {NAME}."},
            {"type": "message", "role": "user", "content": f"Mail {EMAIL}."},
        ])
        assert listed.output_text == f"Noted for {NAME}, {EMAIL}."
    assert upstream.paths == ["/v1/responses", "/v1/responses"]
    upstream.assert_no_pii()


def test_embeddings_through_the_sdk(upstream: Upstream, redactor: Redactor) -> None:
    with running(upstream, redactor) as proxy:
        client = sdk(proxy)
        result = client.embeddings.create(model="e", input=[f"{NAME} lives here", f"call {PHONE}"])
        assert [item.embedding for item in result.data] == [VECTOR, VECTOR]  # the SDK's base64, decoded
        single = client.embeddings.create(model="e", input=f"{EMAIL}", encoding_format="float")
        assert single.data[0].embedding == VECTOR
    sent = upstream.bodies[0]
    assert sent["input"] == ["<PERSON_1> lives here", "call <PHONE_NUMBER_1>"]
    upstream.assert_no_pii()


@pytest.mark.parametrize(("path", "body", "code"), [
    ("/responses", {"model": "m", "input": "hi", "tools": []}, "unsupported_field"),
    ("/responses", {"model": "m", "input": "hi", "previous_response_id": "resp_0"}, "unsupported_field"),
    ("/responses", {"model": "m", "input": "hi", "stream": True}, "unsupported_field"),
    ("/responses", {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://x/y.png"}]}]}, "unsupported_content"),
    ("/responses", {"model": "m", "input": [{"type": "function_call_output", "output": NAME}]},
     "unsupported_content"),
    ("/responses", {"model": NAME, "input": "hi"}, "identifier_has_entity"),
    ("/embeddings", {"model": "e", "input": [[101, 2023]]}, "unsupported_content"),
    ("/embeddings", {"model": "e", "input": "x", "extra": NAME}, "unsupported_field"),
])
def test_fields_that_cannot_be_redacted_are_refused(upstream: Upstream, redactor: Redactor, path: str,
                                                    body: dict[str, Any], code: str) -> None:
    with running(upstream, redactor) as proxy:
        response = httpx.post(proxy.base_url + path, json=body, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert NAME not in response.text and upstream.raw == []


def test_anthropic_upstream_serves_messages(upstream: Upstream, redactor: Redactor, policy: Policy) -> None:
    args = argparse.Namespace(destination="claude", upstream=None, api_key_env=None, require_token_env=None,
                              jurisdiction=None, port=0, timeout=20.0, max_body_bytes=1 << 20,
                              upstream_format=None, scan_answers=None)
    config = build_config(args, policy)
    assert config.upstream_format == "anthropic" and config.scan_answers == "redact"
    with running(upstream, redactor, upstream_format="anthropic") as proxy:
        base = proxy.base_url.removesuffix("/v1")
        body = {"model": "claude-x", "max_tokens": 64, "system": f"You help {NAME}.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": f"Mail {EMAIL}"}]}]}
        response = httpx.post(f"{base}/v1/messages", json=body, headers={"x-api-key": "client"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["content"][0]["text"] == f"Noted for {NAME}, {EMAIL}."
        wrong = httpx.post(f"{base}/v1/chat/completions", json={"model": "m", "messages": []}, timeout=30)
        assert wrong.status_code == 404
        streamed = httpx.post(f"{base}/v1/messages", json={**body, "stream": True}, timeout=30)
        assert streamed.status_code == 400
    assert upstream.paths == ["/v1/messages"]
    seen = upstream.headers[0]
    assert seen["x-api-key"] == KEY and seen["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen
    upstream.assert_no_pii()


@pytest.mark.parametrize("mode", ["redact", "flag"])
def test_answers_are_scanned_for_personal_data_the_prompt_did_not_carry(
        upstream: Upstream, redactor: Redactor, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    with running(upstream, redactor, scan_answers=mode) as proxy:
        upstream.invent = True
        chat = httpx.post(proxy.base_url + "/chat/completions", timeout=30, json={
            "model": "m", "messages": [{"role": "user", "content": f"Please write to {NAME} at {EMAIL}."}]})
        upstream.invent = True
        response = sdk(proxy).responses.create(model="m", input=f"Write to {NAME}.")
        streamed = httpx.post(proxy.base_url + "/chat/completions", timeout=30, json={
            "model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    text = chat.json()["choices"][0]["message"]["content"]
    assert NAME in text and EMAIL in text and "<" not in text  # restored pseudonyms are not flagged
    assert chat.headers["x-redactline-answer-entities"] == "EMAIL_ADDRESS=1"
    if mode == "redact":
        assert INVENTED not in text and "[EMAIL_ADDRESS]" in text
        assert INVENTED not in response.output_text and NAME in response.output_text
    else:
        assert INVENTED in text and INVENTED in response.output_text
    assert streamed.status_code == 400  # a streamed answer cannot be scanned whole
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "EMAIL_ADDRESS=1" in logged and INVENTED not in logged and NAME not in logged
    upstream.assert_no_pii()


def test_scan_answers_is_out_of_the_canonical_form_when_absent(policy: Policy) -> None:
    claude = policy.destinations["claude"].model_dump()
    gpt = policy.destinations["gpt"].model_dump()
    assert claude["scan_answers"] == "redact" and "scan_answers" not in gpt


def test_prompt_command_scans_answers_too(upstream: Upstream, policy: Policy,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from redactline.pipelines.cli import main

    upstream.reset()
    upstream.invent = True
    code = main(["prompt", "--policy", str(policy.path), "--destination", "gpt-scan", "--json",
                 f"Please write to {NAME} at {EMAIL}."])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["answer_scan"] == {"mode": "redact", "found": {"EMAIL_ADDRESS": 1}}
    assert INVENTED not in out and "[EMAIL_ADDRESS]" in data["answer"] and EMAIL in data["answer"]
    assert "EMAIL_ADDRESS=1" in err and INVENTED not in err
    upstream.assert_no_pii()
