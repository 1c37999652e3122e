"""LLM API clients against real loopback servers speaking the OpenAI and Anthropic wire formats."""

from __future__ import annotations

import time

import pytest

from redactline.connectors.llm import (
    ANTHROPIC_VERSION,
    BAD_RESPONSE,
    HTTP_STATUS,
    NETWORK,
    RETRY_AFTER_TOO_LONG,
    TIMEOUT,
    Answer,
    AnthropicMessagesClient,
    ClientSettings,
    LlmConfigError,
    LlmError,
    OpenAIChatClient,
    Prompt,
    client_from_destination,
)
from tests.support.servers import FakeAnthropic, FakeOpenAI

CLIENT_FOR = {"openai": OpenAIChatClient, "anthropic": AnthropicMessagesClient}
PROMPT = Prompt(user="Summarise the call from <PERSON_1> about <EMAIL_ADDRESS_1>.", system="Be brief.")


def make_client(server, sleep=None, **overrides):
    """A client whose retries do not wait (``sleep`` records the waits instead, when given)."""
    values = {"base_url": server.base_url, "model": "m-1", "api_key": server.api_key, "max_tokens": 64,
              "timeout_s": 5.0, "max_retries": 3, "backoff_s": 0.01, "max_backoff_s": 0.05, "name": "test"}
    values.update(overrides)
    return CLIENT_FOR[server.provider](ClientSettings(**values), sleep=sleep or (lambda seconds: None))


# --------------------------------------------------------------------------- wire formats


def test_openai_wire_format(openai_server):
    with make_client(openai_server) as client:
        answer = client.complete(PROMPT)
    [seen] = openai_server.requests
    assert seen.path == "/v1/chat/completions" and seen.status == 200
    assert seen.headers["authorization"] == "Bearer sk-test-openai"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == {
        "model": "m-1",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT.user}],
        "max_tokens": 64,
    }
    assert answer.text == "Summary for < person_1 >, <EMAIL_ADDRESS_1>: the request was noted."
    assert answer.model == "m-1" and answer.attempts == 1 and answer.retries == 0
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (9, 10)


def test_anthropic_wire_format(anthropic_server):
    with make_client(anthropic_server) as client:
        answer = client.complete(PROMPT)
    [seen] = anthropic_server.requests
    assert seen.path == "/v1/messages" and seen.status == 200
    assert seen.headers["x-api-key"] == "sk-ant-test"
    assert seen.headers["anthropic-version"] == ANTHROPIC_VERSION == "2023-06-01"
    assert "authorization" not in seen.headers
    assert seen.body == {"model": "m-1", "max_tokens": 64, "system": "Be brief.",
                         "messages": [{"role": "user", "content": PROMPT.user}]}
    assert answer.text == "Summary for < person_1 >, <EMAIL_ADDRESS_1>: the request was noted."
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (9, 10)


def test_no_system_message_when_none_is_given(llm_server):
    with make_client(llm_server) as client:
        client.complete(Prompt("hello <PERSON_1>"))
    body = llm_server.requests[0].body
    assert "system" not in body
    assert body["messages"] == [{"role": "user", "content": "hello <PERSON_1>"}]


def test_the_encoded_bytes_are_exactly_what_is_sent(llm_server):
    with make_client(llm_server) as client:
        sent = client.encode(Prompt("Grüße an <PERSON_1> {braces} \"quotes\"", system="sys"))
        client.post(sent)
    assert llm_server.requests[0].raw == sent


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_zero_is_retried(llm_server):
    llm_server.fail_next(2, status=429, retry_after="0")
    with make_client(llm_server) as client:
        answer = client.complete(PROMPT)
    assert [r.status for r in llm_server.requests] == [429, 429, 200]
    assert answer.attempts == 3 and answer.retries == 2
    assert answer.text.startswith("Summary for")


def test_500_without_retry_after_is_retried_with_backoff(llm_server):
    llm_server.fail_next(1, status=500, retry_after=None)
    llm_server.fail_next(1, status=503, retry_after=None)
    slept: list[float] = []
    with make_client(llm_server, sleep=slept.append) as client:
        answer = client.complete(PROMPT)
    assert [r.status for r in llm_server.requests] == [500, 503, 200]
    assert answer.attempts == 3
    assert len(slept) == 2 and 0 <= slept[0] <= 0.01 and 0 <= slept[1] <= 0.02  # jittered backoff


def test_retry_after_one_second_is_waited(openai_server):
    openai_server.fail_next(1, status=429, retry_after="1")
    slept: list[float] = []
    with make_client(openai_server, sleep=slept.append) as client:
        client.complete(PROMPT)
    assert len(openai_server.requests) == 2
    assert slept == [1.0]  # the server's Retry-After, not the 0.01 s backoff


def test_retry_after_longer_than_the_cap_fails_at_once(openai_server):
    openai_server.fail_next(1, status=429, retry_after="3600")
    with make_client(openai_server, max_retry_after_s=30.0) as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert info.value.code == RETRY_AFTER_TOO_LONG and info.value.status == 429
    assert len(openai_server.requests) == 1


def test_exhausted_retries_raise_a_pii_free_error(llm_server):
    llm_server.fail_next(10, status=503, retry_after="0")
    with make_client(llm_server, max_retries=2) as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    error = info.value
    assert len(llm_server.requests) == 3
    assert error.attempts == 3 and error.retryable and error.status == 503 and error.code == HTTP_STATUS
    message = str(error)
    assert "HTTP 503" in message and "after 3 attempt(s)" in message and "'test'" in message
    # the server's error message quoted the prompt; the client repeats none of it
    assert "PERSON_1" not in message and "Summarise" not in message and "scripted" not in message


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_4xx_are_not_retried(llm_server, status):
    llm_server.fail_next(1, status=status, retry_after="0", error_type="invalid_request_error")
    with make_client(llm_server) as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert len(llm_server.requests) == 1
    assert info.value.status == status and not info.value.retryable
    assert info.value.error_type == "invalid_request_error"
    assert "not retried" in str(info.value) and "PERSON" not in str(info.value)


def test_a_redirect_is_not_followed(openai_server):
    openai_server.fail_next(1, status=307, retry_after=None)
    with make_client(openai_server) as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert info.value.status == 307 and len(openai_server.requests) == 1


def test_wrong_api_key_is_401_with_the_provider_error_type_and_no_key(llm_server):
    with make_client(llm_server, api_key="sk-wrong-secret") as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert info.value.status == 401 and len(llm_server.requests) == 1
    assert info.value.error_type == {"openai": "invalid_api_key", "anthropic": "authentication_error"}[
        llm_server.provider]
    assert "sk-wrong-secret" not in str(info.value)


def test_read_timeout_is_retried(llm_server):
    llm_server.delay_next(1, 1.0)
    with make_client(llm_server, timeout_s=0.3) as client:
        answer = client.complete(PROMPT)
    assert answer.attempts == 2 and len(llm_server.requests) == 2


def test_read_timeouts_exhausted(openai_server):
    openai_server.delay_next(2, 0.6)
    with make_client(openai_server, timeout_s=0.2, max_retries=1) as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert info.value.code == TIMEOUT and info.value.attempts == 2 and "read timeout" in str(info.value)


def test_dropped_connection_is_retried(llm_server):
    llm_server.drop_next(1)
    with make_client(llm_server) as client:
        answer = client.complete(PROMPT)
    assert answer.attempts == 2


def test_connection_refused_is_a_network_error_after_retries():
    with FakeOpenAI() as server:
        base = server.base_url
    settings = ClientSettings(base_url=base, model="m", max_retries=1, backoff_s=0.01, name="gone")
    slept: list[float] = []
    client = OpenAIChatClient(settings, sleep=slept.append)
    with client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert info.value.code == NETWORK and info.value.attempts == 2 and len(slept) == 1


class _NoTextOpenAI(FakeOpenAI):
    def answer(self, body, text, input_tokens, output_tokens, n):
        return {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": None,
                                                                  "refusal": f"I won't: {text}"}}]}


def test_an_answer_without_text_is_a_bad_response_not_retried():
    with _NoTextOpenAI() as server, make_client(server) as client, pytest.raises(LlmError) as info:
        client.complete(PROMPT)
    assert info.value.code == BAD_RESPONSE and len(server.requests) == 1
    assert "won't" not in str(info.value) and "PERSON" not in str(info.value)


# --------------------------------------------------------------------------- concurrency


def test_complete_many_is_bounded_and_keeps_order(llm_server):
    llm_server.hold(0.05)
    prompts = [Prompt(f"case <PERSON_{i}>") for i in range(1, 13)]
    with make_client(llm_server, max_concurrency=3) as client:
        results = client.complete_many(prompts)
    assert 2 <= llm_server.max_in_flight <= 3
    assert all(isinstance(r, Answer) for r in results)
    expected = [f"Summary for < person_{i} >: the request was noted." for i in range(1, 13)]
    assert [r.text for r in results] == expected


def test_complete_many_returns_errors_in_place(llm_server):
    llm_server.fail_when("<PERSON_5>", status=500, retry_after="0")
    prompts = [Prompt(f"case <PERSON_{i}>") for i in range(1, 9)]
    with make_client(llm_server, max_concurrency=4, max_retries=2) as client:
        results = client.complete_many(prompts)
    assert [isinstance(r, LlmError) for r in results] == [i == 5 for i in range(1, 9)]
    assert results[4].attempts == 3
    assert sum("<PERSON_5>" in t for t in llm_server.user_texts()) == 3


def test_complete_many_of_nothing_sends_nothing(openai_server):
    with make_client(openai_server) as client:
        assert client.complete_many([]) == []
    assert openai_server.requests == []


# --------------------------------------------------------------------------- building from a destination


def _destination(server, **overrides):
    from redactline.policies.destinations import DestinationConfig

    return DestinationConfig.model_validate(server.destination(**overrides))


def test_client_from_destination_reads_the_key_from_the_named_variable(llm_server):
    dest = _destination(llm_server, max_tokens=77, max_retries=1)
    env = {dest.api_key_env: llm_server.api_key}
    with client_from_destination(dest, "ext", environ=env) as client:
        assert type(client) is CLIENT_FOR[llm_server.provider]
        assert client.settings.max_tokens == 77 and client.settings.max_retries == 1
        answer = client.complete(Prompt("hi <PERSON_1>"))
    assert answer.model == dest.model
    assert llm_server.requests[0].body["max_tokens"] == 77
    assert llm_server.api_key not in repr(client) and llm_server.api_key not in repr(client.settings)


def test_missing_key_variable_is_named(openai_server):
    dest = _destination(openai_server)
    with pytest.raises(LlmConfigError, match="OPENAI_TEST_KEY"):
        client_from_destination(dest, "ext", environ={})
    with pytest.raises(LlmConfigError, match="OPENAI_TEST_KEY"):
        client_from_destination(dest, "ext", environ={"OPENAI_TEST_KEY": "  "})


def test_an_enclave_destination_is_not_an_llm_client():
    from redactline.policies.destinations import DestinationConfig

    enclave = DestinationConfig(kind="enclave", region="eu-central-1")
    with pytest.raises(LlmConfigError, match="external_api"):
        client_from_destination(enclave, "enc", environ={})


def test_settings_refuse_credentials_in_the_url():
    with pytest.raises(LlmConfigError):
        ClientSettings(base_url="https://user:pw@api.example.com/v1", model="m")
    with pytest.raises(LlmConfigError):
        ClientSettings(base_url="https://api.example.com/v1?key=abc", model="m")


# --------------------------------------------------------------------------- retry rules


def test_the_cap_on_retries_holds_in_time(openai_server):
    """max_retries=0: one attempt, no waiting."""
    openai_server.fail_next(5, status=429, retry_after="1")
    slept: list[float] = []
    start = time.monotonic()
    with make_client(openai_server, sleep=slept.append, max_retries=0) as client, pytest.raises(LlmError):
        client.complete(PROMPT)
    assert time.monotonic() - start < 0.9 and len(openai_server.requests) == 1 and slept == []


def test_anthropic_cache_tokens_count_as_input():
    class _Cached(FakeAnthropic):
        def answer(self, body, text, input_tokens, output_tokens, n):
            out = super().answer(body, text, input_tokens, output_tokens, n)
            out["usage"].update(cache_read_input_tokens=100, cache_creation_input_tokens=20)
            return out

    with _Cached() as server, make_client(server) as client:
        answer = client.complete(PROMPT)
    assert answer.usage.input_tokens == 9 + 120


# --------------------------------------------------------------------------- the fake speaks the real format


def test_the_official_openai_sdk_understands_the_fake_server(openai_server):
    """The fake is only useful if real clients parse it: non-streaming and streaming (SSE, usage chunk)."""
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(base_url=openai_server.base_url, api_key="sk-test-openai", max_retries=0)
    messages = [{"role": "user", "content": "Call <PERSON_1> at <PHONE_NUMBER_1>."}]
    expected = "Summary for < person_1 >, <PHONE_NUMBER_1>: the request was noted."

    plain = sdk.chat.completions.create(model="m-1", messages=messages)
    assert plain.choices[0].message.content == expected
    assert plain.usage.prompt_tokens == 4 and plain.usage.completion_tokens == len(expected.split())

    chunks = list(sdk.chat.completions.create(model="m-1", messages=messages, stream=True,
                                              stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(deltas) == expected and len(deltas) > 5  # split mid-placeholder on purpose
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(expected.split())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert openai_server.requests[1].body["stream"] is True

    with pytest.raises(openai.RateLimitError):
        openai_server.fail_next(1, status=429)
        sdk.chat.completions.create(model="m-1", messages=messages)
    wrong_key = openai.OpenAI(base_url=openai_server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong_key.chat.completions.create(model="m-1", messages=messages)
