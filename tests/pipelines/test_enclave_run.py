"""``redactline run --destination enclave:URL`` against a real simulated enclave service on 127.0.0.1.

Between the pipeline and the service sits a recording proxy (``wire_proxy.py``): every HTTP message is
kept as it crossed the wire, and faults are injected per batch request.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from redactline.enclave_sink.server.backends import BackendError, SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.enclave_sink.simulator import default_pcrs
from redactline.pipelines.quarantine import read_entries
from redactline.pipelines.run import run
from redactline.policies import load_policy
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record, pii_values, scan_for
from tests.support.wire_proxy import WireProxy

KEY_HEX = "22" * 32
REGION = "eu-central-1"
RECORDS = 24


@pytest.fixture(scope="module")
def backend() -> SpacyAnalysisBackend:
    return SpacyAnalysisBackend()


@pytest.fixture(scope="module")
def provider() -> SimulatedNitroProvider:
    return SimulatedNitroProvider()  # one simulator (one test root) for every service of this module


def new_service(backend, provider, region: str = REGION):
    allowed = frozenset({load_policy(DEMO_POLICY).identity.sha256})
    config = ServiceConfig(region=region, allowed_policy_hashes=allowed)
    return build_service(config, provider=provider, backend=backend)


def write_people(path: Path, n: int = RECORDS) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person_record(0)))
        writer.writeheader()
        for i in range(n):
            writer.writerow(person_record(i, country=("DE", "FR", "US", "ZZ")[i % 4]))


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def enclave_args(tmp_path: Path, url: str, provider: SimulatedNitroProvider, *extra: str) -> list[str]:
    root = tmp_path / "root.pem"
    root.write_bytes(provider.simulator.root_pem)
    src = tmp_path / "people.csv"
    if not src.exists():
        write_people(src)
    return [
        "--policy", str(DEMO_POLICY), "--source", str(src), "--sink", str(tmp_path / "out" / "results.jsonl"),
        "--quarantine-key-env", "RL_TEST_QKEY", "--quiet",
        "--destination", f"enclave:{url}", "--enclave-root", str(root), "--unsafe-allow-simulated",
        "--enclave-batch-records", "4", *extra,
    ]


def manifest(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "results.manifest.json").read_text())


# ZZ is no known jurisdiction: held. DE, FR (EU) and US may go to eu-central-1.
EXPECTED_SENT = sum(1 for i in range(RECORDS) if i % 4 != 3)


@pytest.mark.slow
def test_records_go_sealed_to_the_enclave_and_results_come_back(tmp_path, monkeypatch, backend, provider):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    pcr_policy = tmp_path / "pcrs.yaml"
    pcr_policy.write_text(f"pcrs:\n  0: ['{default_pcrs()[0].hex()}']\n")
    with ServiceThread(new_service(backend, provider)) as service, WireProxy(service.base_url) as proxy:
        code = run(enclave_args(tmp_path, proxy.url, provider, "--pcr-policy", str(pcr_policy)))
        wire = proxy.all_bytes()
        claimed = set(service.service.keyring.current().seen_batch_ids)
    assert code == 0
    m = manifest(tmp_path)
    counts, sent = m["counts"], m["destination"]["counts"]
    assert counts["delivered"] == EXPECTED_SENT and counts["held"]["total"] == RECORDS - EXPECTED_SENT
    assert m["check"]["holds"] and counts["quarantined"]["total"] == 0
    assert sent["records_sent"] == sent["results_received"] == EXPECTED_SENT
    assert sent["sealed_batches"] == len(claimed) == -(-EXPECTED_SENT // 4)  # batches of at most 4
    assert m["destination"]["region"] == REGION and m["destination"]["unsafe_root"] is True

    results = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert len(results) == EXPECTED_SENT
    assert len({r["_redactline"]["ref"] for r in results}) == EXPECTED_SENT
    # Real inference ran on the redacted record: the spaCy backend reports the fields it analysed.
    assert all("notes" in r["result"]["fields"] for r in results)

    # On the wire: neither the input PII nor any redacted record in plaintext.
    assert proxy.batch_requests == len(claimed)
    text = wire.decode("latin-1")
    assert scan_for([], pii_values(), extra_text=text) == []
    for marker in ("<NAME>", "<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "asked us to call", '"notes"'):
        assert marker not in text
    # ...and the outputs hold no input PII either.
    assert scan_for([tmp_path / "out"], pii_values()) == []


def test_enclave_restart_mid_run_reattests_and_loses_nothing(tmp_path, monkeypatch, backend, provider):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    first, second = new_service(backend, provider), new_service(backend, provider)
    with ServiceThread(first) as a, ServiceThread(second) as b, WireProxy(a.base_url) as proxy:
        proxy.switch_after = (2, b.base_url)  # after two batches the "restarted" enclave answers
        # one batch in flight: "after two batches" must not race with a third already on its way
        code = run(enclave_args(tmp_path, proxy.url, provider, "--enclave-in-flight", "1"))
    assert code == 0
    m = manifest(tmp_path)
    sent = m["destination"]["counts"]
    assert m["check"]["holds"] and m["counts"]["quarantined"]["total"] == 0
    assert sent["reattestations"] >= 1 and sent["results_received"] == EXPECTED_SENT
    first_ids = set(first.keyring.current().seen_batch_ids)
    second_ids = set(second.keyring.current().seen_batch_ids)
    assert len(first_ids) == 2 and second_ids and not first_ids & second_ids
    results = read_jsonl(tmp_path / "out" / "results.jsonl")
    refs = [r["_redactline"]["ref"] for r in results]
    assert len(refs) == len(set(refs)) == EXPECTED_SENT  # nothing lost, nothing twice


def test_5xx_and_timeouts_are_retried_then_the_batch_is_quarantined(tmp_path, monkeypatch, backend, provider):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    with ServiceThread(new_service(backend, provider)) as service, WireProxy(service.base_url) as proxy:
        proxy.fail_batches = 3  # batch 1: 503, 503 -> quarantined; batch 2: 503 then accepted
        proxy.stall_batches = 0
        # one batch in flight: the injected faults hit the batches in a known order
        code = run(enclave_args(tmp_path, proxy.url, provider, "--enclave-attempts", "2",
                                "--enclave-in-flight", "1"))
        assert code == 0
        m = manifest(tmp_path)
        sent = m["destination"]["counts"]
        assert m["check"]["holds"]
        assert m["counts"]["quarantined"]["by_reason"] == {"enclave_unavailable": 4}
        assert m["counts"]["delivered"] == EXPECTED_SENT - 4 == sent["results_received"]
        assert sent["failed_batches"] == 1 and sent["retries"] >= 2

        # Timeouts: the first batch is held past the client's timeout twice, then quarantined.
        out2 = tmp_path / "t"
        out2.mkdir()
        proxy.stall_batches = 2
        args = enclave_args(tmp_path, proxy.url, provider, "--enclave-attempts", "2",
                            "--enclave-timeout", "1", "--enclave-in-flight", "1")
        args[args.index("--sink") + 1] = str(out2 / "results.jsonl")
        assert run(args) == 0
    m2 = json.loads((out2 / "results.manifest.json").read_text())
    assert m2["check"]["holds"] and m2["counts"]["quarantined"]["by_reason"] == {"enclave_unavailable": 4}
    entries = list(read_entries(str(out2 / "results.quarantine.jsonl"), bytes.fromhex(KEY_HEX)))
    assert {e["reason"] for e in entries} == {"enclave_unavailable"}
    assert all("ReadTimeout" in e["detail"] for e in entries)
    assert all(b"<NAME>" in e["raw"] for e in entries)  # the redacted record is kept, sealed


def test_a_lost_reply_is_never_processed_twice(tmp_path, monkeypatch, backend, provider):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    with ServiceThread(new_service(backend, provider)) as service, WireProxy(service.base_url) as proxy:
        proxy.drop_replies = 1  # the enclave processes batch 1, but its reply never arrives
        code = run(enclave_args(tmp_path, proxy.url, provider))
        claimed = service.service.keyring.current().seen_batch_ids
    assert code == 0
    m = manifest(tmp_path)
    # The retry carried the same batch id: the enclave refused it as a replay instead of redoing it.
    assert proxy.forwarded_batches == len(claimed) + 1
    assert m["counts"]["quarantined"]["by_reason"] == {"enclave_replay": 4} and m["check"]["holds"]


class FailsOnce:
    """The real backend behind a model server that fails its first call (502 ``backend-failed``)."""

    def __init__(self, inner: SpacyAnalysisBackend) -> None:
        self.inner, self.failed = inner, False
        self.name, self.model_id, self.model_digest = inner.name, inner.model_id, inner.model_digest

    def infer(self, records):
        if not self.failed:
            self.failed = True
            raise BackendError("injected model server failure")
        return self.inner.infer(records)


def test_a_backend_failure_is_retried_and_delivered_not_quarantined(tmp_path, monkeypatch, backend, provider):
    # Before (issue 14): the batch id was claimed before inference, so the retry after the 502 was
    # refused as a replay and its 4 records were quarantined enclave_replay though nothing was processed.
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    allowed = frozenset({load_policy(DEMO_POLICY).identity.sha256})
    config = ServiceConfig(region=REGION, allowed_policy_hashes=allowed)
    service = build_service(config, provider=provider, backend=FailsOnce(backend))
    with ServiceThread(service) as thread, WireProxy(thread.base_url) as proxy:
        assert run(enclave_args(tmp_path, proxy.url, provider)) == 0
        committed = service.keyring.current().seen_batch_ids
    m = manifest(tmp_path)
    counts, sent = m["counts"], m["destination"]["counts"]
    assert counts["quarantined"]["total"] == 0 and counts["delivered"] == EXPECTED_SENT
    assert counts["read"] == counts["delivered"] + counts["held"]["total"] + counts["quarantined"]["total"]
    assert m["check"]["holds"] and sent["retries"] >= 1 and sent["results_received"] == EXPECTED_SENT
    assert proxy.forwarded_batches == len(committed) + 1  # the failed attempt, then one per batch


def test_an_unexpected_pcr_stops_the_run_before_anything_is_sent(tmp_path, monkeypatch, backend, provider,
                                                                 capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    pcr_policy = tmp_path / "pcrs.yaml"
    pcr_policy.write_text("pcrs:\n  0: ['" + "ab" * 48 + "']\n")
    with ServiceThread(new_service(backend, provider)) as service, WireProxy(service.base_url) as proxy:
        code = run(enclave_args(tmp_path, proxy.url, provider, "--pcr-policy", str(pcr_policy)))
    assert code == 1
    assert "PCR0" in capsys.readouterr().err
    assert proxy.batch_requests == 0 and not (tmp_path / "out" / "results.jsonl").exists()


def test_enclave_flags_are_checked(tmp_path, monkeypatch, backend, provider, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    with ServiceThread(new_service(backend, provider, region="us-east-1")) as service:
        args = enclave_args(tmp_path, service.base_url, provider)
        # The simulator's root without the explicit unsafe flag: a usage error, nothing contacted.
        assert run([a for a in args if a != "--unsafe-allow-simulated"]) == 2
        assert "--unsafe-allow-simulated" in capsys.readouterr().err
        # The policy's residency allows EU records to EU regions only: the US enclave gets no EU record.
        assert run(args) == 0
        held = manifest(tmp_path)["counts"]["held"]["by_reason"]
        assert held["region_not_allowed"] > 0
    bad_url = list(args)
    bad_url[bad_url.index("--destination") + 1] = "enclave:ftp://x"
    assert run(bad_url) == 2



def test_a_policy_destination_with_a_url_is_an_enclave(tmp_path, monkeypatch, backend, provider):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    text = DEMO_POLICY.read_text().split("    task:\n")[0]  # (the demo's task, last, needs the llm backend)
    assert "    region: eu-central-1\n" in text
    with WireProxy("http://127.0.0.1:9") as proxy:  # its port is known now; the target is set below
        policy = tmp_path / "policy.yaml"
        policy.write_text(text.replace("    region: eu-central-1\n",
                                       f"    region: eu-central-1\n    url: {proxy.url}\n"))
        args = enclave_args(tmp_path, "unused", provider)
        args[args.index("--policy") + 1] = str(policy)
        args[args.index("--destination") + 1] = "enclave-eu"
        # An enclave that allows only the demo policy's hash refuses this policy at attestation.
        with ServiceThread(new_service(backend, provider)) as service:
            proxy.target = service.base_url
            assert run(args) == 1
        assert proxy.batch_requests == 0
        allowed = frozenset({load_policy(policy).identity.sha256})
        config = ServiceConfig(region=REGION, allowed_policy_hashes=allowed)
        with ServiceThread(build_service(config, provider=provider, backend=backend)) as service:
            proxy.target = service.base_url
            assert run(args) == 0
    assert manifest(tmp_path)["destination"]["counts"]["results_received"] == EXPECTED_SENT
