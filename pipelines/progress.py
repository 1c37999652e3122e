"""Terminal progress for local runs: records processed, records/s, quarantined so far.

DoFns call :func:`note`, which bumps process-local counters (cheap, thread-safe). A :class:`Progress`
reporter in the driver prints them to stderr once a second. This sees work done in the driver's own
process (the in-process runner); with ``--direct_running_mode multi_processing`` the workers are other
processes, so the line shows elapsed time only and the manifest gives the totals at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_lock = threading.Lock()
_counts = {"processed": 0, "quarantined": 0}


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
