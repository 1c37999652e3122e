"""SIGTERM and SIGINT during ``redactline run``: stop the pipeline, then still write a FAILED manifest.

:class:`InterruptGuard` is installed only while the pipeline runs and restores the previous handlers
when it exits. The first signal raises :class:`Interrupted` in the main thread, which is the thread
that runs the in-process Beam runner's bundles, so the pipeline unwinds like on any failure. A second
signal while it unwinds raises again (a request in flight can hold the unwinding for its timeout).
Once the run is cleaning up (:meth:`InterruptGuard.cleaning_up`: temporary files, the manifest),
signals are only noted, so the manifest is always written. Nothing else in the process changes.

:class:`Interrupted` derives from ``BaseException`` (like ``KeyboardInterrupt``) so that code catching
``Exception`` on the way up (Beam's DoFn runner, retry loops) does not swallow it.

Exit codes follow the shell convention, 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):  # noqa: N818 - named like KeyboardInterrupt, which it stands beside
    """The run received SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class InterruptGuard:
    """Context manager: while active, SIGINT/SIGTERM raise :class:`Interrupted` once (see the module
    docstring). Outside the main thread signals cannot be handled, and the guard does nothing."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal received
        self._raising = True
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def cleaning_up(self) -> None:
        """From now on a signal is only noted: the run is writing its manifest and must finish that."""
        self._raising = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self._raising:
            raise Interrupted(self.received)
