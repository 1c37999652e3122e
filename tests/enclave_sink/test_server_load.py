"""Many concurrent clients against one service instance: all answered, memory stays bounded."""

from __future__ import annotations

import threading
import tracemalloc

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import EnclaveClient
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "ef" * 32
THREADS, BATCHES = 20, 5


def _run_clients(base_url: str, verifier: NitroAttestationVerifier, rounds: int) -> list[str]:
    errors: list[str] = []

    def worker(n: int) -> None:
        client = EnclaveClient(base_url, verifier)
        try:
            for b in range(rounds):
                records = [{"text": f"Client {n} asks about Paris in batch {b}."} for _ in range(4)]
                results = client.process(records, policy_hash=POLICY, region="local")
                if len(results) != 4 or not any(
                    records[0]["text"][e["start"]:e["end"]] == "Paris"
                    for e in results[0]["fields"]["text"]["entities"]
                ):
                    errors.append(f"client {n} batch {b}: unexpected results")
        except Exception as exc:  # collected and asserted below
            errors.append(f"client {n}: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_twenty_concurrent_clients_bounded_memory():
    config = ServiceConfig(allowed_policy_hashes=frozenset({POLICY}), max_batches_per_key=10_000)
    provider = SimulatedNitroProvider()
    service = build_service(config, provider=provider, backend=SpacyAnalysisBackend())
    verifier = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
    with ServiceThread(service) as thread:
        assert _run_clients(thread.base_url, verifier, 1) == []  # warm-up: pools, caches, model
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        errors = _run_clients(thread.base_url, verifier, BATCHES)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    assert errors == []
    key = service.keyring.current()
    assert len(key.seen_batch_ids) == THREADS * (BATCHES + 1)
    # 100 batches and 20 attestations add a few hundred bytes of bookkeeping each, not copies of payloads.
    growth = after - before
    print(f"tracemalloc growth over {THREADS * BATCHES} batches: {growth} bytes")
    assert growth < 4 * 1024 * 1024, f"memory grew by {growth} bytes"
