"""``redactline run --destination llm:NAME`` end to end against a loopback OpenAI-compatible server."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from redactline.pipelines.run import run
from tests.support.pii import PEOPLE, person_record, pii_values, scan_for
from tests.support.servers import FakeOpenAI, llm_policy

KEY_HEX = "44" * 32


def _policy(server: FakeOpenAI) -> dict:
    prompt = {"template": "Customer {name} ({email}) wrote: {notes}"}
    return llm_policy("llm-run-test", {"assistant": server.destination(prompt=prompt, max_retries=2)})


@pytest.mark.slow
def test_run_sends_sanitized_prompts_and_writes_reidentified_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-test-openai")
    countries = ["DE", "US", "ZZ", "FR", "DE", "US", "ZZ", "FR"]  # ZZ: unknown jurisdiction, held
    src = tmp_path / "tickets.csv"
    with src.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person_record(0)))
        writer.writeheader()
        for i, country in enumerate(countries):
            writer.writerow(person_record(i, country))
    with FakeOpenAI() as server:
        server.fail_next(1, status=429, retry_after="0")
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(_policy(server), sort_keys=False))
        out = tmp_path / "out"
        code = run(["--policy", str(policy), "--source", str(src), "--sink", str(out / "answers.jsonl"),
                    "--destination", "llm:assistant", "--quarantine-key-env", "RL_TEST_QKEY", "--quiet"])
        raw_requests = b"\n".join(r.raw for r in server.requests).decode()
        n_requests = len(server.requests)
    assert code == 0
    manifest = json.loads((out / "answers.manifest.json").read_text())
    sent = sum(1 for c in countries if c != "ZZ")
    assert manifest["check"]["holds"]
    assert manifest["counts"]["delivered"] == sent and manifest["counts"]["held"]["total"] == 2
    usage = manifest["destination"]["counts"]
    assert (manifest["destination"]["kind"], manifest["destination"]["name"]) == ("external_api", "assistant")
    assert usage["requests"] == sent and usage["retries"] == 1 and usage["input_tokens"] > 0
    # No input PII reached the provider; the answers came back with the originals restored.
    assert [v for v in pii_values() if v in raw_requests] == []
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == sent
    names = {name for name, _, _ in PEOPLE}
    assert all(any(n in a["answer"] for n in names) for a in answers)
    assert all("<PERSON" not in a["answer"].upper().replace(" ", "") for a in answers)
    # Held records (unknown jurisdiction) were never sent, and nothing but the answers holds PII.
    assert n_requests == sent + 1  # + the one answered 429
    assert scan_for([out / "answers.held.jsonl", out / "answers.manifest.json"], pii_values()) == []


def test_llm_destination_errors_name_the_problem(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    monkeypatch.delenv("OPENAI_TEST_KEY", raising=False)
    with FakeOpenAI() as server:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(_policy(server), sort_keys=False))
        base = ["--policy", str(policy), "--source", "x.csv", "--sink", str(tmp_path / "a.jsonl"),
                "--quarantine-key-env", "RL_TEST_QKEY", "--quiet"]
        assert run([*base, "--destination", "llm:assistant"]) == 2
        assert "OPENAI_TEST_KEY" in capsys.readouterr().err
        monkeypatch.setenv("OPENAI_TEST_KEY", "sk-test-openai")
        assert run([*base, "--destination", "llm:assistent"]) == 2
        assert "assistant" in capsys.readouterr().err
        assert server.requests == []
