"""Embeddings backend speed: load time, texts/s for ``embed`` and the process's resident memory.

Run: ``.venv/bin/python -m benchmarks.bench_embeddings [--threads 2] [--batch 32] [--texts 512]``.
Texts are ~90-character support-ticket sentences (distinct, so nothing is cached). ``embed`` is timed
over all texts (batched by ``--batch``) for several repetitions and the best is kept, to damp noise
from other processes on a shared 2-core host; the load average is printed beside the figure, and so
are texts per CPU-second of this process (what the model costs, whatever else shares the cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from redactline.enclave_sink.server.embeddings_backend import OnnxEmbeddingsBackend

SUBJECTS = ["The customer", "A client", "Our user", "The buyer", "A subscriber", "The tenant"]
ISSUES = ["cannot log in to the portal", "was charged twice for the order", "asks for a refund on",
          "reports a broken screen on", "wants to change the address of", "needs an invoice for"]
OBJECTS = ["the annual plan", "the laptop bought in March", "ticket {n}", "the delivery of last week"]


def texts(n: int) -> list[str]:
    out = []
    for i in range(n):
        line = (f"{SUBJECTS[i % 6]} {ISSUES[i // 6 % 6]} {OBJECTS[i // 36 % 4].format(n=i)}"
                f" and says it is urgent (case {i}).")
        out.append(line)
    return out


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    before = rss_mib()
    started = time.perf_counter()
    backend = OnnxEmbeddingsBackend(threads=args.threads, batch_size=args.batch)
    load = time.perf_counter() - started
    sample = texts(args.texts)
    backend.embed(sample[: args.batch])  # warm-up
    best, cpu = min(_timed(backend, sample) for _ in range(args.repeat))
    mean_chars = sum(map(len, sample)) / len(sample)
    print(f"model {backend.model_id} {backend.model_digest[:19]}... "
          f"threads {args.threads} batch {args.batch}")
    print(f"load {load:.2f} s; {len(sample)} texts of {mean_chars:.0f} chars: "
          f"{len(sample) / best:.0f} texts/s, {len(sample) / cpu:.0f} texts per CPU-second "
          f"(best of {args.repeat}); RSS {before:.0f} MiB before load, {rss_mib():.0f} MiB after; "
          f"load average {os.getloadavg()[0]:.1f}")


def _timed(backend: OnnxEmbeddingsBackend, sample: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one embed call over the sample."""
    started, cpu = time.perf_counter(), time.process_time()
    backend.embed(sample)
    return time.perf_counter() - started, time.process_time() - cpu


if __name__ == "__main__":
    main()
