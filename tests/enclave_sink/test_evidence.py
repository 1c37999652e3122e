"""Run evidence: the manifest keeps each verified attestation and ``enclave verify --manifest`` re-checks it;
a real Nitro document's chain region must be the region the service attests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.docio import decode_document
from redactline.enclave_sink.errors import AttestationError
from redactline.enclave_sink.evidence_log import chain_region, check_chain_region, evidence_entry, reverify
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.enclave_sink.verify_any import VerifyOptions
from redactline.pipelines.cli import main as cli_main
from redactline.pipelines.run import run
from redactline.policies import load_policy
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "test-vectors" / "attestation" / "nitro"
PROD_DOC = VECTORS / "anjuna-go-nitro-attestation" / "attestdoc" / "testdata" / "sample_prod_doc.bin"
REGION = "eu-central-1"
ALLOWED = frozenset({load_policy(DEMO_POLICY).identity.sha256})


@pytest.fixture(scope="module")
def backend() -> SpacyAnalysisBackend:
    return SpacyAnalysisBackend()


def _verify_real(path: Path):
    """A real document verified at its own time (its chain expired long ago)."""
    import cbor2

    raw = decode_document(path.read_bytes())
    cose = cbor2.loads(raw)
    payload = cbor2.loads((cose.value if hasattr(cose, "value") else cose)[2])
    at = dt.datetime.fromtimestamp(payload["timestamp"] / 1000, dt.UTC)
    return raw, NitroAttestationVerifier(clock=lambda: at, allow_debug=True).verify(raw)


@pytest.mark.skipif(not PROD_DOC.exists(), reason="needs ../shared/test-vectors")
def test_real_nitro_chain_names_its_region_and_a_mismatch_fails():
    _, verified = _verify_real(PROD_DOC)
    assert chain_region(verified) == "us-east-2"
    check_chain_region(verified, "us-east-2")
    with pytest.raises(AttestationError, match="us-east-2"):
        check_chain_region(verified, "eu-central-1")


@pytest.mark.skipif(not PROD_DOC.exists(), reason="needs ../shared/test-vectors")
def test_reverify_refuses_a_real_document_whose_attested_region_differs():
    raw, verified = _verify_real(PROD_DOC)
    entry = evidence_entry(verified, raw, {"region": "eu-central-1", "model_digest": None})
    entry["verified_at"] = verified.timestamp.isoformat()
    check = reverify(entry, VerifyOptions(allow_debug=True))
    # the config is not the one bound in user_data (this document carries none) and the region differs:
    # either way the evidence fails, and never passes
    assert not check.ok


def _run(tmp_path: Path, url: str, provider: SimulatedNitroProvider, *extra: str) -> int:
    root = tmp_path / "root.pem"
    root.write_bytes(provider.simulator.root_pem)
    src = tmp_path / "people.csv"
    import csv

    with src.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person_record(0)))
        writer.writeheader()
        for i in range(8):
            writer.writerow(person_record(i, country="DE"))
    return run([
        "--policy", str(DEMO_POLICY), "--source", str(src), "--sink", str(tmp_path / "out" / "r.jsonl"),
        "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--destination", f"enclave:{url}",
        "--enclave-root", str(root), "--unsafe-allow-simulated", "--enclave-batch-records", "3", *extra,
    ])


def test_manifest_keeps_evidence_and_verify_manifest_rechecks_it(tmp_path, monkeypatch, backend, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", "22" * 32)
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region=REGION, allowed_policy_hashes=ALLOWED)
    with ServiceThread(build_service(config, provider=provider, backend=backend)) as service:
        assert _run(tmp_path, service.base_url, provider, "--enclave-model-digest", backend.model_digest) == 0
    path = tmp_path / "out" / "r.manifest.json"
    manifest = json.loads(path.read_text())
    destination = manifest["destination"]
    assert destination["model_digest"] == destination["model_digest_pinned"] == backend.model_digest
    evidence = destination["evidence"]
    assert not any(k.startswith("evidence:") for k in destination["counts"])
    roles = {role for e in evidence for role in e["roles"]}
    assert roles == {"driver", "worker"}  # driver and workers attest separately: every one is listed
    assert len({e["document_sha256"] for e in evidence}) == len(evidence)
    assert sum(e.get("records", 0) for e in evidence) == manifest["counts"]["delivered"] == 8
    for entry in evidence:
        assert entry["document_b64"] and entry["model_digest"] == backend.model_digest
        assert entry["config"]["region"] == REGION and "0" in entry["pcrs"]
    root = tmp_path / "root.pem"
    capsys.readouterr()
    assert cli_main(["enclave", "verify", "--manifest", str(path), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("): PASS") == len(evidence) and "verdict: PASS" in out

    # A changed model digest in the kept configuration no longer matches the attested user_data.
    tampered = json.loads(path.read_text())
    tampered["destination"]["evidence"][0]["config"]["model_digest"] = "sha256:" + "0" * 64
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    args = ["enclave", "verify", "--manifest", str(bad), "--root", str(root), "--format", "json"]
    assert cli_main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "FAIL" and report["evidence"][0]["verdict"] == "FAIL"
    # Without the simulator's root the evidence does not chain to AWS: it fails too.
    assert cli_main(["enclave", "verify", "--manifest", str(path)]) == 1


def test_a_run_pinning_another_model_digest_stops_before_sending(tmp_path, monkeypatch, backend, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", "22" * 32)
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region=REGION, allowed_policy_hashes=ALLOWED)
    with ServiceThread(build_service(config, provider=provider, backend=backend)) as service:
        code = _run(tmp_path, service.base_url, provider, "--enclave-model-digest", "sha256:" + "0" * 64)
        sent = len(service.service.keyring.current().seen_batch_ids)
    assert code != 0 and sent == 0
    assert "model digest" in capsys.readouterr().err
