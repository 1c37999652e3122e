"""Local worker processes that build the policy's engine while they start.

With ``--direct_running_mode multi_processing`` Beam's FnApiRunner starts every worker as
``python -m apache_beam.runners.worker.sdk_worker_main`` and gives it work stage by stage. A worker
that receives its first redaction batch then stops to import Presidio and spaCy and build the engine
(2-4 s), after the read stage, while the other core waits: time paid in series, once per worker, that
two workers cannot share. Here each worker starts as ``python -m redactline.pipelines.warm_worker``
instead: a background thread builds the run's engine (:meth:`PolicyEngineFactory.warm`) while Beam's
own worker main, unchanged, connects to the runner and runs the read stage.

The driver hands the engine factory over as a pickle file (:func:`engine_file`): the policy's resolved
document and the profile's field decisions, the same object the pipeline graph carries; no key material
and no values. The file is private to the user (0600), named in an environment variable the worker
processes inherit, and removed when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shlex
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

ENGINE_FILE_ENV = "REDACTLINE_WARM_ENGINE_FILE"

log = logging.getLogger(__name__)


def command() -> str:
    """The shell command the runner starts a worker with (Beam runs it with ``shell=True``).

    Unless the environment sets it, glibc's ``MALLOC_ARENA_MAX`` is 2 for the worker: a worker's gRPC,
    bundle and warm-up threads each took a malloc arena of their own, and the memory freed in one was
    not reused by the others (a 30k-record run: 435 -> 400 MiB peak per worker)."""
    python = f"{shlex.quote(sys.executable)} -m redactline.pipelines.warm_worker"
    return python if "MALLOC_ARENA_MAX" in os.environ else f"MALLOC_ARENA_MAX=2 {python}"


@contextlib.contextmanager
def engine_file(factory: Any) -> Iterator[None]:
    """Offer ``factory`` to the worker processes started inside this block (a factory without
    ``warm``, e.g. a test's, is not offered)."""
    if not callable(getattr(factory, "warm", None)):
        yield
        return
    handle, path = tempfile.mkstemp(prefix="redactline-engine-", suffix=".pickle")  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(factory, out)
        os.environ[ENGINE_FILE_ENV] = path
        yield
    finally:
        os.environ.pop(ENGINE_FILE_ENV, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _load(path: str) -> Any:
    """The driver's engine factory, or None. Unpickling it imports redactline's modules; so does the
    driver's pipeline run below: both happen here, before Beam's worker starts, because two threads
    importing the same package at once can see each other's half-initialised modules."""
    try:
        with open(path, "rb") as handle:
            factory = pickle.load(handle)  # written by this user's driver for this run (0600)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        log.warning("no engine warm-up: the driver's engine file is unreadable (%s)", type(exc).__name__)
        return None
    import redactline.pipelines.run  # noqa: F401  (the modules of every DoFn the graph holds)

    return factory


def _quiet_stderr() -> None:
    """The worker's own stderr shows errors only. Beam sets the worker's root logger to INFO and sends
    its log records to the runner, which logs them at the driver's ``--log-level``: printed here as well,
    every run would show Beam's start-up chatter, and each warning twice, per worker."""
    from .cli import configure_logging

    configure_logging("WARNING")  # a stderr handler now, before Beam's import-time warning adds its own
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.ERROR)


def main() -> None:
    _quiet_stderr()
    path = os.environ.pop(ENGINE_FILE_ENV, None)  # popped: processes this worker starts do not warm
    factory = _load(path) if path else None
    if factory is not None:
        threading.Thread(target=factory.warm, name="redactline-warm-engine", daemon=True).start()
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)
    # The job is over when Beam's worker main returns (its outputs were sent, its files closed). Exit
    # now: tearing down the interpreter (the spaCy model, the engine's tables) took longer than the
    # runner's last steps, and the runner waits for every worker process to end before it returns.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
