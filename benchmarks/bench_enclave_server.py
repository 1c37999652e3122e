"""Benchmark: sealed batches/s through a local enclave service, and the share of time spent sealing.

Setup: the service on 127.0.0.1 (uvicorn in a thread of this process), simulated attestation, the
``spacy-analysis`` backend with en_core_web_sm. Records are dev-corpus texts redacted with their
gold spans (``<TYPE>`` placeholders), so the model sees realistic redacted input.

Measured:

* sequential: one client, ``--batches`` batches of ``--batch-size`` records (seal, POST, open reply);
* concurrent: ``--clients`` clients in threads, same total work;
* crypto share: seal batch + open batch + seal reply + open reply on the same payloads, timed in
  isolation, divided by the mean sequential request time.

Usage: ``python benchmarks/bench_enclave_server.py [--batches 40] [--batch-size 32] [--clients 4]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import EnclaveClient
from redactline.enclave_sink.envelope import BatchOpener, seal_reply
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "0f" * 32
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev-text-42.jsonl"


def redacted_records(limit: int) -> list[dict[str, str]]:
    """Dev-corpus texts with gold PII spans replaced by ``<TYPE>`` (synthetic text if no corpus)."""
    if not CORPUS.exists():
        return [
            {"text": f"<PERSON> ordered {i} laptops for the Berlin office on Monday."} for i in range(limit)
        ]
    out = []
    with CORPUS.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = row["text"]
            for span in sorted(row["spans"], key=lambda s: s["start"], reverse=True):
                text = text[: span["start"]] + f"<{span['type']}>" + text[span["end"] :]
            out.append({"id": str(row["id"]), "text": text})
            if len(out) == limit:
                break
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)

    records = redacted_records(args.batches * args.batch_size)
    batches = [records[i : i + args.batch_size] for i in range(0, len(records), args.batch_size)]
    config = ServiceConfig(allowed_policy_hashes=frozenset({POLICY}), max_batches_per_key=1_000_000)
    provider = SimulatedNitroProvider()
    service = build_service(config, provider=provider, backend=SpacyAnalysisBackend())
    verifier = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())

    with ServiceThread(service) as thread:
        client = EnclaveClient(thread.base_url, verifier)
        session = client.attest()
        client.process(batches[0], policy_hash=POLICY, region="local")  # warm-up

        times = []
        start = time.perf_counter()
        for batch in batches:
            t0 = time.perf_counter()
            client.process(batch, policy_hash=POLICY, region="local")
            times.append(time.perf_counter() - t0)
        sequential = time.perf_counter() - start

        per_client = [batches[i :: args.clients] for i in range(args.clients)]

        def worker(work: list[list[dict[str, str]]]) -> None:
            c = EnclaveClient(thread.base_url, verifier)
            for batch in work:
                c.process(batch, policy_hash=POLICY, region="local")
            c.close()

        workers = [threading.Thread(target=worker, args=(w,)) for w in per_client]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        concurrent = time.perf_counter() - start

        # Crypto alone, on the same payloads: seal batch, open batch, seal reply, open reply.
        key, _ = service.keyring.opener_for(session.verified.document_sha256)
        opener = BatchOpener(key.private_key, session.verified.document_sha256)
        reply_payload = b"x" * (600 * args.batch_size)  # about the size of a spaCy reply
        crypto = []
        for batch in batches:
            t0 = time.perf_counter()
            sealed = client.seal(batch, policy_hash=POLICY, region="local")
            opened = opener.open(sealed.envelope)
            sealed.open_reply(seal_reply(opened.header, reply_payload, opened.reply_secret))
            crypto.append(time.perf_counter() - t0)
        client.close()

    n = len(batches)
    mean_request = statistics.mean(times)
    mean_crypto = statistics.mean(crypto)
    print(f"batches: {n} x {args.batch_size} redacted records (dev corpus: {CORPUS.exists()})")
    print(
        f"sequential: {n / sequential:7.1f} batches/s  {n * args.batch_size / sequential:7.1f} records/s  "
        f"p50 {statistics.median(times) * 1000:.1f} ms  max {max(times) * 1000:.1f} ms"
    )
    print(
        f"concurrent ({args.clients} clients): {n / concurrent:7.1f} batches/s  "
        f"{n * args.batch_size / concurrent:7.1f} records/s"
    )
    print(
        f"sealing (seal+open batch, seal+open reply): {mean_crypto * 1000:.3f} ms per batch = "
        f"{100 * mean_crypto / mean_request:.2f}% of the mean request time ({mean_request * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
