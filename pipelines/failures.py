"""What a failed run may say about its failure: exception types, code locations and Beam step names,
never an exception's message.

Messages are withheld because they may quote record values (a parser naming the text it could not
parse, a database quoting the value it refused). :func:`describe` gives the details the one-line error
points to ("details at DEBUG log level"): for each exception in the chain its type, the Beam step it
was raised in (a label of the run's own graph) and the innermost frames as ``file:line in function``.

:class:`WithheldBeamErrors` is installed while the pipeline runs: Beam logs a failing DoFn's exception
at ERROR with its message and traceback text; the filter replaces such records from ``apache_beam``
loggers with the exception's type and step only.
"""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path
from typing import Any

_STEP = re.compile(r"\[while running '([^'\]]{1,200})'\]")
_MAX_FRAMES = 8
_MAX_CHAIN = 5
# Beam modules that log a failing bundle's exception (message and traceback text) themselves
_BEAM_LOGGERS = (
    "apache_beam.runners.common",
    "apache_beam.runners.worker.sdk_worker",
    "apache_beam.runners.worker.bundle_processor",
    "apache_beam.runners.portability.fn_api_runner.fn_runner",
    "apache_beam.runners.portability.fn_api_runner.worker_handlers",
)


def step_of(exc: BaseException) -> str | None:
    """The Beam step named in the message Beam adds to a DoFn's exception (a graph label: no values)."""
    found = _STEP.findall(str(exc)) if exc.args else []
    return found[-1] if found else None


def _where(frame: traceback.FrameSummary) -> str:
    path = Path(frame.filename)
    short = "/".join(path.parts[-2:]) if len(path.parts) > 1 else path.name
    return f"{short}:{frame.lineno} in {frame.name}"


def describe(exc: BaseException) -> str:
    """Types, steps and frames of ``exc`` and its causes (see the module docstring); no messages."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < _MAX_CHAIN:
        seen.add(id(current))
        name = f"{type(current).__module__}.{type(current).__qualname__}"
        step = step_of(current)
        frames = traceback.extract_tb(current.__traceback__)[-_MAX_FRAMES:]
        text = name + (f" in step {step!r}" if step else "")
        if frames:
            text += " at " + " <- ".join(_where(f) for f in reversed(frames))
        parts.append(text)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "; caused by ".join(parts)


def _endpoint(value: str) -> str:
    """A job service or scheduler address for a message: no user or password part."""
    scheme, sep, rest = value.rpartition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"


def _job_service(exc: BaseException, options: Any) -> str | None:
    """The PortableRunner's (and the Flink and Spark runners') job service that never answered."""
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpc comes with Beam
        return None
    if not isinstance(exc, grpc.FutureTimeoutError) or options is None:
        return None
    from apache_beam.options.pipeline_options import PortableOptions

    portable = options.view_as(PortableOptions)
    if not portable.job_endpoint:
        return None
    return (f"could not reach the job service at {_endpoint(portable.job_endpoint)} (--job_endpoint): no "
            f"answer within {portable.job_server_timeout}s (--job_server_timeout)")


def _safe_types() -> tuple[type[BaseException], ...]:
    """Our own errors whose messages are built to name places (table, file, field), never values."""
    from redactline.connectors.postgres import PostgresError

    from .uris import UriError

    return (PostgresError, UriError)


def summary(exc: BaseException, options: Any = None) -> str:
    """One line for a failed run: what could not be reached, or the exception's type and the Beam step it
    was raised in; the message only for our own errors built to carry no values (:func:`_safe_types`)."""
    reached = _job_service(exc, options)
    if reached:
        return reached
    step = step_of(exc)
    where = f" in step {step!r}" if step else ""
    if isinstance(exc, _safe_types()):
        text = _STEP.sub("", str(exc)).strip()
        return f"{type(exc).__name__}{where}: {text}"
    if isinstance(exc, OSError) and "connect" in str(exc).lower() and options is not None:
        try:
            from apache_beam.runners.dask.dask_runner import DaskOptions
        except ImportError:  # the dask extra is not installed
            return f"{type(exc).__name__}{where}"
        address = options.view_as(DaskOptions).address
        if address:
            return f"could not reach the Dask scheduler at {_endpoint(address)} (--dask_client_address)"
    return f"{type(exc).__name__}{where}"


class WithheldBeamErrors(logging.Filter):
    """Context manager and filter: Beam's error records lose their message and traceback text while the
    pipeline runs (see the module docstring). Installed on Beam's loggers and the root logger's handlers
    (records reach a handler through propagation without passing a parent logger's filters)."""

    def __init__(self) -> None:
        super().__init__()
        self._installed: list[Any] = []

    def filter(self, record: logging.LogRecord) -> bool:
        serious = record.levelno >= logging.ERROR or record.exc_info
        if not record.name.startswith("apache_beam") or not serious:
            return True
        if getattr(record, "_redactline_withheld", False):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        shown = type(exc).__name__ if exc is not None else "error"
        step = step_of(exc) if exc is not None else None
        record.msg = "Beam reported %s%s (message withheld: it may quote record values; the run prints the " \
                     "failure, and its details at DEBUG log level)"
        record.args = (shown, f" in step {step!r}" if step else "")
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        record._redactline_withheld = True  # type: ignore[attr-defined]
        return True

    def __enter__(self) -> WithheldBeamErrors:
        targets: list[Any] = [logging.getLogger(name) for name in _BEAM_LOGGERS]
        targets += list(logging.getLogger().handlers)
        for target in targets:
            target.addFilter(self)
            self._installed.append(target)
        return self

    def __exit__(self, *exc: object) -> None:
        for target in self._installed:
            target.removeFilter(self)
        self._installed.clear()
