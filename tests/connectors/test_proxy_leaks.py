"""The proxy's closed request model, tried as an attacker would (issue 12): planted values in every field.

A real loopback upstream (the fake OpenAI server of ``tests/support/servers.py``, accepting every role and
answering with tool calls when the request has tools) records every request it receives. Each vector
either reaches the upstream with no planted value anywhere in the recorded bytes (path, headers, body), or
is refused by the proxy with 400/403 naming the field while the upstream receives nothing. Neither the
proxy's logs nor its error bodies ever carry a planted value. Then the access guard: Host, Origin,
Content-Type, local token.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from redactline.connectors.proxy import ProxyConfig, ProxyThread, Redactor, build_app, reidentify_arguments
from redactline.connectors.proxy_cli import build_config
from redactline.policies import Policy, load_policy
from redactline.policies.reidentify import Vault
from tests.support.servers import FakeOpenAI, mangle, placeholders_in

KEY = "sk-test-openai"
LOCAL_TOKEN = "local-proxy-token-7f3a"
NAME, EMAIL = "Zebulon Quartermain", "zebulon.q@rtleak.com"
CARD, PHONE = "4111 1111 1111 1111", "+1 415 555 0132"
PLANTED = [NAME, "Zebulon", "Quartermain", EMAIL, "rtleak", CARD, CARD.replace(" ", ""), PHONE, "555 0132"]

POLICY = """\
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: proxy-leaks, version: 1.0.0}
transforms:
  default: replace
  entities:
    PERSON: pseudonym
    EMAIL_ADDRESS: pseudonym
    PHONE_NUMBER: pseudonym
"""


class ToolUpstream(FakeOpenAI):
    """The fake OpenAI server, accepting any role (the proxy is under test, not the upstream) and answering
    a request that offers tools with a call to the first tool whose arguments quote the request's
    placeholders (one of them spelled differently, as models do), streamed in small pieces when asked."""

    def validate(self, body: Any, headers: dict[str, str]) -> str | None:
        return None if isinstance(body, dict) and isinstance(body.get("model"), str) else "model is required"

    @staticmethod
    def arguments(body: dict[str, Any]) -> str:
        found = placeholders_in(json.dumps(body))
        first, rest = (found[0], found[1:]) if found else ("nobody", [])
        return json.dumps({"to": first, "cc": rest, "note": f'say "hi" to {mangle(first, 0)}', "n": 3})

    def answer(self, body: Any, text: str, input_tokens: int, output_tokens: int, n: int) -> dict[str, Any]:
        out = super().answer(body, text, input_tokens, output_tokens, n)
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {"id": "call_1", "type": "function", "function": {"name": name,
                                                                       "arguments": self.arguments(body)}}
            out["choices"][0]["message"].update(content=None, tool_calls=[call])
            out["choices"][0]["finish_reason"] = "tool_calls"
        return out

    def _stream(self, h: BaseHTTPRequestHandler, body: Any, text: str, input_tokens: int,
                output_tokens: int, n: int) -> None:
        if not body.get("tools"):
            return super()._stream(h, body, text, input_tokens, output_tokens, n)
        base = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": 1,
                "model": body["model"]}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        arguments = self.arguments(body)
        name = body["tools"][0]["function"]["name"]
        events = [chunk({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]})]
        events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i:i + 5]}}]})
                   for i in range(0, len(arguments), 5)]  # placeholders cut across chunks
        events.append(chunk({}, "tool_calls"))
        payload = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)


@pytest.fixture(scope="module")
def upstream() -> Iterator[ToolUpstream]:
    with ToolUpstream(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("proxy-leaks") / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def redactor(policy: Policy) -> Redactor:
    return Redactor.from_engine(policy.engine())


def start(redactor: Redactor, upstream: ToolUpstream, **overrides: Any) -> ProxyThread:
    config = ProxyConfig(**{"upstream": upstream.base_url, "api_key": KEY, "timeout_s": 20, **overrides})
    return ProxyThread(build_app(config, redactor))


@pytest.fixture(scope="module")
def proxy(redactor: Redactor, upstream: ToolUpstream) -> Iterator[ProxyThread]:
    with start(redactor, upstream) as running:
        yield running


@pytest.fixture
def clean(upstream: ToolUpstream, caplog: pytest.LogCaptureFixture) -> Iterator[ToolUpstream]:
    """A fresh upstream record; afterwards, no planted value in anything the proxy side logged."""
    upstream.reset()
    caplog.set_level(logging.DEBUG)
    yield upstream
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert [v for v in PLANTED if v in logged] == [], "a planted value reached the logs"


def wire(upstream: ToolUpstream) -> str:
    """Every recorded byte of every request: path, headers and body."""
    return "\n".join(f"{seen.path}\n{json.dumps(seen.headers)}\n{seen.raw.decode('utf-8')}"
                     for seen in upstream.requests)


def assert_clean_wire(upstream: ToolUpstream) -> None:
    assert upstream.requests, "nothing reached the upstream"
    recorded = wire(upstream)
    assert [v for v in PLANTED if v in recorded] == [], "a planted value reached the upstream"


def post(proxy: ProxyThread, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{proxy.base_url}/chat/completions", json=body, timeout=30, **kwargs)


def user(text: str = f"Please write to {NAME} at {EMAIL}.") -> dict[str, Any]:
    return {"role": "user", "content": text}


def request(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-2024-08-06", "messages": list(messages) or [user()], **fields}


def schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": f"Contact card of {NAME}",
        "properties": {
            "email": {"type": "string", "description": f"The address, for example {EMAIL}",
                      "examples": [EMAIL, f"call {PHONE}"]},
            "card": {"type": ["string", "null"], "enum": [CARD, "none"], "default": CARD},
            "phone": {"type": "string", "const": PHONE, "pattern": "^\\+?[0-9 ]{7,15}$"},
            "tags": {"type": "array", "items": {"type": "string", "description": f"about {NAME}"}},
        },
        "required": ["email"],
        "additionalProperties": False,
    }


TOOLS = [{"type": "function", "function": {
    "name": "lookup", "description": f"Look up {NAME}, {EMAIL}", "parameters": schema(), "strict": True}}]


# --- vectors that are redacted: the upstream gets them, with placeholders ----------------------------------


def check_tools(sent: dict[str, Any]) -> None:
    function = sent["tools"][0]["function"]
    assert function["description"] == "Look up <PERSON_1>, <EMAIL_ADDRESS_1>"  # the message's context
    properties = function["parameters"]["properties"]
    assert properties["email"]["description"] == "The address, for example <EMAIL_ADDRESS_1>"
    assert properties["email"]["examples"] == ["<EMAIL_ADDRESS_1>", "call <PHONE_NUMBER_1>"]
    assert properties["card"]["enum"] == ["<CREDIT_CARD>", "none"]
    assert properties["phone"]["const"] == "<PHONE_NUMBER_1>"
    assert function["parameters"]["title"] == "Contact card of <PERSON_1>"
    assert function["parameters"]["required"] == ["email"] and function["name"] == "lookup"


def check_functions(sent: dict[str, Any]) -> None:
    assert sent["functions"][0]["description"] == "Look up <PERSON_1>, <EMAIL_ADDRESS_1>"
    assert sent["function_call"] == {"name": "lookup"}


def check_stop(sent: dict[str, Any]) -> None:
    assert sent["stop"] == ["<EMAIL_ADDRESS_1>", "Bye <PERSON_1>"]


def check_prediction(sent: dict[str, Any]) -> None:
    parts = [{"type": "text", "text": "Dear <PERSON_1>,"}]
    assert sent["prediction"] == {"type": "content", "content": parts}


def check_response_format(sent: dict[str, Any]) -> None:
    json_schema = sent["response_format"]["json_schema"]
    assert json_schema["description"] == "A card for <PERSON_1>"
    assert json_schema["schema"]["properties"]["email"]["description"] == (
        "The address, for example <EMAIL_ADDRESS_1>")


def check_arguments(sent: dict[str, Any]) -> None:
    call = sent["messages"][1]["tool_calls"][0]
    assert call["id"] == "call_1" and call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {
        "who": "<PERSON_1>", "emails": ["<EMAIL_ADDRESS_1>"], "card": "<CREDIT_CARD>",
        "phone": {"mobile": "<PHONE_NUMBER_1>"}, "count": 2, "ok": True}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "found <PERSON_1>"}


def check_text_arguments(sent: dict[str, Any]) -> None:
    assert sent["messages"][1]["tool_calls"][0]["function"]["arguments"] == "to <PERSON_1>, not JSON"


def check_names(sent: dict[str, Any]) -> None:
    assert sent["messages"][0]["name"] == "<PERSON_1>"
    assert sent["messages"][1]["refusal"] == "I will not mail <EMAIL_ADDRESS_1>."


def check_dropped(sent: dict[str, Any]) -> None:
    assert "user" not in sent and "metadata" not in sent
    assert sent["temperature"] == 0.2 and sent["logit_bias"] == {"50256": -100}


ARGUMENTS = json.dumps({"who": NAME, "emails": [EMAIL], "card": int(CARD.replace(" ", "")),
                        "phone": {"mobile": PHONE}, "count": 2, "ok": True})
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ARGUMENTS}}

REDACTED: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], None]]] = {
    "tools description and parameter schema": (request(tools=TOOLS, tool_choice="auto"), check_tools),
    "legacy functions": (request(functions=[{"name": "lookup", "description": f"Look up {NAME}, {EMAIL}",
                                             "parameters": schema()}], function_call={"name": "lookup"}),
                         check_functions),
    "stop": (request(stop=[EMAIL, f"Bye {NAME}"]), check_stop),
    "prediction": (
        request(prediction={"type": "content", "content": [{"type": "text", "text": f"Dear {NAME},"}]}),
        check_prediction),
    "response_format json_schema": (
        request(response_format={"type": "json_schema", "json_schema": {
            "name": "card", "description": f"A card for {NAME}", "schema": schema(), "strict": True}}),
        check_response_format),
    "tool-call arguments as JSON, value by value": (
        request(user(), {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": f"found {NAME}"}),
        check_arguments),
    "tool-call arguments that are not JSON": (
        request(user(), {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup",
                                                              "arguments": f"to {NAME}, not JSON"}}]}),
        check_text_arguments),
    "message name and refusal strings": (
        request({"role": "user", "name": NAME, "content": f"I am {NAME}, mail {EMAIL}."},
                {"role": "assistant", "refusal": f"I will not mail {EMAIL}.", "content": None}),
        check_names),
    "user and metadata dropped, numbers checked": (
        request(user=EMAIL, metadata={"customer": NAME}, temperature=0.2, logit_bias={"50256": -100}),
        check_dropped),
}


@pytest.mark.parametrize("case", list(REDACTED))
def test_vector_is_redacted(case: str, proxy: ProxyThread, clean: ToolUpstream) -> None:
    body, check = REDACTED[case]
    response = post(proxy, body)
    assert response.status_code == 200, response.text
    assert_clean_wire(clean)
    (seen,) = clean.requests
    check(seen.body)


# --- vectors that are refused: 400 naming the field, nothing sent -----------------------------------------


@dataclass(frozen=True)
class Refused:
    body: dict[str, Any]
    code: str
    path: str


def assistant_call(**function: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"id": "call_1", "type": "function",
                            "function": {"name": "lookup", "arguments": "{}", **function}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def tool(**function: Any) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "lookup", "description": "d", **function}}]


REFUSED: dict[str, Refused] = {
    "unknown top-level field": Refused(request(web_search_options={"user_location": EMAIL}),
                                       "unsupported_field", "web_search_options: unknown top-level field"),
    "unknown top-level field named by PII": Refused({**request(), EMAIL: NAME}, "unsupported_field",
                                                    "<key #2>: unknown top-level field"),
    "top-level prompt": Refused(request(prompt=f"Tell {NAME}"), "unsupported_field", "prompt"),
    "top-level input": Refused(request(input=[{"role": "user", "content": EMAIL}]), "unsupported_field",
                               "input"),
    "role string": Refused(request({"role": f"user {EMAIL}", "content": "hi"}), "invalid_field",
                           "messages[0].role must be one of"),
    "name given as a list": Refused(request({"role": "user", "name": [NAME], "content": "hi"}),
                                    "invalid_field", "messages[0].name must be a string"),
    "refusal given as a list": Refused(request(user(), {"role": "assistant", "refusal": [EMAIL]}),
                                       "invalid_field", "messages[1].refusal must be a string"),
    "tool-call arguments given as an object": Refused(
        request(user(), assistant_call(arguments={"to": EMAIL})), "invalid_field",
        "messages[1].tool_calls[0].function.arguments must be a string"),
    "tool-call id": Refused(request(user(), {**assistant_call(), "tool_calls": [
        {"id": EMAIL, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}),
        "identifier_has_entity", "messages[1].tool_calls[0].id contains EMAIL_ADDRESS"),
    "tool-call function.name": Refused(request(user(), assistant_call(name=NAME)), "identifier_has_entity",
                                       "messages[1].tool_calls[0].function.name contains PERSON"),
    "tool message tool_call_id": Refused(
        request(user(), {"role": "tool", "tool_call_id": EMAIL, "content": "x"}),
        "identifier_has_entity", "messages[1].tool_call_id contains"),
    "message function_call.name": Refused(
        request(user(), {"role": "assistant", "content": None,
                         "function_call": {"name": NAME, "arguments": "{}"}}),
        "identifier_has_entity", "messages[1].function_call.name contains PERSON"),
    "top-level function_call.name": Refused(
        request(functions=[{"name": "lookup"}], function_call={"name": EMAIL}), "identifier_has_entity",
        "function_call.name contains EMAIL_ADDRESS"),
    "extra key inside a content part": Refused(
        request({"role": "user", "content": [{"type": "text", "text": "hi", "note": EMAIL}]}),
        "unsupported_field", "messages[0].content[0].note: unknown field"),
    "extra key named by PII inside a content part": Refused(
        request({"role": "user", "content": [{"type": "text", "text": "hi", EMAIL: 1}]}),
        "unsupported_field", "messages[0].content[0].<key #2>: unknown field"),
    "non-text content part": Refused(
        request({"role": "user", "content": [{"type": "image_url", "image_url": {"url": EMAIL}}]}),
        "unsupported_content", "messages[0].content[0]: image_url parts cannot be redacted"),
    "unknown message key": Refused(request({"role": "user", "content": "hi", "audio": {"id": NAME}}),
                                   "unsupported_field", "messages[0].audio: unknown field"),
    "unknown tool key": Refused(request(tools=[{**tool()[0], "x_note": EMAIL}]), "unsupported_field",
                                "tools[0].x_note: unknown field"),
    "unknown tool function key": Refused(request(tools=tool(examples=[NAME])), "unsupported_field",
                                         "tools[0].function.examples: unknown field"),
    "tool name": Refused(request(tools=tool(name=EMAIL)), "identifier_has_entity",
                         "tools[0].function.name contains EMAIL_ADDRESS"),
    "schema property name": Refused(
        request(tools=tool(parameters={"type": "object", "properties": {EMAIL: {"type": "string"}}})),
        "identifier_has_entity", "tools[0].function.parameters.properties.<key #0> contains EMAIL_ADDRESS"),
    "schema required entry": Refused(
        request(tools=tool(parameters={"type": "object", "required": [NAME]})),
        "identifier_has_entity", "tools[0].function.parameters.required[0] contains PERSON"),
    "unknown schema keyword": Refused(
        request(tools=tool(parameters={"type": "object", "x-owner": NAME})), "unsupported_field",
        "tools[0].function.parameters.<key #1>: not a JSON schema keyword"),
    "schema description not a string": Refused(
        request(tools=tool(parameters={"type": "object", "description": [NAME]})), "invalid_field",
        "tools[0].function.parameters.description must be a string"),
    "tool_choice function name": Refused(
        request(tools=tool(), tool_choice={"type": "function", "function": {"name": NAME}}),
        "identifier_has_entity", "tool_choice.function.name contains PERSON"),
    "tool_choice string": Refused(request(tool_choice=EMAIL), "invalid_field", "tool_choice must be one of"),
    "response_format type": Refused(request(response_format={"type": EMAIL}), "invalid_field",
                                    "response_format.type must be one of"),
    "response_format schema name": Refused(
        request(response_format={"type": "json_schema", "json_schema": {"name": NAME, "schema": {}}}),
        "identifier_has_entity", "response_format.json_schema.name contains PERSON"),
    "stop entry not a string": Refused(request(stop=["END", [NAME]]), "invalid_field",
                                       "stop[1] must be a string"),
    "prediction type": Refused(request(prediction={"type": NAME, "content": "x"}), "invalid_field",
                               "prediction.type must be one of"),
    "logit_bias key": Refused(request(logit_bias={CARD: 1}), "invalid_field", "logit_bias.<key #0>"),
    "number given as a string": Refused(request(temperature=PHONE), "invalid_field",
                                        "temperature must be a number"),
    "model": Refused(request(model=EMAIL), "identifier_has_entity", "model contains EMAIL_ADDRESS"),
    "stream_options extra key": Refused(
        request(stream=True, stream_options={"include_usage": True, "to": EMAIL}),
        "unsupported_field", "stream_options.to: unknown field"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_vector_is_refused_naming_the_field(case: str, proxy: ProxyThread, clean: ToolUpstream) -> None:
    refused = REFUSED[case]
    response = post(proxy, refused.body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "redactline_request" and error["code"] == refused.code
    assert refused.path in error["message"]
    assert [v for v in PLANTED if v in response.text] == [], "a planted value is in the error body"
    assert clean.requests == []


# --- answers: tool-call arguments are re-identified, streaming and not --------------------------------------


EXPECTED_CALL = {"to": NAME, "cc": [EMAIL, PHONE], "note": f'say "hi" to {NAME}', "n": 3}


def test_answer_tool_call_arguments_are_reidentified(proxy: ProxyThread, clean: ToolUpstream) -> None:
    response = post(proxy, request(tools=TOOLS))
    assert response.status_code == 200, response.text
    call = response.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == EXPECTED_CALL
    assert_clean_wire(clean)


def sse_events(response: httpx.Response) -> list[Any]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_streaming_request_is_redacted_and_tool_calls_reidentified(
    proxy: ProxyThread, clean: ToolUpstream
) -> None:
    body = request(user(f"{NAME} can be reached at {PHONE}; his card is {CARD}."), tools=TOOLS, stop=[EMAIL],
                   stream=True, stream_options={"include_usage": True})
    with httpx.stream("POST", f"{proxy.base_url}/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    arguments = "".join(
        call["function"].get("arguments") or ""
        for event in events if isinstance(event, dict) for choice in event["choices"]
        for call in choice["delta"].get("tool_calls") or [])
    assert json.loads(arguments) == {**EXPECTED_CALL, "cc": [PHONE, EMAIL]}
    assert_clean_wire(clean)
    sent = clean.requests[0].body
    assert sent["stream"] is True and sent["stop"] == ["<EMAIL_ADDRESS_1>"]
    assert sent["messages"][0]["content"] == (
        "<PERSON_1> can be reached at <PHONE_NUMBER_1>; his card is <CREDIT_CARD>.")


def test_streaming_text_answer_is_reidentified(proxy: ProxyThread, clean: ToolUpstream) -> None:
    body = request(user(f"Summarise the note of {NAME} ({EMAIL})."), stream=True)
    with httpx.stream("POST", f"{proxy.base_url}/chat/completions", json=body, timeout=30) as response:
        events = sse_events(response)
    text = "".join(c["delta"].get("content") or ""
                   for e in events if isinstance(e, dict) for c in e["choices"])
    assert text == f"Summary for {NAME}, {EMAIL}: the request was noted."
    assert_clean_wire(clean)


def test_reidentified_arguments_stay_valid_json() -> None:
    vault = Vault({"<PERSON_1>": 'Ann "Q" \\ O', "<EMAIL_ADDRESS_1>": "ann@example.org"})
    restored = reidentify_arguments('{"to": "< person_1 >", "<EMAIL_ADDRESS_1>": ["<PERSON_1>", 2]}', vault)
    assert json.loads(restored) == {"to": 'Ann "Q" \\ O', "ann@example.org": ['Ann "Q" \\ O', 2]}
    assert reidentify_arguments('{"n":  1}', vault) == '{"n":  1}'  # nothing to restore: as it came
    assert reidentify_arguments("to <PERSON_1>", vault) == 'to Ann "Q" \\ O'  # not JSON: as text


# --- who may use the proxy: Host, Origin, Content-Type, local token ---------------------------------------


GOOD = request(user())


def assert_forbidden(response: httpx.Response, status: int, code: str, upstream: ToolUpstream) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert [v for v in PLANTED if v in response.text] == []
    assert upstream.requests == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost", "",
                                  "127.0.0.1.nip.io:{port}"])
def test_foreign_host_is_refused(host: str, proxy: ProxyThread, clean: ToolUpstream) -> None:
    headers = {"host": host.format(port=proxy.port)}
    assert_forbidden(post(proxy, GOOD, headers=headers), 403, "forbidden_host", clean)
    models = httpx.get(f"{proxy.base_url}/models", headers=headers)
    assert models.status_code == 403 and models.json()["error"]["code"] == "forbidden_host"
    assert httpx.get(f"http://127.0.0.1:{proxy.port}/healthz", headers=headers).status_code == 403
    assert clean.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_loopback_hosts_are_accepted(host: str, proxy: ProxyThread, clean: ToolUpstream) -> None:
    response = post(proxy, GOOD, headers={"host": host.format(port=proxy.port)})
    assert response.status_code == 200
    assert_clean_wire(clean)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1"])
def test_browser_origin_is_refused(origin: str, proxy: ProxyThread, clean: ToolUpstream) -> None:
    assert_forbidden(post(proxy, GOOD, headers={"origin": origin}), 403, "cross_origin", clean)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_non_json_content_type_is_refused(content_type: str | None, proxy: ProxyThread,
                                          clean: ToolUpstream) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(f"{proxy.base_url}/chat/completions", content=json.dumps(GOOD).encode(),
                          headers=headers)
    assert_forbidden(response, 403, "unsupported_media_type", clean)
    ok = httpx.post(f"{proxy.base_url}/chat/completions", content=json.dumps(GOOD).encode(),
                    headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


@pytest.mark.parametrize("api_key", [KEY, None])
def test_local_token_is_required_and_never_forwarded(
    api_key: str | None, redactor: Redactor, clean: ToolUpstream
) -> None:
    with start(redactor, clean, api_key=api_key, local_token=LOCAL_TOKEN) as running:
        for authorization in (None, "Bearer wrong", f"Basic {LOCAL_TOKEN}", f"Bearer {LOCAL_TOKEN}x"):
            headers = {"authorization": authorization} if authorization else {}
            response = post(running, GOOD, headers=headers)
            assert_forbidden(response, 401, "invalid_local_token", clean)
            assert response.headers["www-authenticate"] == "Bearer"
            assert LOCAL_TOKEN not in response.text
        assert httpx.get(f"{running.base_url}/models").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{running.port}/healthz").status_code == 200  # no token needed
        response = post(running, GOOD, headers={"authorization": f"Bearer {LOCAL_TOKEN}"})
    # with the proxy's key the upstream answers; without one it refuses (401 relayed), and either way it
    # never saw the local token nor the client's Authorization header
    assert response.status_code == (200 if api_key else 401)
    (seen,) = clean.requests
    assert seen.headers.get("authorization") == (f"Bearer {KEY}" if api_key else None)
    assert LOCAL_TOKEN not in wire(clean)


def test_local_token_from_the_cli(policy: Policy, upstream: ToolUpstream) -> None:
    options = argparse.Namespace(destination=None, upstream=upstream.base_url, api_key_env="K",
                                 require_token_env="T", jurisdiction=None, port=8787, timeout=30.0,
                                 max_body_bytes=1024)
    config = build_config(options, policy, {"K": KEY, "T": f" {LOCAL_TOKEN} "})
    assert config.local_token == LOCAL_TOKEN and LOCAL_TOKEN not in repr(config)
    with pytest.raises(ValueError, match="environment variable T"):
        build_config(options, policy, {"K": KEY})
