"""``redactline run`` to a policy enclave destination with a ``generate`` task, on 127.0.0.1.

The service runs a deterministic echo model (``EchoBackend`` of tests/enclave_sink/test_tasks.py): the
answer quotes the prompt, which the client rendered from the *pseudonymised* record. What is under test
is the route: the task sealed with the batch, several batches in flight per worker, results in the
right record, and re-identification on the worker with each record's own vault.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.pipelines.run import run
from redactline.policies import load_policy
from tests.enclave_sink.test_tasks import EchoBackend
from tests.support.pii import person_record, pii_values, scan_for
from tests.support.servers import llm_policy
from tests.support.wire_proxy import WireProxy

KEY_HEX = "33" * 32
REGION = "eu-central-1"
RECORDS = 14
TEMPLATE = "Ticket {id} from {name}: {notes}"


@pytest.mark.slow
def test_generate_results_are_reidentified_in_order_with_batches_in_flight(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    rows = [person_record(i, country=("DE", "FR", "US", "ZZ")[i % 4]) for i in range(RECORDS)]
    src = tmp_path / "people.csv"
    with src.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    provider = SimulatedNitroProvider()
    root = tmp_path / "root.pem"
    root.write_bytes(provider.simulator.root_pem)
    with WireProxy("http://127.0.0.1:9") as proxy:
        destination = {"kind": "enclave", "region": REGION, "url": proxy.url,
                       "task": {"kind": "generate", "prompt": TEMPLATE, "max_tokens": 16}}
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(llm_policy("enclave-tasks", {"summarise": destination})))
        allowed = frozenset({load_policy(policy).identity.sha256})
        config = ServiceConfig(region=REGION, allowed_policy_hashes=allowed,
                               allowed_tasks=frozenset({"generate"}))
        with ServiceThread(build_service(config, provider=provider, backend=EchoBackend())) as service:
            proxy.target = service.base_url
            sink = str(tmp_path / "out" / "r.jsonl")
            code = run(["--policy", str(policy), "--source", str(src), "--sink", sink,
                        "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--destination", "summarise",
                        "--enclave-root", str(root), "--unsafe-allow-simulated",
                        "--enclave-batch-records", "2", "--enclave-in-flight", "3"])
        wire = proxy.all_bytes().decode("latin-1")
    assert code == 0
    sent = [r for r in rows if r["country"] != "ZZ"]  # ZZ: unknown jurisdiction, held by residency
    manifest = json.loads((tmp_path / "out" / "r.manifest.json").read_text())
    counts, dest = manifest["counts"], manifest["destination"]
    assert counts["delivered"] == len(sent) and counts["held"]["total"] == RECORDS - len(sent)
    assert counts["quarantined"]["total"] == 0 and manifest["check"]["holds"]
    assert dest["counts"]["records_sent"] == dest["counts"]["results_received"] == len(sent)
    assert dest["counts"]["sealed_batches"] >= len(sent) // 2 and dest["task"]["kind"] == "generate"

    results = [json.loads(line) for line in (tmp_path / "out" / "r.jsonl").read_text().splitlines()]
    # every sent record exactly once, each with the answer to ITS prompt, re-identified from its own vault
    by_text = sorted(r["result"]["text"] for r in results)
    assert by_text == sorted(f"echo: {TEMPLATE.format(**row)}" for row in sent)
    assert len({r["_redactline"]["ref"] for r in results}) == len(sent)
    for r in results:  # ...and in its own record: CSV refs are "line N", the header is line 1
        row = rows[int(r["_redactline"]["ref"].split()[-1]) - 2]
        assert r["result"]["text"] == f"echo: {TEMPLATE.format(**row)}"
    assert all(r["_redactline"]["task"] == "generate" for r in results)
    assert all(r["result"]["completion_tokens"] >= 1 for r in results)
    # the enclave saw pseudonyms only: no name, e-mail or phone number crossed the wire, in any form
    assert proxy.batch_requests == dest["counts"]["sealed_batches"]
    assert scan_for([], pii_values(), extra_text=wire) == []
    assert "Ticket " not in wire  # the prompts travel sealed


@pytest.mark.slow
def test_real_llm_generate_result_is_reidentified_on_the_worker(tmp_path: Path, monkeypatch):
    """The bundled SmolLM2 model (``--backend llm``) answers from the pseudonymised prompt; the worker
    puts the real name back. Greedy decoding: this prompt makes the model quote ``<NAME_1>``."""
    from redactline.enclave_sink.server.llm_backend import LlamaCppBackend

    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    row = person_record(0)
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps(row) + "\n")
    provider = SimulatedNitroProvider()
    root = tmp_path / "root.pem"
    root.write_bytes(provider.simulator.root_pem)
    backend = LlamaCppBackend()
    try:
        with WireProxy("http://127.0.0.1:9") as proxy:
            prompt = "Ticket from {name}: {notes}\nWho wrote this ticket? Answer with the name only."
            task = {"kind": "generate", "max_tokens": 24, "prompt": prompt}
            policy = tmp_path / "policy.yaml"
            policy.write_text(yaml.safe_dump(llm_policy("enclave-llm", {"ask": {
                "kind": "enclave", "region": REGION, "url": proxy.url, "task": task}})))
            allowed = frozenset({load_policy(policy).identity.sha256})
            service = build_service(ServiceConfig(region=REGION, allowed_policy_hashes=allowed),
                                    provider=provider, backend=backend)
            assert service.attested_config["allowed_tasks"] == ["analyze", "classify", "generate"]
            with ServiceThread(service) as thread:
                proxy.target = thread.base_url
                sink = str(tmp_path / "r.jsonl")
                code = run(["--policy", str(policy), "--source", str(src), "--sink", sink,
                            "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--destination", "ask",
                            "--enclave-root", str(root), "--unsafe-allow-simulated"])
            wire = proxy.all_bytes().decode("latin-1")
    finally:
        backend.close()
    assert code == 0
    [result] = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    text = result["result"]["text"]
    assert row["name"] in text and "<NAME_1>" not in text  # the model wrote <NAME_1>; the worker restored it
    assert 1 <= result["result"]["completion_tokens"] <= 24
    assert scan_for([], pii_values(), extra_text=wire) == []  # the enclave never saw the name
