"""How the driver hands its engine factory to worker processes that start on this machine.

Local multi-processing workers (:mod:`.warm_worker`) and a local Dask cluster's workers
(:mod:`.dask_forkserver`) build the run's engine while they start, instead of in their first redaction
batch. They get the factory the pipeline graph carries (the policy's resolved document and the profile's
field decisions; no key material, no values) as a pickle file private to the user (0600), named in an
environment variable they inherit, and removed when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shlex
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

ENGINE_FILE_ENV = "REDACTLINE_WARM_ENGINE_FILE"

log = logging.getLogger(__name__)


def worker_command() -> str:
    """The shell command a local multi-processing worker starts with (Beam runs it with ``shell=True``).

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


def take_factory() -> Any:
    """In a worker process: the driver's engine factory, or None (none offered, or unreadable). The
    variable is removed, so processes this one starts do not warm again. Unpickling it imports
    redactline's policy modules."""
    path = os.environ.pop(ENGINE_FILE_ENV, None)
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)  # written by this user's driver for this run (0600)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        log.warning("no engine warm-up: the driver's engine file is unreadable (%s)", type(exc).__name__)
        return None
