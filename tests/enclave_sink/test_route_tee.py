"""The enclave route end to end on 127.0.0.1 with simulated SEV-SNP and TDX services.

The service attests with an UNSAFE simulated provider (real report/quote format, locally generated
roots); the client pins the TEE type and the measurements it expects, verifies, seals, and opens the
reply. A client pinned to another TEE type or other measurements refuses the service.
"""

from __future__ import annotations

import pytest

from redactline.enclave_sink.client import AttestationRejected, EnclaveClient, EnclaveTrust
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedSnpProvider, SimulatedTdxProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "ab" * 32
REGION = "eu-west-1"
RECORDS = [{"id": "1", "text": "<PERSON> flew from Paris to Berlin on Monday."}]


@pytest.fixture(scope="module")
def backend() -> SpacyAnalysisBackend:
    return SpacyAnalysisBackend()


def _provider(tee: str):
    return SimulatedSnpProvider() if tee == "sev-snp" else SimulatedTdxProvider()


def _measurements(tee: str, provider) -> dict:
    sim = provider.simulator
    if tee == "sev-snp":
        return {"MEASUREMENT": [sim.measurement.hex()]}
    return {"MRTD": [sim.mrtd.hex()], "RTMR0": [sim.rtmrs[0].hex()]}


@pytest.mark.parametrize("tee", ["sev-snp", "tdx"])
def test_route_round_trip(backend, tee):
    provider = _provider(tee)
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}))
    service = build_service(config, provider=provider, backend=backend)
    policy = {"tees": {tee: {"measurements": _measurements(tee, provider)}}}
    with ServiceThread(service) as thread:
        trust = EnclaveTrust(root_pem=provider.simulator.root_pem, allow_unsafe_root=True, pcr_policy=policy,
                             tee=tee, allow_tcb_unknown=True)
        client = EnclaveClient(thread.base_url, trust.verifier(), policy_hash=POLICY, region=REGION)
        try:
            session = client.attest()
            assert session.verified.tee == tee and session.verified.trusted_root_unsafe
            results = client.process(RECORDS, policy_hash=POLICY, region=REGION)
            assert len(results) == 1
        finally:
            client.close()

        other = "tdx" if tee == "sev-snp" else "sev-snp"
        wrong_tee = EnclaveTrust(root_pem=provider.simulator.root_pem, allow_unsafe_root=True, tee=other,
                                 pcr_policy=policy, allow_tcb_unknown=True)
        first = next(iter(_measurements(tee, provider)))
        wrong_measure = EnclaveTrust(
            root_pem=provider.simulator.root_pem, allow_unsafe_root=True, tee=tee, allow_tcb_unknown=True,
            pcr_policy={"tees": {tee: {"measurements": {first: ["00" * 48]}}}},
        )
        for trust_, reason in ((wrong_tee, "tee"), (wrong_measure, "not in the allowlist")):
            client = EnclaveClient(thread.base_url, trust_.verifier())
            try:
                with pytest.raises(AttestationRejected, match=reason):
                    client.attest()
            finally:
                client.close()
