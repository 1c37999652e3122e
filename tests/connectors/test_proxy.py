"""``redactline proxy``: the official openai SDK through the proxy to a real loopback OpenAI-style server.

The upstream (``tests/support/servers.py``) records every request and echoes the placeholders it received with
their case and spacing changed, so re-identification is exercised; streaming answers split placeholders
across chunks. Every test checks what actually reached the upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from redactline.connectors.proxy import (
    ProxyConfig,
    ProxyThread,
    Redactor,
    build_app,
    reidentify_completion,
    rewrite_sse,
)
from redactline.connectors.proxy_cli import build_config
from redactline.policies import Policy, load_policy
from redactline.policies.reidentify import Vault
from tests.support.servers import FakeOpenAI, echo_answer

KEY = "sk-test-openai"
NAME, EMAIL = "Margaret Sullivan", "margaret.sullivan@example.org"
OTHER, OTHER_EMAIL = "Robert Whitfield", "bob.whitfield@example.net"
PII = [NAME, *NAME.split(), EMAIL, OTHER, *OTHER.split(), OTHER_EMAIL, "536-22-8751"]

POLICY = """\
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {{name: proxy-test, version: 1.0.0}}
transforms:
  default: replace
  entities:
    PERSON: pseudonym
    EMAIL_ADDRESS: pseudonym
    PHONE_NUMBER: pseudonym
residency:
  unknown: hold
  rules:
    - jurisdictions: [EU]
      allowed_regions: [EU]
destinations:
  open: {open}
  strict: {strict}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def policy(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Policy:
    open_ = upstream.destination(api_key_env=None)
    strict = upstream.destination(api_key_env=None, never_send=["US_SSN"], jurisdictions=["EU"])
    path = tmp_path_factory.mktemp("proxy") / "policy.yaml"
    path.write_text(POLICY.format(open=json.dumps(open_), strict=json.dumps(strict)), encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def redactor(policy: Policy) -> Redactor:
    return Redactor.from_engine(policy.engine())


def proxy_for(policy: Policy, redactor: Redactor, upstream: FakeOpenAI, destination: str | None = "open",
              jurisdiction: str | None = "DE", api_key: str | None = KEY) -> ProxyThread:
    config = ProxyConfig(
        upstream=upstream.base_url,
        api_key=api_key,
        destination_name=destination,
        destination=policy.destinations[destination] if destination else None,
        residency=policy.residency if destination else None,
        jurisdiction=jurisdiction,
        timeout_s=10,
    )
    return ProxyThread(build_app(config, redactor))


@pytest.fixture
def proxy(policy: Policy, redactor: Redactor, upstream: FakeOpenAI) -> Iterator[ProxyThread]:
    upstream.reset()
    with proxy_for(policy, redactor, upstream) as running:
        yield running


def sdk(proxy: ProxyThread, api_key: str = "unused-local-key") -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.base_url, api_key=api_key, max_retries=0, timeout=20)


MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": f"You help {NAME}. Be brief."},
    {"role": "user", "content": f"Please summarise: {NAME} ({EMAIL}) wrote to {OTHER} at {OTHER_EMAIL}."},
]


def assert_no_pii_upstream(upstream: FakeOpenAI) -> None:
    assert upstream.requests, "nothing reached the upstream"
    for seen in upstream.requests:
        raw = seen.raw.decode("utf-8")
        for value in PII:
            assert value not in raw, "input PII reached the upstream"


def expected_answer(upstream: FakeOpenAI) -> str:
    """What the fake answers for the last request, with the originals put back (its placeholders are
    <PERSON_1>, <EMAIL_ADDRESS_1>, <PERSON_2>, <EMAIL_ADDRESS_2> in order of appearance)."""
    user = upstream.user_texts()[-1]
    assert user.index("<PERSON_1>") < user.index("<EMAIL_ADDRESS_1>") < user.index("<PERSON_2>")
    return f"Summary for {NAME}, {EMAIL}, {OTHER}, {OTHER_EMAIL}: the request was noted."


# --- the official SDK -------------------------------------------------------------------------------------


def test_sdk_non_streaming_answer_is_reidentified(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    answer = sdk(proxy).chat.completions.create(model="fake-openai-model", messages=MESSAGES)
    assert answer.choices[0].message.content == expected_answer(upstream)
    assert answer.usage is not None and answer.usage.prompt_tokens > 0
    assert_no_pii_upstream(upstream)
    (seen,) = upstream.requests
    system, user = (m["content"] for m in seen.body["messages"])
    # one pseudonym context per request: the same person is <PERSON_1> in both messages
    assert system == "You help <PERSON_1>. Be brief."
    assert user == ("Please summarise: <PERSON_1> (<EMAIL_ADDRESS_1>) wrote to <PERSON_2> at "
                    "<EMAIL_ADDRESS_2>.")
    assert seen.headers["authorization"] == f"Bearer {KEY}"  # the proxy's key, not the client's
    # the upstream really answered with changed spellings (< person_1 >, <Person_2 >) that were restored
    assert "< person_1 >" in echo_answer(user) and "<Person_2 >" in echo_answer(user)


def test_sdk_streaming_answer_is_reidentified(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    stream = sdk(proxy).chat.completions.create(
        model="fake-openai-model", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    pieces: list[str] = []
    finish: list[str] = []
    usage = None
    for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish.append(choice.finish_reason)
        usage = chunk.usage or usage
    assert "".join(pieces) == expected_answer(upstream)
    assert finish == ["stop"]
    assert usage is not None and usage.completion_tokens > 0
    assert_no_pii_upstream(upstream)
    assert upstream.requests[0].body["stream"] is True


def test_multi_turn_history_and_text_parts_are_redacted(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": f"Who is {NAME}?"}]},
        {"role": "assistant", "content": f"{NAME} is a customer; mail {EMAIL}."},  # a re-identified turn
        {"role": "user", "content": [{"type": "text", "text": f"Write to {NAME} at {EMAIL}."}]},
    ]
    answer = sdk(proxy).chat.completions.create(model="fake-openai-model", messages=messages)
    assert answer.choices[0].message.content == f"Summary for {NAME}, {EMAIL}: the request was noted."
    assert_no_pii_upstream(upstream)
    sent = upstream.requests[0].body["messages"]
    assert sent[1]["content"] == "<PERSON_1> is a customer; mail <EMAIL_ADDRESS_1>."
    assert sent[2]["content"][0]["text"] == "Write to <PERSON_1> at <EMAIL_ADDRESS_1>."


def test_client_authorization_forwarded_without_proxy_key(
    policy: Policy, redactor: Redactor, upstream: FakeOpenAI
) -> None:
    upstream.reset()
    with proxy_for(policy, redactor, upstream, api_key=None) as running:
        answer = sdk(running, api_key=KEY).chat.completions.create(model="m", messages=MESSAGES)
        assert NAME in (answer.choices[0].message.content or "")
        with pytest.raises(openai.AuthenticationError) as info:  # upstream 401 relayed, generic text
            sdk(running, api_key="wrong").chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 401
    assert "Incorrect API key" not in str(info.value)


# --- policy refusals: nothing is sent ---------------------------------------------------------------------


def refused(proxy: ProxyThread, messages: list[dict[str, Any]]) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        sdk(proxy).chat.completions.create(model="fake-openai-model", messages=messages)
    return info.value


def test_never_send_refused_before_anything_leaves(
    policy: Policy, redactor: Redactor, upstream: FakeOpenAI
) -> None:
    upstream.reset()
    with proxy_for(policy, redactor, upstream, destination="strict", jurisdiction="DE") as running:
        error = refused(running, [{"role": "user", "content": f"{NAME}'s SSN is 536-22-8751."}])
        ok = sdk(running).chat.completions.create(model="m", messages=MESSAGES)  # no SSN: allowed
    assert error.status_code == 403
    body = error.body if isinstance(error.body, dict) else {}
    assert body["type"] == "redactline_policy" and body["code"] == "never_send_entity"
    assert "US_SSN" in body["message"]
    assert all(value not in json.dumps(body) for value in PII)
    assert len(upstream.requests) == 1  # only the allowed request
    assert "536-22-8751" not in upstream.requests[0].raw.decode()
    assert NAME in (ok.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("destination", "jurisdiction", "code"),
    [
        ("strict", None, "unknown_jurisdiction"),  # residency holds unknown first
        ("strict", "US", "no_rule"),  # residency: no rule for US
        ("open", None, "unknown_jurisdiction"),
    ],
)
def test_jurisdiction_and_residency_refusals(
    policy: Policy, redactor: Redactor, upstream: FakeOpenAI, destination: str, jurisdiction: str | None,
    code: str,
) -> None:
    upstream.reset()
    with proxy_for(policy, redactor, upstream, destination=destination, jurisdiction=jurisdiction) as running:
        error = refused(running, MESSAGES)
    assert error.status_code == 403
    assert isinstance(error.body, dict) and error.body["code"] == code
    assert upstream.requests == []


def test_destination_jurisdictions_apply_beyond_residency(
    policy: Policy, redactor: Redactor, upstream: FakeOpenAI
) -> None:
    # strict allows only EU; residency (EU -> EU) would allow an EU record, so give a case only egress sees
    strict = policy.destinations["strict"].model_copy(update={"jurisdictions": ["FR"]})
    config = ProxyConfig(upstream=upstream.base_url, api_key=KEY, destination_name="strict",
                         destination=strict, residency=policy.residency, jurisdiction="DE")
    upstream.reset()
    with ProxyThread(build_app(config, redactor)) as running:
        error = refused(running, MESSAGES)
    assert isinstance(error.body, dict) and error.body["code"] == "jurisdiction_not_allowed"
    assert upstream.requests == []


def test_content_that_cannot_be_redacted_is_refused(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    error = refused(proxy, [{"role": "user", "content": [{"type": "text", "text": "look"}, image]}])
    assert error.status_code == 400
    assert isinstance(error.body, dict) and error.body["code"] == "unsupported_content"
    error = refused(proxy, [{"role": "user", "content": "hi", "audio": {"id": "x"}}])
    assert isinstance(error.body, dict) and error.body["code"] == "unsupported_field"
    assert upstream.requests == []


def test_user_and_metadata_are_not_forwarded(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    sdk(proxy).chat.completions.create(model="m", messages=MESSAGES, user=EMAIL)
    assert "user" not in upstream.requests[0].body
    assert_no_pii_upstream(upstream)


# --- upstream failures --------------------------------------------------------------------------------------


def test_upstream_500_becomes_502_without_upstream_text(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    upstream.fail_next(1, status=500)
    response = httpx.post(f"{proxy.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "redactline_upstream" and error["code"] == "upstream_error"
    assert "scripted failure" not in response.text and "PERSON" not in response.text
    assert_no_pii_upstream(upstream)


def test_upstream_500_streaming_becomes_502(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    upstream.fail_next(1, status=500)
    with pytest.raises(openai.InternalServerError) as info:
        sdk(proxy).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert info.value.status_code == 502


def test_upstream_429_keeps_retry_after(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    upstream.fail_next(1, status=429, retry_after="7")
    response = httpx.post(f"{proxy.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.status_code == 429 and response.headers["retry-after"] == "7"


def test_unreachable_upstream_is_502(policy: Policy, redactor: Redactor) -> None:
    config = ProxyConfig(upstream="http://127.0.0.1:9/v1", api_key=KEY, timeout_s=5)
    with ProxyThread(build_app(config, redactor)) as running:
        response = httpx.post(f"{running.base_url}/chat/completions",
                              json={"model": "m", "messages": MESSAGES})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_network"


def test_bad_requests(proxy: ProxyThread) -> None:
    url = f"{proxy.base_url}/chat/completions"
    json_type = {"content-type": "application/json"}  # any other type is refused first (CSRF)
    assert httpx.post(url, content=b"not json", headers=json_type).json()["error"]["code"] == "invalid_json"
    assert httpx.post(url, json={"model": "m", "messages": []}).status_code == 400


def test_logs_never_contain_message_text(
    proxy: ProxyThread, upstream: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.fail_next(1, status=500)
    client = sdk(proxy)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    client.chat.completions.create(model="m", messages=MESSAGES)
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": NAME}}]}])
    # the openai SDK's own debug log (client side) quotes requests; everything else is the proxy's side
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("openai"))
    assert "HTTP 500" in text
    leaked = [r.name for r in caplog.records if not r.name.startswith("openai")
              and any(v in r.getMessage() for v in [*PII, "PERSON"])]
    assert leaked == []


# --- the stream rewriter on its own -------------------------------------------------------------------------


async def _lines(events: list[str]) -> AsyncIterator[str]:
    for event in events:
        for line in f"data: {event}\n\n".split("\n")[:-1]:
            yield line


def _run_sse(events: list[str], vault: Vault) -> list[Any]:
    async def collect() -> list[bytes]:
        return [e async for e in rewrite_sse(_lines(events), vault)]

    out = []
    for raw in asyncio.run(collect()):
        payload = raw.decode().removeprefix("data: ").strip()
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def _chunk(content: str | None, finish: str | None = None, index: int = 0) -> str:
    delta = {} if content is None else {"content": content}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})


def _text(events: list[Any], index: int = 0) -> str:
    return "".join(
        c["delta"].get("content") or ""
        for e in events if isinstance(e, dict) for c in e["choices"] if c["index"] == index
    )


def test_stream_flushes_held_text_at_finish_reason() -> None:
    vault = Vault({"<PERSON_1>": "Ann"})
    events = _run_sse([_chunk("Hi <PER"), _chunk("SON_1> and <PERS"), _chunk(None, "stop"), "[DONE]"], vault)
    assert _text(events) == "Hi Ann and <PERS"
    assert events[2]["choices"][0]["delta"] == {"content": "<PERS"}  # flushed into the finishing chunk
    assert events[-1] == "[DONE]"


def test_stream_flushes_before_done_without_finish_reason_and_keeps_choices_apart() -> None:
    vault = Vault({"<PERSON_1>": "Ann", "<PERSON_2>": "Bo"})
    events = _run_sse(
        [_chunk("a <person", index=0), _chunk("b < PERSON", index=1), _chunk("_1>", index=0),
         _chunk("_2 >", index=1), _chunk(" <PERSON_", index=0), "[DONE]"],
        vault,
    )
    assert _text(events, 0) == "a Ann <PERSON_"
    assert _text(events, 1) == "b Bo"
    assert events[-1] == "[DONE]" and events[-2]["choices"] == [
        {"index": 0, "delta": {"content": "<PERSON_"}, "finish_reason": None}  # " " went out at once
    ]


def test_stream_without_done_still_flushes() -> None:
    vault = Vault({"<PERSON_1>": "Ann"})
    assert _text(_run_sse([_chunk("x <PERSON_1")], vault)) == "x <PERSON_1"


# --- CLI configuration ------------------------------------------------------------------------------------


def args(**overrides: Any) -> argparse.Namespace:
    base = {"destination": None, "upstream": None, "api_key_env": None, "jurisdiction": None, "port": 8787,
            "timeout": 30.0, "max_body_bytes": 1024, "require_token_env": None}
    return argparse.Namespace(**{**base, **overrides})


def test_cli_config_defaults_from_destination(policy: Policy, upstream: FakeOpenAI) -> None:
    options = args(destination="strict", jurisdiction="de", api_key_env="K")
    config = build_config(options, policy, {"K": "sk-x"})
    assert config.upstream == upstream.base_url and config.api_key == "sk-x"
    assert config.jurisdiction == "DE" and config.residency is policy.residency
    assert "sk-x" not in repr(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "--upstream URL is required"),
        ({"destination": "nope"},
         "destination 'nope' is not in the policy (its external_api destinations: open, strict)"),
        ({"upstream": "http://api.example.com/v1"}, "--upstream: plain http is allowed only for loopback"),
        ({"upstream": "https://api.example.com/v1", "api_key_env": "UNSET_VAR"}, "UNSET_VAR"),
        ({"destination": "open", "jurisdiction": "Atlantis"}, "--jurisdiction Atlantis"),
    ],
)
def test_cli_config_errors(policy: Policy, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        build_config(args(**overrides), policy, {})
    assert message in str(info.value)


def test_cli_help_lists_proxy() -> None:
    from redactline.pipelines.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["proxy", "--help"])
    namespace = parser.parse_args(["proxy", "--policy", "p.yaml", "--upstream", "https://x/v1"])
    assert namespace.host == "127.0.0.1" and namespace.port == 8787


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_serves_the_sdk_end_to_end(policy: Policy, upstream: FakeOpenAI) -> None:
    """``redactline proxy`` as a process: the SDK gets re-identified answers; stderr holds no PII."""
    upstream.reset()
    port = _free_port()
    env = {**os.environ, "PROXY_TEST_KEY": KEY}
    command = [sys.executable, "-m", "redactline.pipelines.cli", "proxy", "--policy", str(policy.path),
               "--destination", "open", "--jurisdiction", "DE", "--api-key-env", "PROXY_TEST_KEY",
               "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="local", max_retries=0)
        answer = client.chat.completions.create(model="m", messages=MESSAGES)
        streamed = "".join(c.choices[0].delta.content or "" for c in
                           client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
                           if c.choices)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert answer.choices[0].message.content == expected_answer(upstream) == streamed
    assert_no_pii_upstream(upstream)
    assert "listening on http://127.0.0.1" in stderr
    assert all(value not in stderr for value in PII)


def test_models_passthrough_relays_upstream_status(proxy: ProxyThread) -> None:
    response = httpx.get(f"{proxy.base_url}/models")  # the fake has no /v1/models: its 404 is relayed
    assert response.status_code == 404 and response.json()["error"]["code"] == "upstream_refused"


def test_tool_call_arguments_are_reidentified() -> None:
    vault = Vault({"<EMAIL_ADDRESS_1>": "ann@example.org"})
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t", "type": "function",
         "function": {"name": "mail", "arguments": '{"to": "<email_address_1>"}'}}
    ]}}]}
    call = reidentify_completion(body, vault)["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"to": "ann@example.org"}'

    def tool_chunk(arguments: str, finish: str | None = None) -> str:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}
        return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    events = _run_sse([tool_chunk('{"to": "<EMAIL_'), tool_chunk('ADDRESS_1>"}'), tool_chunk("", "stop"),
                       "[DONE]"], vault)
    arguments = "".join(
        e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for e in events if isinstance(e, dict)
    )
    assert arguments == '{"to": "ann@example.org"}'
