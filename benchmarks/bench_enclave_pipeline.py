"""The enclave path end to end: sealed batches/s and the sealing overhead as a share of pipeline time.

Run: ``.venv/bin/python -m benchmarks.bench_enclave_pipeline [--records 4000] [--batch-records 200]``.

One invocation generates ``--records`` synthetic customer records (the generator of ``bench_pipeline``),
starts a simulated enclave service (spaCy-analysis backend) on 127.0.0.1 in this process, and runs,
side by side in the same process:

* ``redactline run`` with ``--destination enclave:URL``: redact, residency, seal, send, open results;
* ``redactline run`` writing the redacted records to a JSONL file (no enclave), for reference.

Sealing overhead = time spent in the client's cryptography (``BatchSealer.seal`` for each batch and
``open_reply`` for each result envelope), measured by wrapping those two functions in this process
(the local runner executes the pipeline in-process), divided by the enclave run's wall time. The
enclave's own work (opening, spaCy inference, sealing replies) runs on the same two cores here, so the
enclave run's wall time includes it; on real hardware it runs elsewhere.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from benchmarks.bench_pipeline import make_csv
from redactline.enclave_sink import client as client_module
from redactline.enclave_sink import envelope
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.pipelines.run import run
from redactline.policies import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "pipelines" / "demo" / "demo-policy.yaml"


class CryptoTimer:
    """Wraps the client's seal and open functions and sums the time spent in them."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.seals = 0

    def install(self) -> None:
        seal, open_reply = envelope.BatchSealer.seal, client_module.open_reply

        def timed_seal(sealer, header, plaintext):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return seal(sealer, header, plaintext)
            finally:
                self.seconds += time.perf_counter() - start
                self.seals += 1

        def timed_open(reply, key, header, reply_secret):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return open_reply(reply, key, header, reply_secret)
            finally:
                self.seconds += time.perf_counter() - start

        envelope.BatchSealer.seal = timed_seal  # type: ignore[method-assign]
        client_module.open_reply = timed_open  # type: ignore[assignment]


def _args(csv_path: Path, out: Path, key_file: Path) -> list[str]:
    return ["--policy", str(POLICY), "--source", str(csv_path), "--sink", str(out),
            "--quarantine-key-file", str(key_file), "--quiet", "--batch-size", "64"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--batch-records", type=int, default=200, help="records per sealed batch")
    args = parser.parse_args(argv)
    logging.getLogger("redactline.enclave_sink").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv_path = tmp / "records.csv"
        make_csv(csv_path, args.records)
        key_file = tmp / "q.key"
        key_file.write_text("33" * 32)
        config = ServiceConfig(region="eu-central-1", provider="simulated",
                               allowed_policy_hashes=frozenset({load_policy(POLICY).identity.sha256}))
        service = build_service(config)
        root = tmp / "root.pem"
        root.write_bytes(service.provider.simulator.root_pem)  # type: ignore[attr-defined]
        timer = CryptoTimer()
        timer.install()
        with ServiceThread(service) as enclave:
            # Warm-up (spaCy model loads, first attestation) so both timed runs start equal.
            warm = tmp / "warm.csv"
            make_csv(warm, 50, seed=7)
            run(_args(warm, tmp / "warm.jsonl", key_file))

            start = time.perf_counter()
            assert run(_args(csv_path, tmp / "plain.jsonl", key_file)) == 0
            plain = time.perf_counter() - start

            timer.seconds, timer.seals = 0.0, 0
            start = time.perf_counter()
            code = run([*_args(csv_path, tmp / "results.jsonl", key_file),
                        "--destination", f"enclave:{enclave.base_url}", "--enclave-root", str(root),
                        "--unsafe-allow-simulated", "--enclave-batch-records", str(args.batch_records)])
            sealed_run = time.perf_counter() - start
            assert code == 0
        manifest = json.loads((tmp / "results.manifest.json").read_text())
    sent = manifest["destination"]["counts"]
    n, batches = args.records, sent["sealed_batches"]
    print(f"records: {n} generated, {manifest['counts']['delivered']} delivered through the enclave, "
          f"{batches} sealed batches of <= {args.batch_records} records")
    print(f"redactline run -> JSONL file (no enclave): {plain:7.2f} s {n / plain:7.1f} records/s")
    print(f"redactline run -> simulated enclave:       {sealed_run:7.2f} s {n / sealed_run:7.1f} records/s, "
          f"{batches / sealed_run:5.2f} sealed batches/s")
    print(f"client sealing + opening: {timer.seconds * 1000:8.1f} ms over {timer.seals} seals = "
          f"{100 * timer.seconds / sealed_run:.2f}% of the enclave run's wall time")
    print(f"enclave run / file run wall time: {sealed_run / plain:.2f}x "
          "(the enclave's inference shares these cores here)")

if __name__ == "__main__":
    main()
