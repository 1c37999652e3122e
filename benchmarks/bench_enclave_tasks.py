"""Enclave tasks end to end: records/s of ``generate`` and ``embed`` through ``redactline run``, and
where the time goes (client sealing/opening, the service's own envelope work, model inference).

Run: ``.venv/bin/python -m benchmarks.bench_enclave_tasks [--generate-records 24] [--embed-records 400]``.

Each task gets its own simulated enclave service (``--backend llm``: the bundled SmolLM2-135M GGUF on
llama.cpp; ``--backend embeddings``: all-MiniLM-L6-v2 int8 ONNX) on 127.0.0.1 in this process, and a
policy whose enclave destination names the task (the demo's customer records, pseudonyms on). A
warm-up run (spaCy, first attestation) comes first; the timed run is wall-clock from ``run()`` entry
to exit. Time shares of that wall time:

* model: seconds inside the backend's ``generate`` / ``embed`` (one call per sealed batch);
* service envelope: ``process_batch`` minus the model and minus waiting for it (open the batch, JSON,
  seal the reply); model calls are serialised and timed inside that lock, so batches in flight that
  queue for the model do not count twice;
* client seal/open: ``BatchSealer.seal`` + ``open_reply`` in the worker (wrapped as
  ``bench_enclave_pipeline`` does);
* the rest: reading, redaction (spaCy), rendering, re-identification, writing, HTTP and Beam.

Model and pipeline share the same cores here; in a real deployment the model runs in the enclave.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from benchmarks.bench_enclave_pipeline import CryptoTimer
from benchmarks.bench_pipeline import make_csv
from redactline.connectors.local_server import UvicornThread
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.serve import _uvicorn_config, build_service
from redactline.pipelines.run import run
from redactline.policies import load_policy

REGION = "eu-central-1"
TASKS = {
    "generate": {"kind": "generate", "max_tokens": 16,
                 "prompt": "Summarise this support ticket in one short line: {notes}"},
    "embed": {"kind": "embed", "fields": ["notes"]},
}


class TimedBackend:
    """The real backend, with the seconds spent in its model calls summed (thread-safe)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model_id, self.model_digest = inner.name, inner.model_id, inner.model_digest
        self.tasks = inner.tasks
        self.seconds = 0.0
        self.waiting = 0.0
        self.tokens = 0
        self._lock = threading.Lock()

    def _timed(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # one model call at a time (the llm backend serialises anyway), timed inside the lock, so that
        # batches waiting for the model while others run are not counted as model time
        queued = time.perf_counter()
        with self._lock:
            start = time.perf_counter()
            self.waiting += start - queued
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

    def generate(self, prompts: list[str], *, max_tokens: int) -> Any:
        out = self._timed(self.inner.generate, prompts, max_tokens=max_tokens)
        self.tokens += sum(g.completion_tokens for g in out)
        return out

    def embed(self, texts: list[str]) -> Any:
        return self._timed(self.inner.embed, texts)


def _backend(kind: str) -> Any:
    if kind == "generate":
        from redactline.enclave_sink.server.llm_backend import LlamaCppBackend

        return LlamaCppBackend()
    from redactline.enclave_sink.server.embeddings_backend import OnnxEmbeddingsBackend

    return OnnxEmbeddingsBackend()


def _policy(url: str, task: dict[str, Any]) -> dict[str, Any]:
    """Pseudonyms for every finding (so answers need re-identifying) and one enclave destination."""
    return {
        "apiVersion": "redactline.dev/v1", "kind": "RedactionPolicy",
        "metadata": {"name": f"bench-{task['kind']}", "version": "1.0.0"},
        "detection": {"score_threshold": 0.35},
        "transforms": {"default": "pseudonym", "fields": {"id": "keep", "country": "keep"}},
        "destinations": {"enclave": {"kind": "enclave", "region": REGION, "url": url, "task": task}},
    }


class _ServiceOnSocket(UvicornThread):
    """The service on a socket bound before the policy (which names its URL) was written."""

    def __init__(self, service: Any, sock: socket.socket) -> None:
        self.service = service
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._name = "enclave service"
        self._server = uvicorn.Server(_uvicorn_config(service, "127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=self._name, daemon=True)


def bench(kind: str, records: int, batch_records: int, in_flight: int, tmp: Path,
          timer: CryptoTimer) -> dict[str, Any]:
    """One task's timed run; returns its figures."""
    backend = TimedBackend(_backend(kind))
    csv_path, warm = tmp / f"{kind}.csv", tmp / f"{kind}-warm.csv"
    make_csv(csv_path, records)
    make_csv(warm, 4, seed=7)
    key_file = tmp / "q.key"
    key_file.write_text("33" * 32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    policy = tmp / f"{kind}.yaml"
    policy.write_text(yaml.safe_dump(_policy(f"http://127.0.0.1:{sock.getsockname()[1]}", TASKS[kind])))
    allowed = frozenset({load_policy(policy).identity.sha256})
    service = build_service(ServiceConfig(region=REGION, allowed_policy_hashes=allowed), backend=backend)
    root = tmp / "root.pem"
    root.write_bytes(service.provider.simulator.root_pem)  # type: ignore[attr-defined]
    spent = {"seconds": 0.0}
    process = service.process_batch

    def timed_process(envelope: bytes, digest: bytes) -> Any:
        start = time.perf_counter()
        try:
            return process(envelope, digest)
        finally:
            spent["seconds"] += time.perf_counter() - start

    service.process_batch = timed_process  # type: ignore[method-assign]

    def args(src: Path, out: Path) -> list[str]:
        return ["--policy", str(policy), "--source", str(src), "--sink", str(out),
                "--quarantine-key-file", str(key_file), "--quiet", "--destination", "enclave",
                "--enclave-root", str(root), "--unsafe-allow-simulated",
                "--enclave-batch-records", str(batch_records), "--enclave-in-flight", str(in_flight)]

    with _ServiceOnSocket(service, sock):
        assert run(args(warm, tmp / f"{kind}-warm.jsonl")) == 0
        backend.seconds, backend.waiting, backend.tokens = 0.0, 0.0, 0
        spent["seconds"], timer.seconds = 0.0, 0.0
        start = time.perf_counter()
        assert run(args(csv_path, tmp / f"{kind}.jsonl")) == 0
        wall = time.perf_counter() - start
    manifest = json.loads((tmp / f"{kind}.manifest.json").read_text())
    delivered = manifest["counts"]["delivered"]
    return {"task": kind, "records": records, "delivered": delivered, "wall": wall,
            "records_per_s": delivered / wall, "model": backend.seconds, "tokens": backend.tokens,
            "service_envelope": spent["seconds"] - backend.seconds - backend.waiting,
            "client_crypto": timer.seconds,
            "batches": manifest["destination"]["counts"]["sealed_batches"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generate-records", type=int, default=24)
    parser.add_argument("--embed-records", type=int, default=400)
    parser.add_argument("--batch-records", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=3)
    args = parser.parse_args(argv)
    logging.getLogger("redactline.enclave_sink").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        timer = CryptoTimer()
        timer.install()  # once: the client's seal and open, wrapped for both runs
        rows = [bench("generate", args.generate_records, args.batch_records, args.in_flight, tmp, timer),
                bench("embed", args.embed_records, args.batch_records * 8, args.in_flight, tmp, timer)]
    for r in rows:
        wall = r["wall"]
        rest = wall - r["model"] - r["service_envelope"] - r["client_crypto"]
        print(f"{r['task']:8s} {r['delivered']:4d}/{r['records']} records in {wall:6.2f} s = "
              f"{r['records_per_s']:6.2f} records/s end to end ({r['batches']} sealed batches)")
        if r["tokens"]:
            rate = r["tokens"] / r["model"]
            print(f"         model: {r['tokens']} tokens in {r['model']:.2f} s = {rate:.1f} tokens/s")
        print(f"         shares of wall: model {100 * r['model'] / wall:5.1f}%, "
              f"service envelope {100 * r['service_envelope'] / wall:5.2f}%, "
              f"client seal/open {100 * r['client_crypto'] / wall:5.2f}%, "
              f"rest (read, redact, render, re-identify, HTTP, Beam) {100 * rest / wall:5.1f}%")


if __name__ == "__main__":
    main()
