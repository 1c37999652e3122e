"""EnclaveClient.send against a real simulated service on 127.0.0.1: the checks the pipeline relies on."""

from __future__ import annotations

import datetime as dt
import random
import socket

import pytest

from redactline.enclave_sink import envelope
from redactline.enclave_sink.client import (
    ENCLAVE_REFUSED,
    ENCLAVE_UNAVAILABLE,
    AttestationRejected,
    BatchFailed,
    EnclaveClient,
    EnclaveTrust,
    RetryPolicy,
)
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "ab" * 32
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def running():
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}))
    with ServiceThread(build_service(config, provider=provider, backend=SpacyAnalysisBackend())) as thread:
        yield thread, EnclaveTrust(root_pem=provider.simulator.root_pem, allow_unsafe_root=True)


def _client(running, **kwargs) -> EnclaveClient:
    thread, trust = running
    retry = RetryPolicy(attempts=2, backoff=0.01, sleep=lambda seconds: None)  # retries do not wait
    return EnclaveClient(thread.base_url, trust.verifier(), retry=retry, **kwargs)


def test_an_unreachable_enclave_is_retried_with_jittered_backoff_then_fails(running):
    _, trust = running
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    retry = RetryPolicy(attempts=3, backoff=0.5, max_backoff=8.0, sleep=slept.append, rng=random.Random(3))
    with EnclaveClient(f"http://127.0.0.1:{port}", trust.verifier(), retry=retry) as client, \
            pytest.raises(BatchFailed) as err:
        client.send([{"text": "x"}], policy_hash=POLICY, region=REGION, batch_id="b-gone")
    assert err.value.reason == ENCLAVE_UNAVAILABLE and "3 attempts failed" in str(err.value)
    assert len(slept) == 2 and 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0
    assert client.stats.retries == 2


def test_send_carries_non_json_values_as_text(running):
    with _client(running, policy_hash=POLICY, region=REGION) as client:
        when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
        results = client.send([{"seen": when, "text": "Met in Paris."}], policy_hash=POLICY, region=REGION,
                              batch_id="b-dates")
    assert results[0]["fields"]["seen"]["tokens"] >= 1


def test_a_batch_too_large_to_seal_fails_as_refused(running, monkeypatch):
    monkeypatch.setattr(envelope, "MAX_PLAINTEXT_BYTES", 100)
    with _client(running) as client, pytest.raises(BatchFailed) as err:
        client.send([{"text": "x" * 200}], policy_hash=POLICY, region=REGION, batch_id="b-big")
    assert err.value.reason == ENCLAVE_REFUSED and "x" * 20 not in str(err.value)


def test_policy_and_region_are_checked_against_the_attested_config(running):
    client = _client(running, policy_hash="cd" * 32)
    with client, pytest.raises(AttestationRejected, match="policy"):
        client.attest()
    with _client(running, region="us-east-1") as client, pytest.raises(AttestationRejected, match="region"):
        client.attest()


def test_trust_refuses_an_unsafe_root_without_the_flag_and_a_real_root_without_pcrs(running):
    _, trust = running
    with pytest.raises(AttestationRejected, match="unsafe-allow-simulated"):
        EnclaveTrust(root_pem=trust.root_pem).verifier()
    with pytest.raises(AttestationRejected, match="PCR policy"):
        EnclaveTrust().verifier()  # the AWS root, no measurements: never accepted
