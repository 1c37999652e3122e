"""Column profiling: PII of profiled columns delivered in clear with profiling off vs on, and its cost.

Run: ``.venv/bin/python -m benchmarks.bench_profile [--rows 3000] [--seed 13] [--policy FILE] [--keep DIR]``.

One invocation generates ``--rows`` support tickets with :mod:`benchmarks.ticket_data` (invented
names, addresses, cities; valid-shaped SSNs, Luhn-valid cards) as a CSV file and runs ``redactline
run`` on it twice, each in its own child process (so neither reuses the other's loaded spaCy):
``--no-profile`` and the default (profiling on, 200 sampled records). It reports side by side:

* per PII column, how many rows' values are delivered in clear: the value appears in that column of
  the delivered output (a substring counts, so a name half-replaced still leaks);
* the run's wall and CPU time, and the profiling time the manifest records (sampling, the driver's
  engine load, analysis; in-process the worker reuses the driver's loaded model), as a share of the
  profiled run's wall and CPU time (target: under 5%). CPU shares are the steadier figure on a shared
  machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ticket_data import PII_COLUMNS, ticket_rows, write_csv

ROOT = Path(__file__).resolve().parents[1]
GENERAL = ROOT / "policies" / "library" / "general-pii.yaml"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(policy: Path, source: Path, out: Path, *flags: str) -> tuple[float, float, dict, list[dict]]:
    sink = out / "tickets.jsonl"
    started, cpu = time.perf_counter(), _cpu()
    subprocess.run(
        [sys.executable, "-m", "redactline.pipelines.run", "--policy", str(policy), "--source", str(source),
         "--sink", str(sink), "--quiet", *flags],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    manifest = json.loads((out / "tickets.manifest.json").read_text())
    delivered = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    return wall, cpu, manifest, delivered


def _leaks(rows: list[dict[str, str]], delivered: list[dict]) -> dict[str, int]:
    """Per PII column: rows whose value appears in that column of the delivered records."""
    out: dict[str, int] = {}
    for column in PII_COLUMNS:
        text = "\n".join(str(r.get(column, "")) for r in delivered)
        out[column] = sum(1 for row in rows if row[column] in text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--policy", type=Path, default=GENERAL)
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs in this directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        rows = ticket_rows(args.rows, args.seed)
        source = write_csv(rows, base / "tickets.csv")
        results = {}
        for label, flags in (("profile off", ("--no-profile",)), ("profile on", ())):
            out = base / label.replace(" ", "-")
            wall, cpu, manifest, delivered = _run(args.policy, source, out, *flags)
            assert manifest["check"]["holds"] and len(delivered) == args.rows
            results[label] = (wall, cpu, manifest, _leaks(rows, delivered))

    print(f"{args.rows} ticket rows (seed {args.seed}), policy {args.policy.name}, "
          "local FnApiRunner, 1 worker")
    print(f"{'PII values delivered in clear':<32}{'profile off':>14}{'profile on':>14}")
    for column in PII_COLUMNS:
        off, on = (results[k][3][column] for k in ("profile off", "profile on"))
        print(f"  {column:<30}{off:>14}{on:>14}")
    totals = [sum(results[k][3].values()) for k in ("profile off", "profile on")]
    print(f"  {'total':<30}{totals[0]:>14}{totals[1]:>14}")
    wall_off, cpu_off, _, _ = results["profile off"]
    wall_on, cpu_on, manifest_on, _ = results["profile on"]
    profile = manifest_on["profile"]
    print(f"{'run wall time (s)':<32}{wall_off:>14.1f}{wall_on:>14.1f}")
    print(f"{'run CPU time (s)':<32}{cpu_off:>14.1f}{cpu_on:>14.1f}")
    wall, cpu = profile["seconds"], profile["cpu_seconds"]
    print(f"profiling ({profile['records_sampled']} sampled records): {wall:.2f} s wall = "
          f"{wall / wall_on:.1%} of the profiled run's wall time; {cpu:.2f} s CPU = "
          f"{cpu / cpu_on:.1%} of its CPU time (target < 5%)")
    load = profile["model_load_cpu_seconds"]
    print(f"  of which {load:.2f} s CPU load the model the in-process worker then reuses; the rest, "
          f"{cpu - load:.2f} s (sampling + analysis), is {(cpu - load) / cpu_on:.1%} of the profiled run's "
          f"CPU and {cpu / cpu_off:.1%} (all of it) of the unprofiled run's")
    rules = ", ".join(f"{f}={op}" for f, op in profile["whole_field_rules"].items())
    print(f"whole-field rules: {rules}")


if __name__ == "__main__":
    main()
