"""``redactline run`` to a simulated SEV-SNP enclave service: ``--enclave-tee`` pins the TEE type.

A real service on 127.0.0.1 (the UNSAFE simulated SNP provider, real report format; a small backend
that answers with each record's field names, since the backend is not what is tested here);
a run pinned to sev-snp delivers, one pinned to nitro (the default) or to another type stops at
attestation with a message naming the TEE types instead of a parse error of the wrong format.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedSnpProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.pipelines.run import run
from redactline.policies import load_policy
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record

KEY_HEX = "33" * 32
REGION = "eu-central-1"  # the demo policy's enclave destination's region; DE records may go there
RECORDS = 3


class FieldsBackend:
    """Answers each (redacted) record with its field names: no model to load."""

    name = "fields"
    model_id = "fields-1"
    model_digest = "sha256:" + "11" * 32

    def infer(self, records: list[Any]) -> list[dict[str, Any]]:
        return [{"fields": sorted(record)} for record in records]


def test_run_pinned_to_sev_snp_delivers_and_nitro_pin_says_why_not(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    # The demo policy with this service's URL and a pinned TEE type on its enclave destination (its
    # task, last, needs the LLM backend: cut off, as in test_enclave_run).
    text = DEMO_POLICY.read_text().split("    task:\n")[0]
    assert "    region: eu-central-1\n" in text
    provider = SimulatedSnpProvider()
    src = tmp_path / "people.csv"
    with src.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person_record(0)))
        writer.writeheader()
        writer.writerows(person_record(i) for i in range(RECORDS))
    root = tmp_path / "root.pem"
    root.write_bytes(provider.simulator.root_pem)
    pcrs = tmp_path / "measurements.yaml"  # the SNP launch measurement, as an operator would pin it
    measurement = provider.simulator.measurement.hex()
    pcrs.write_text(f"tees:\n  sev-snp:\n    measurements:\n      MEASUREMENT: ['{measurement}']\n")
    policy_tdx = tmp_path / "policy-tdx.yaml"

    def args(*extra: str, destination: str, policy: Path = DEMO_POLICY, out: str = "out") -> list[str]:
        sink = tmp_path / out / "results.jsonl"
        return ["--policy", str(policy), "--source", str(src), "--sink", str(sink),
                "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--destination", destination,
                "--enclave-root", str(root), "--unsafe-allow-simulated", "--pcr-policy", str(pcrs), *extra]

    allowed = frozenset({load_policy(DEMO_POLICY).identity.sha256})
    service = build_service(ServiceConfig(region=REGION, allowed_policy_hashes=allowed), provider=provider,
                            backend=FieldsBackend())
    with ServiceThread(service) as thread:
        url = f"enclave:{thread.base_url}"
        assert run(args("--enclave-tee", "sev-snp", "--enclave-allow-tcb-unknown", destination=url)) == 0
        manifest = json.loads((tmp_path / "out" / "results.manifest.json").read_text())
        assert manifest["counts"]["delivered"] == RECORDS
        assert manifest["destination"]["counts"]["results_received"] == RECORDS
        assert manifest["destination"]["unsafe_root"] is True
        assert {e["tee"] for e in manifest["destination"]["evidence"]} == {"sev-snp"}  # driver, worker
        results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
        assert len(results) == RECORDS and all("notes" in r["result"]["fields"] for r in results)
        capsys.readouterr()

        assert run(args(destination=url, out="nitro")) == 1  # --enclave-tee defaults to nitro
        err = capsys.readouterr().err
        assert ("attestation document is not a Nitro document (pinned --enclave-tee nitro, the default); "
                "the service sent what looks like SEV-SNP evidence: if that is the TEE to trust, run with "
                "--enclave-tee sev-snp; nothing was sent") in err
        assert "COSE" not in err and not (tmp_path / "nitro" / "results.jsonl").exists()

        # The policy destination may pin the type itself; --enclave-tee must then agree with it.
        policy_tdx.write_text(text.replace("    region: eu-central-1\n",
                                           f"    region: eu-central-1\n    url: {thread.base_url}\n"
                                           "    tee: tdx\n"))
        assert run(args(destination="enclave-eu", policy=policy_tdx, out="tdx")) == 1
        assert "is not a TDX document (pinned the policy destination's tee tdx)" in capsys.readouterr().err
        conflict = args("--enclave-tee", "sev-snp", destination="enclave-eu", policy=policy_tdx, out="x")
        assert run(conflict) == 2
        err = capsys.readouterr().err
        assert "--enclave-tee sev-snp differs from the policy destination's tee tdx" in err
