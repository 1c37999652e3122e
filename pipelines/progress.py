"""Terminal progress for local runs: records processed, records/s, quarantined so far.

DoFns call :func:`note`, which bumps process-local counters (cheap, thread-safe). A :class:`Progress`
reporter in the driver prints them to stderr once a second. This sees work done in the driver's own
process (the in-process runner); with ``--direct_running_mode multi_processing`` the workers are other
processes, so the line shows elapsed time only and the manifest gives the totals at the end.

:class:`Tally` keeps a second, finer set of process-local counters: the run's outcomes (read, delivered,
held and quarantined by reason, entities) noted as the elements pass the very PCollections the manifest
counts, and the destination's counters noted by its stage as they happen (a request when it is sent).
A run that fails or is interrupted never writes its counts file, so its manifest takes these instead
(:func:`outcomes`): the counts known so far, marked partial.

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

from redactline.policies.lineage import held_reason

_lock = threading.Lock()
_counts = {"processed": 0, "quarantined": 0}
# keys: "read", "delivered", "held:R", "quarantined:R", "entity:T", "destination:K"
_outcomes: Counter[str] = Counter()
INTERVAL_ENV = "REDACTLINE_PROGRESS_SECONDS"


def note(processed: int = 0, quarantined: int = 0) -> None:
    """Record work done in this process (called from DoFns)."""
    with _lock:
        _counts["processed"] += processed
        _counts["quarantined"] += quarantined


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


class _TallyFn(beam.DoFn):
    def __init__(self, kind: str) -> None:
        self._kind = kind

    def process(self, element: Any) -> None:
        kind = self._kind
        if kind in ("read", "delivered"):
            _tally(kind)
        elif kind == "held":
            _tally("held:" + held_reason(element))
        elif kind == "quarantined":
            _tally("quarantined:" + element.reason)
        else:  # "entities": (type, n) pairs
            _tally("entity:" + element[0], element[1])


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
                 counts_visible: bool = True, log_interval: float = 10.0) -> None:
        self._enabled = enabled
        self._counts_visible = counts_visible
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

    def line(self) -> str:
        processed, quarantined = snapshot()
        elapsed = max(time.monotonic() - self._start, 1e-9)
        if not self._counts_visible:
            return f"redactline: running in worker processes, {elapsed:.0f}s (counts in the manifest)"
        return (f"redactline: {processed} records redacted, {processed / elapsed:.1f} records/s, "
                f"{quarantined} quarantined, {elapsed:.0f}s")

    def _print(self, final: bool = False) -> None:
        if self._terminal:  # rewrite the line in place; clear what a longer earlier line left
            self._stream.write("\r" + self.line() + "\x1b[K" + ("\n" if final else ""))
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._print()
