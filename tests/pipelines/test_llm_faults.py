"""The LLM route under upstream faults (issue 14): an answer whose body cannot be decoded fails that
record, not the run, and the manifest counts every request that was sent.

Before, measured: an upstream answering 200 with ``Content-Encoding: gzip`` and corrupt bytes raised
httpx's ``DecodingError`` out of the client, the whole run FAILED (exit 1, nothing delivered) and its
manifest's destination counts said nothing was sent although the prompt had been.
"""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from redactline.connectors.llm import (
    BAD_RESPONSE,
    AnthropicMessagesClient,
    ClientSettings,
    LlmError,
    OpenAIChatClient,
    Prompt,
)
from redactline.pipelines.quarantine import KeySpec, read_entries
from redactline.pipelines.run import run
from tests.support.pii import person_record, pii_values, scan_for
from tests.support.servers import FakeOpenAI, llm_policy

KEY_HEX = "6b" * 32
CLIENT_FOR = {"openai": OpenAIChatClient, "anthropic": AnthropicMessagesClient}
PROMPT = Prompt(user="Summarise the call from <PERSON_1> about <EMAIL_ADDRESS_1>.")


def _client(server, **overrides):
    values = {"base_url": server.base_url, "model": "m-1", "api_key": server.api_key, "timeout_s": 5.0,
              "max_retries": 3, "backoff_s": 0.01, "max_backoff_s": 0.05, "name": "faulty"}
    values.update(overrides)
    return CLIENT_FOR[server.provider](ClientSettings(**values), sleep=lambda seconds: None)


def test_a_broken_gzip_body_is_a_bad_response_not_retried(llm_server):
    llm_server.broken_gzip_next(1)
    sent: list[int] = []
    with _client(llm_server) as client:
        client.on_send = sent.append
        with pytest.raises(LlmError) as caught:
            client.complete(PROMPT)
        assert client.complete(PROMPT).text  # the next answer is fine: the client is still usable
    error = caught.value
    assert error.code == BAD_RESPONSE and error.attempts == 1 and not error.retryable
    assert "cannot be decoded" in str(error) and "PERSON_1" not in str(error)
    assert len(llm_server.requests) == 2  # the broken answer's prompt was not sent again
    assert sent == [1, 1]  # each request noted as it left


def test_one_broken_body_among_many_loses_only_that_prompt(openai_server):
    openai_server.broken_gzip_next(1)
    prompts = [Prompt(user=f"Summarise <PERSON_{i}>.") for i in range(1, 6)]
    with _client(openai_server, max_concurrency=1) as client:
        results = client.complete_many(prompts)
    errors = [r for r in results if isinstance(r, LlmError)]
    assert len(errors) == 1 and errors[0].code == BAD_RESPONSE
    assert len(results) == 5 and len(openai_server.requests) == 5


@pytest.mark.slow
def test_a_broken_gzip_answer_quarantines_the_record_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-test-openai")
    src = tmp_path / "tickets.csv"
    with src.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person_record(0)))
        writer.writeheader()
        for i in range(3):
            writer.writerow(person_record(i))
    out = tmp_path / "out"
    with FakeOpenAI() as server:
        server.broken_gzip_next(1)
        policy = tmp_path / "policy.yaml"
        prompt = {"template": "Customer {name} wrote: {notes}"}
        policy.write_text(yaml.safe_dump(llm_policy("llm-faults", {
            "assistant": server.destination(prompt=prompt, max_concurrency=1)}), sort_keys=False))
        code = run(["--policy", str(policy), "--source", str(src), "--sink", str(out / "answers.jsonl"),
                    "--destination", "llm:assistant", "--quarantine-key-env", "RL_TEST_QKEY", "--quiet",
                    "--no-profile"])
        n_requests = len(server.requests)
    err = capsys.readouterr().err
    assert code == 0, err
    manifest = json.loads((out / "answers.manifest.json").read_text())
    counts = manifest["counts"]
    assert (counts["read"], counts["delivered"]) == (3, 2)
    assert counts["quarantined"]["by_reason"] == {"llm_error": 1}
    assert manifest["check"]["holds"] and manifest["counts_status"] == "complete"
    assert n_requests == 3 and manifest["destination"]["counts"]["requests"] == 3  # the broken one was sent
    [entry] = read_entries(out / "answers.quarantine.jsonl", KeySpec(env="RL_TEST_QKEY").load())
    assert entry["reason"] == "llm_error" and "cannot be decoded" in entry["detail"]
    outputs = [out / "answers.manifest.json", out / "answers.quarantine.jsonl"]
    assert scan_for(outputs, pii_values(), err) == []
