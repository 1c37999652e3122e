"""Progress of a run on any runner: records read, redacted, delivered, held and quarantined so far.

:class:`Tally` counts the run's outcomes as the elements pass the very PCollections the manifest counts
(read, delivered, held and quarantined by reason, entities), twice over: in process-local counters
(:func:`outcomes`) and in Beam metrics (namespace ``redactline``: ``records_read``, ``records_delivered``,
``records_held``, ``records_quarantined``; the redact stage adds ``records_redacted``), which every runner
that supports metrics collects from its workers. The redact stage also calls :func:`note` with the records
it redacted (engine failures are not among them: they are counted once, as quarantined).

A :class:`Progress` reporter in the driver prints a line to stderr: from the process-local counters when
the DoFns run in this process (the in-process runner: live), else from ``result.metrics()`` of the
running job (:meth:`Progress.follow`): live on runners whose ``run()`` returns while the job runs and
whose results answer metrics queries (Dataflow, the portable Flink/Spark runners: untested here).

Worker processes on this machine (``--direct_running_mode multi_processing``, a local Dask cluster)
also publish their process-local counts, by the line's words only, to files in a directory private to
the run (:mod:`.progress_files`, named in ``REDACTLINE_PROGRESS_DIR``, which they inherit): a worker
rewrites its file at most once a second from the DoFn path (a clock read per call otherwise) and at the
end of each tally bundle, and the driver's live line adds the files up. Beam's multi-processing
FnApiRunner returns only when the job is done: its final line takes the job's metrics. Beam's Dask runner
collects no metrics (``metrics()`` raises ``NotImplementedError``): its final line shows elapsed time
and the manifest gives the counts. A remote Dask cluster (``--dask_client_address``) has no such
directory (its workers cannot see this machine's files): its line shows elapsed time only. Neither
the final line nor the manifest reads the files. Before the first file, the line shows elapsed time
(and so throughout on a local Dask cluster whose forkserver an earlier run in this driver process
started: its workers keep that run's environment).

A run that fails or is interrupted never writes its counts file, so its manifest takes the process-local
counters instead (:func:`outcomes`): the counts known so far, marked partial. The destination's
counters are noted by its stage as they happen (a request when it is sent).

``REDACTLINE_PROGRESS_SECONDS`` overrides the interval between lines (on a terminal and in logs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.metrics import Metrics

from redactline.policies.lineage import held_reason

from . import progress_files

_lock = threading.Lock()
_counts = {"processed": 0, "quarantined": 0}
# keys: "read", "delivered", "held:R", "quarantined:R", "entity:T", "destination:K"
_outcomes: Counter[str] = Counter()
INTERVAL_ENV = "REDACTLINE_PROGRESS_SECONDS"
METRICS_NAMESPACE = "redactline"  # the namespace of every redactline Beam metric
# the metrics the line shows, by its words (records_redacted is the redact stage's)
LINE_METRICS = ("read", "redacted", "delivered", "held", "quarantined")


def note(processed: int = 0, quarantined: int = 0) -> None:
    """Record work done in this process (called from DoFns): ``processed`` records redacted.
    ``quarantined`` is kept for callers; the line counts quarantined records from :class:`Tally` (the
    PCollection the manifest counts), so a record is never counted twice."""
    with _lock:
        _counts["processed"] += processed
        _counts["quarantined"] += quarantined
    progress_files.publish(line_counts)


def snapshot() -> tuple[int, int]:
    with _lock:
        return _counts["processed"], _counts["quarantined"]


def reset() -> None:
    with _lock:
        _counts.update(processed=0, quarantined=0)
        _outcomes.clear()


def _tally(key: str, n: int = 1) -> None:
    with _lock:
        _outcomes[key] += n
    progress_files.publish(line_counts)


def note_destination(key: str, n: int = 1) -> None:
    """A destination stage's counter (``requests``...) noted when it happens, from any thread; a
    finished run's manifest counts these from the stage's own output instead."""
    _tally("destination:" + key, n)


def outcomes() -> dict[str, Any]:
    """The outcomes tallied so far in this process, in the shape of the manifest's counts."""
    with _lock:
        items = list(_outcomes.items())
    counts: dict[str, Any] = {"read": 0, "delivered": 0, "held": {}, "quarantined": {}, "entities": {},
                              "destination": {}}
    sections = {"held:": "held", "quarantined:": "quarantined", "entity:": "entities",
                "destination:": "destination"}
    for key, value in sorted(items):
        if key in ("read", "delivered"):
            counts[key] = value
            continue
        prefix, _, name = key.partition(":")
        counts[sections[prefix + ":"]][name] = value
    return counts


def line_counts() -> dict[str, int]:
    """This process's counts by the line's words (:data:`LINE_METRICS`)."""
    tallied = outcomes()
    processed, _ = snapshot()
    return {"read": tallied["read"], "redacted": processed, "delivered": tallied["delivered"],
            "held": sum(tallied["held"].values()), "quarantined": sum(tallied["quarantined"].values())}


class _TallyFn(beam.DoFn):
    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._metric = Metrics.counter(METRICS_NAMESPACE, f"records_{kind}") if kind != "entities" else None

    def process(self, element: Any) -> None:
        kind = self._kind
        if self._metric is not None:
            self._metric.inc()
        if kind in ("read", "delivered"):
            _tally(kind)
        elif kind == "held":
            _tally("held:" + held_reason(element))
        elif kind == "quarantined":
            _tally("quarantined:" + element.reason)
        else:  # "entities": (type, n) pairs
            _tally("entity:" + element[0], element[1])

    def finish_bundle(self) -> None:
        progress_files.publish(line_counts, force=True)  # a worker's file ends each bundle up to date


class Tally(beam.PTransform):
    """Note the run's outcomes in this process as they happen (see the module docstring).

    Input: the dict of PCollections :class:`~redactline.pipelines.manifest.CountOutcomes` takes, where a
    value may also be a tuple of PCollections (tallied where each is produced, not after a Flatten that
    the runner may schedule later). Its
    ``destination`` counters are not taken from there: a stage notes them as they happen
    (:func:`note_destination`), e.g. a request the moment it is sent.
    """

    def expand(self, pcolls: dict[str, Any]) -> None:
        for kind in ("read", "delivered", "held", "quarantined", "entities"):
            parts = pcolls[kind] if isinstance(pcolls[kind], tuple) else (pcolls[kind],)
            for i, part in enumerate(parts):
                _ = part | f"Tally{kind.capitalize()}{i or ''}" >> beam.ParDo(_TallyFn(kind))


class Progress:
    """Context manager printing a status line to ``stream``: on a terminal one line rewritten every
    ``interval`` seconds; elsewhere (a log file, CI) a new line every ``log_interval`` seconds, so logs
    get whole lines and not a run of carriage returns."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, interval: float = 1.0,
                 counts_visible: bool = True, log_interval: float = 10.0,
                 progress_dir: str | None = None) -> None:
        self._enabled = enabled
        self._counts_visible = counts_visible
        self._dir = progress_dir  # the workers' files (progress_files), when they run on this machine
        self._stream = stream or sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self._terminal = bool(isatty and isatty())
        self._interval = interval if self._terminal else log_interval
        override = os.environ.get(INTERVAL_ENV)
        if override:
            with contextlib.suppress(ValueError):  # a bad value keeps the default: output is cosmetic
                self._interval = max(float(override), 0.05)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0
        self._result: Any = None  # a running job's PipelineResult (see follow)
        self._metrics_ok = True

    def __enter__(self) -> Progress:
        reset()
        self._start = time.monotonic()
        if self._enabled:
            self._thread = threading.Thread(target=self._loop, name="redactline-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._print(final=True)

    def follow(self, result: Any) -> None:
        """Take the counts from ``result.metrics()`` of the job from now on (runners whose DoFns run in
        other processes); a runner without metrics keeps the elapsed-time line."""
        self._result = result

    def counts(self, final: bool = False) -> dict[str, int] | None:
        """read, redacted, delivered, held, quarantined so far; None when they cannot be seen here. The
        workers' files count only for a live line, not the ``final`` one."""
        if self._counts_visible:
            return line_counts()
        if self._result is not None and self._metrics_ok:
            found = self._from_metrics()
            if found is not None:
                return found
        if final or self._dir is None:
            return None
        return progress_files.total(self._dir, LINE_METRICS)

    def _from_metrics(self) -> dict[str, int] | None:
        from apache_beam.metrics.metric import MetricsFilter

        try:
            found = self._result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
        except NotImplementedError:  # this runner collects no metrics
            self._metrics_ok = False
            return None
        except Exception:  # noqa: BLE001 - a job service that stopped answering: keep the elapsed line
            return None
        counts = dict.fromkeys(LINE_METRICS, 0)
        for counter in found.get("counters", []):
            word = counter.key.metric.name.removeprefix("records_")
            if word in counts:
                value = counter.committed if counter.committed is not None else counter.attempted
                counts[word] += int(value or 0)
        return counts

    def line(self, final: bool = False) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        counts = self.counts(final)
        if counts is None and self._dir is None:
            return (f"redactline: running on remote workers (no live counts here), {elapsed:.0f}s "
                    "(counts in the manifest)")
        if counts is None:
            return f"redactline: running in worker processes, {elapsed:.0f}s (counts in the manifest)"
        return (f"redactline: {counts['read']} read, {counts['redacted']} redacted, {counts['delivered']} "
                f"delivered, {counts['held']} held, {counts['quarantined']} quarantined, "
                f"{counts['read'] / elapsed:.1f} records/s, {elapsed:.0f}s")

    def _print(self, final: bool = False) -> None:
        if self._terminal:  # rewrite the line in place; clear what a longer earlier line left
            self._stream.write("\r" + self.line(final) + "\x1b[K" + ("\n" if final else ""))
        else:
            self._stream.write(self.line(final) + "\n")
        self._stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._print()
