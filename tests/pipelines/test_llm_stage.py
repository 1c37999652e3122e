"""SendToLlm on the FnApiRunner with the real engine, against loopback OpenAI and Anthropic servers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import apache_beam as beam
import pytest
import yaml

from redactline.connectors.records import FIELD_NAME_PII, Record, RecordMeta
from redactline.pipelines.llm_stage import (
    ENTITIES,
    HELD,
    LLM_ERROR,
    PROMPT_ERROR,
    REJECTED,
    RESULTS,
    USAGE,
    USAGE_KEYS,
    SendToLlm,
)
from redactline.pipelines.redact import PREPARED, PolicyEngineFactory, PrepareRecords
from redactline.policies import load_policy
from redactline.policies.lineage import LINEAGE_KEY
from tests.support.beam import pipeline
from tests.support.pii import PEOPLE, person_record, pii_values
from tests.support.servers import PLACEHOLDER, FakeAnthropic, FakeOpenAI, llm_policy

LINEAGE = {"policy": "llm-test", "version": "1.0.0", "sha256": "x", "run_id": "r1"}
TEMPLATE = "Record {id}. Customer {name} ({email}, {phone}) wrote: {notes}"
SYSTEM = "You summarise support tickets in one line."
CARD = "4111 1111 1111 1111"  # a Luhn-valid test card: CREDIT_CARD is never_send on the strict destinations


def _policy(servers: dict[str, FakeOpenAI | FakeAnthropic]) -> dict:
    destinations = {}
    for provider, server in servers.items():
        destinations[provider] = server.destination(prompt={"template": TEMPLATE, "system": SYSTEM},
                                                     max_retries=2, max_concurrency=3, timeout_s=10)
        destinations[f"{provider}-strict"] = server.destination(
            prompt={"template": TEMPLATE}, max_retries=2, never_send=["CREDIT_CARD"], jurisdictions=["EU"])
        ticket = {"template": "Ticket {ticket}: {notes}"}
        destinations[f"{provider}-ticket"] = server.destination(prompt=ticket)
    return llm_policy("llm-test", destinations)


class Env:
    """Both servers and one policy file naming them, shared by the module (spaCy loads once)."""

    def __init__(self, tmp: Path) -> None:
        self.servers = {"openai": FakeOpenAI(), "anthropic": FakeAnthropic()}
        self.path = tmp / "llm-policy.yaml"
        self.path.write_text(yaml.safe_dump(_policy(self.servers), sort_keys=False), encoding="utf-8")
        self.policy = load_policy(self.path)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_TEST_KEY", "sk-test-openai")
    mp.setenv("ANTHROPIC_TEST_KEY", "sk-ant-test")
    environment = Env(tmp_path_factory.mktemp("llm"))
    try:
        yield environment
    finally:
        environment.close()
        mp.undo()


@pytest.fixture(params=["openai", "anthropic"])
def provider(request, env) -> str:
    for server in env.servers.values():
        server.reset()
    return request.param


def rec(i: int, country: str = "DE", **extra) -> Record:
    return Record({**person_record(i, country), **extra}, RecordMeta("mem://tickets", f"item {i}"))


_OUT: dict[str, list] = {}


def _store(items, tag):
    _OUT[tag] = list(items)


def run_stage(env: Env, records: list[Record], destination: str, region: str | None = "eu-central-1",
              batch_size: int = 4) -> dict[str, list]:
    _OUT.clear()
    factory = PolicyEngineFactory(str(env.path), env.policy.identity.sha256)
    stage = SendToLlm(factory, str(env.path), env.policy.identity.sha256, destination, LINEAGE,
                      env.policy.residency, region, batch_size)
    with pipeline() as p:
        out = prepare_and_send(p | beam.Create(records), stage, env.policy.residency, 4 << 20)
        for tag in (RESULTS, HELD, REJECTED, ENTITIES, USAGE):
            out[tag] | f"List{tag}" >> beam.combiners.ToList() | f"Out{tag}" >> beam.Map(_store, tag)
    return dict(_OUT)


def prepare_and_send(records, stage: SendToLlm, residency, max_record_bytes: int) -> dict:
    """The run's prepare step, then the stage; rejected = both steps' (as ``redactline run`` counts them)."""
    prepared = records | PrepareRecords(max_record_bytes, residency)
    out = dict(prepared[PREPARED] | stage)
    out[REJECTED] = (prepared[REJECTED], out[REJECTED]) | "AllRejected" >> beam.Flatten()
    return out


def totals(pairs) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, n in pairs:
        out[key] = out.get(key, 0) + n
    return out


def sent_ids(server) -> set[str]:
    return {m.group(1) for text in server.user_texts() if (m := re.match(r"Record (\d+)\.", text))}


def assert_no_pii_reached(server) -> None:
    raw = b"\n".join(r.raw for r in server.requests).decode()
    leaked = [v for v in pii_values() + [CARD] if v in raw]
    assert leaked == [], f"PII reached the server: {leaked}"


# --------------------------------------------------------------------------------------------------


def test_redacted_prompts_out_reidentified_answers_back(env, provider):
    server = env.servers[provider]
    records = [rec(i, c) for i, c in enumerate(["DE", "FR", "US", "DE", "US", "FR"])]
    out = run_stage(env, records, provider)

    assert out[REJECTED] == [] and out[HELD] == []
    assert len(out[RESULTS]) == 6 and len(server.requests) == 6
    assert server.max_in_flight <= 3  # the destination's max_concurrency
    assert_no_pii_reached(server)
    assert all(PLACEHOLDER.search(t) for t in server.user_texts())  # pseudonyms, not blanks, went out
    first = server.requests[0].body
    system = first["system"] if provider == "anthropic" else first["messages"][0]["content"]
    assert system == SYSTEM

    by_ref = {r[LINEAGE_KEY]["ref"]: r for r in out[RESULTS]}
    for i in range(6):
        result = by_ref[f"item {i}"]
        name, email, phone = PEOPLE[i % len(PEOPLE)]
        answer = result["answer"]
        # the server echoed each placeholder with changed case/spacing; every one came back restored
        assert name in answer and email in answer and phone in answer
        assert not re.search(r"<\s*[A-Za-z_]+_\d+\s*>", answer), answer
        lineage = result[LINEAGE_KEY]
        assert {k: lineage[k] for k in LINEAGE} == LINEAGE
        assert lineage["source"] == "mem://tickets" and lineage["destination"] == provider
        assert lineage["model"] == f"fake-{provider}-model" and lineage["usage"]["attempts"] == 1
        other = PEOPLE[(i + 1) % len(PEOPLE)][0]
        assert other not in answer  # each answer is re-identified with its own record's vault only

    usage = totals(out[USAGE])
    assert set(usage) == set(USAGE_KEYS)
    assert usage["requests"] == 6 and usage["retries"] == 0
    assert usage["input_tokens"] == sum(r[LINEAGE_KEY]["usage"]["input_tokens"] for r in out[RESULTS]) > 0
    assert usage["output_tokens"] == sum(r[LINEAGE_KEY]["usage"]["output_tokens"] for r in out[RESULTS]) > 0
    entities = totals(out[ENTITIES])
    assert entities["EMAIL_ADDRESS"] == 6 and entities.get("PERSON", 0) >= 6
    # the output holds answers and PII-free lineage, never the prompt
    assert all(set(r) == {"answer", LINEAGE_KEY} for r in out[RESULTS])


def test_held_by_residency_or_egress_is_never_sent(env, provider):
    server = env.servers[provider]
    records = [
        rec(0, "DE"),  # sent
        rec(1, "BR"),  # residency: no rule
        rec(2, "XX"),  # residency: unknown jurisdiction
        rec(3, "US"),  # residency allows the US in the EU; the strict destination only serves the EU
        rec(4, "FR", notes=f"Please refund card {CARD} today."),  # never_send CREDIT_CARD
        rec(5, "FR"),  # sent
    ]
    out = run_stage(env, records, f"{provider}-strict")

    held = {r[LINEAGE_KEY]["held"]["ref"]: r for r in out[HELD]}
    reasons = {ref: r[LINEAGE_KEY]["held"]["reason"] for ref, r in held.items()}
    assert reasons == {"item 1": "no_rule", "item 2": "unknown_jurisdiction",
                       "item 3": "jurisdiction_not_allowed", "item 4": "never_send_entity"}
    assert sent_ids(server) == {"0", "5"} and len(server.requests) == 2
    assert {r[LINEAGE_KEY]["ref"] for r in out[RESULTS]} == {"item 0", "item 5"}
    assert_no_pii_reached(server)

    card_hold = held["item 4"][LINEAGE_KEY]["held"]
    assert card_hold["detail"] == "entity types that may never leave: CREDIT_CARD"
    assert card_hold["destination"] == f"{provider}-strict" and card_hold["region"] == "eu-central-1"
    # held records keep their redacted fields (no originals) and the run lineage
    dumped = json.dumps(out[HELD])
    assert [v for v in pii_values() + [CARD] if v in dumped] == []
    assert all(r[LINEAGE_KEY]["run_id"] == "r1" for r in out[HELD])
    assert totals(out[USAGE])["requests"] == 2


def test_retries_then_exhausted_quarantines_only_that_record(env, provider):
    server = env.servers[provider]
    server.fail_next(2, status=429, retry_after="0")  # transient: whoever comes first is retried
    server.fail_when("Record 3.", status=500, retry_after="0")  # persistent: record 3 never gets through
    records = [rec(i) for i in range(6)]
    out = run_stage(env, records, provider)

    [bad] = out[REJECTED]
    assert bad.reason == LLM_ERROR and bad.meta.ref == "item 3"
    assert "HTTP 500" in bad.detail and "after 3 attempt(s)" in bad.detail
    assert not [v for v in pii_values() if v in bad.detail] and "Record 3" not in bad.detail
    assert b"Daniel Kowalski" in bad.raw  # the original, for the sealed quarantine
    assert sorted(r[LINEAGE_KEY]["ref"] for r in out[RESULTS]) == [f"item {i}" for i in (0, 1, 2, 4, 5)]
    usage = totals(out[USAGE])
    assert usage["requests"] == 6
    # record 3: 2 retries; the two scripted 429s: 2 more (they may have hit record 3 too, adding at most 2)
    attempts = len(server.requests)
    assert usage["retries"] == attempts - 6 and 4 <= usage["retries"] <= 6
    assert sum(r[LINEAGE_KEY]["usage"]["attempts"] for r in out[RESULTS]) + 3 == attempts


def test_prompt_error_is_quarantined_and_not_sent(env):
    server = env.servers["openai"]
    server.reset()
    records = [rec(0, ticket="T-1"), rec(1), rec(2, ticket="T-3")]
    out = run_stage(env, records, "openai-ticket")
    [bad] = out[REJECTED]
    assert bad.reason == PROMPT_ERROR and bad.meta.ref == "item 1"
    assert "'ticket'" in bad.detail and "Robert" not in bad.detail
    assert len(server.requests) == 2 and len(out[RESULTS]) == 2
    assert sorted(t.split(":")[0] for t in server.user_texts()) == ["Ticket T-1", "Ticket T-3"]


def test_oversize_is_rejected_before_anything_is_sent(env, beam_pipeline):
    server = env.servers["anthropic"]
    server.reset()
    _OUT.clear()
    factory = PolicyEngineFactory(str(env.path), env.policy.identity.sha256)
    stage = SendToLlm(factory, str(env.path), env.policy.identity.sha256, "anthropic", LINEAGE,
                      env.policy.residency, "eu-central-1", 8)
    with beam_pipeline() as p:
        out = prepare_and_send(p | beam.Create([rec(0), rec(1, notes="x" * 5000)]), stage,
                               env.policy.residency, 2000)
        out[REJECTED] | beam.combiners.ToList() | beam.Map(_store, REJECTED)
    [bad] = _OUT[REJECTED]
    assert bad.reason == "oversize" and bad.meta.ref == "item 1"
    assert len(server.requests) == 1


def test_missing_api_key_fails_the_run_naming_the_variable(env, monkeypatch):
    monkeypatch.delenv("OPENAI_TEST_KEY")
    env.servers["openai"].reset()
    with pytest.raises(Exception, match="OPENAI_TEST_KEY"):
        run_stage(env, [rec(0)], "openai")
    assert env.servers["openai"].requests == []


def test_changed_policy_fails_the_run(env, beam_pipeline):
    factory = PolicyEngineFactory(str(env.path), env.policy.identity.sha256)
    stage = SendToLlm(factory, str(env.path), "0" * 64, "openai", LINEAGE, env.policy.residency,
                      "eu-central-1", 4)
    with pytest.raises(Exception, match="hash mismatch"), beam_pipeline() as p:
        p | beam.Create([rec(0)]) | stage


def test_residency_policy_without_region_is_refused(env):
    factory = PolicyEngineFactory(str(env.path), env.policy.identity.sha256)
    with pytest.raises(ValueError, match="region"):
        SendToLlm(factory, str(env.path), env.policy.identity.sha256, "openai", LINEAGE,
                  env.policy.residency, None, 4)


def test_field_names_quarantine_holds_back_records_with_pii_in_a_key(tmp_path):
    """``transforms.field_names: quarantine`` applies on the LLM route as on the plain one."""
    server = FakeOpenAI()
    try:
        document = llm_policy("llm-names", {"openai": server.destination(prompt={"template": TEMPLATE})})
        document["transforms"]["field_names"] = "quarantine"
        path = tmp_path / "names.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        policy = load_policy(path)
        env = type("NamesEnv", (), {"path": path, "policy": policy})()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPENAI_TEST_KEY", "sk-test-openai")
            out = run_stage(env, [rec(0), rec(1, **{"zebulon.q@rtleak.com": "x"})], "openai")
    finally:
        server.close()
    [bad] = out[REJECTED]
    assert bad.reason == FIELD_NAME_PII and bad.meta.ref == "item 1"
    assert "zebulon" not in bad.detail and "EMAIL_ADDRESS" in bad.detail
    assert len(out[RESULTS]) == 1 and len(server.requests) == 1
    assert b"zebulon" not in b"\n".join(r.raw for r in server.requests)
