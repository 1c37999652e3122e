"""Live counts from local worker processes: one small file per process in a directory private to the run.

The driver makes the directory (0700, :func:`run_dir`) and names it in ``REDACTLINE_PROGRESS_DIR``
before the workers start, so the workers on this machine inherit it (multi-processing workers, a local
Dask cluster's forkserver). A worker replaces ``<dir>/<pid>.json`` with its counts (:func:`write`):
numbers by the line's words only, never a value, a field name or a path. The driver adds the files up
(:func:`total`); a file it cannot read or parse (half written, garbage) is skipped. The directory is
removed when the run ends, however it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

DIR_ENV = "REDACTLINE_PROGRESS_DIR"
WRITE_SECONDS = 1.0  # the most often a worker process rewrites its file
_MAX_BYTES = 4096  # a counts file is far smaller: anything bigger is not one

_write_lock = threading.Lock()
_next_write = 0.0
_last_written: dict[str, dict[str, int]] = {}  # by directory: what this process wrote there last


@contextlib.contextmanager
def run_dir(enabled: bool = True) -> Iterator[str | None]:
    """A private directory for this run's worker files, named in :data:`DIR_ENV` inside the block and
    removed after it; ``None`` (and nothing made) when not ``enabled``."""
    if not enabled:
        yield None
        return
    path = tempfile.mkdtemp(prefix="redactline-progress-")  # mode 0700
    os.environ[DIR_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(DIR_ENV, None)
        for _ in range(3):  # a worker still running may add a file between listing and rmdir
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                break


def publish(counts: Callable[[], Mapping[str, int]], force: bool = False) -> None:
    """In a worker (:data:`DIR_ENV` set): write ``counts()`` to this process's file, at most once every
    :data:`WRITE_SECONDS` unless ``force``. Elsewhere, and between writes, only a clock read."""
    global _next_write
    now = time.monotonic()
    if not force and now < _next_write:
        return
    _next_write = now + WRITE_SECONDS
    directory = os.environ.get(DIR_ENV)
    if directory:
        with _write_lock:  # the snapshot and its write in order: a later write is never older
            now_counts = dict(counts())
            if now_counts != _last_written.get(directory):  # e.g. a bundle that tallied nothing
                write(directory, now_counts)
                _last_written.clear()
                _last_written[directory] = now_counts


def write(directory: str, counts: Mapping[str, int]) -> None:
    """Replace ``<directory>/<pid>.json`` with ``counts`` (atomically: a reader sees the old or the new
    file). A directory that is gone (the run ended) or full loses only a live count."""
    path = os.path.join(directory, f"{os.getpid()}.json")
    part = f"{path}.{threading.get_ident()}.part"
    with contextlib.suppress(OSError):
        handle = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w") as out:
            json.dump({key: int(value) for key, value in counts.items()}, out)
        os.replace(part, path)


def total(directory: str, keys: Iterable[str]) -> dict[str, int] | None:
    """The sum of the readable files in ``directory`` for ``keys``; None when there is none yet."""
    sums = dict.fromkeys(keys, 0)
    seen = False
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            counts = _read(entry.path, sums) if entry.name.endswith(".json") else None
            if counts is not None:
                seen = True
                for key, value in counts.items():
                    sums[key] += value
    return sums if seen else None


def _read(path: str, keys: Iterable[str]) -> dict[str, int] | None:
    """One file's counts for ``keys``, or None when it is not a whole counts file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
        data = json.loads(raw) if len(raw) <= _MAX_BYTES else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    found = {key: data.get(key, 0) for key in keys}
    if any(type(value) is not int or value < 0 for value in found.values()):
        return None
    return found
