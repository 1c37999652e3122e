"""The run's output paths: checked before the job starts, and temporary leftovers removed after it.

:func:`check_outputs` runs in :func:`~redactline.pipelines.run.prepare`, before any directory is
created or any record read. For each output (``--sink`` and ``--held`` when they are files,
``--quarantine``, ``--manifest``) it refuses, with one line naming the flag and the path:

* a path under something that is not a directory (``/dev/null/x.jsonl``);
* a directory, or an existing path that is not a regular file (``/dev/null``, a FIFO);
* an existing file, unless ``--overwrite`` (a sharded sink: any existing shard of the same prefix);
* a place where no file can be created (``/proc/...``, a read-only mount, no permission): the nearest
  existing directory is probed by creating and removing an empty file;
* two outputs naming the same file.

Remote URIs (``s3://...``, ``gs://...``) are checked through Beam's FileSystems, with the run's storage
options (``--s3_endpoint_url`` ...): an existing object (or shard) is refused unless ``--overwrite``, and
two outputs naming the same object are refused. Whether the bucket can be written is learnt when the
job writes; a failed check of existence (no credentials yet, an unknown scheme) is left to the run.

:class:`Leftovers` removes what an unfinished run leaves beside its outputs: the file sinks'
``<name>.tmp-<hex>`` files and Beam's ``beam-temp-<name>-<uuid>`` folders (quarantine and counts) that
did not exist before the run started, and the run's internal counts file.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

log = logging.getLogger(__name__)


class OutputPathError(ValueError):
    """An output path that cannot be used; the message names the flag and the path."""


@dataclass(frozen=True)
class Output:
    """One output of a run: the flag that names it, its path or URI, and how it is written."""

    flag: str
    path: str
    shards: int = 1  # > 1: a file sink writing PREFIX-0000i-of-0000N.EXT
    sink: bool = False  # a file sink (temporary names <final>.tmp-<hex>) rather than a Beam text write


def of_plan(plan: Any) -> list[Output]:
    """The outputs a run writes: file sinks (delivered, held), the quarantine and the manifest."""
    shards = max(plan.opts.num_shards, 1)
    outputs = [Output(ep.flag, ep.uri, shards if ep.flag == "--sink" else 1, sink=True)
               for ep in (plan.sink, plan.held) if ep.kind == "file"]
    return [*outputs, Output("--quarantine", plan.quarantine_path), Output("--manifest", plan.manifest_path)]


def _local(path: str) -> str | None:
    """The local filesystem path of ``path``, or None for a remote URI."""
    if path.startswith("file://"):
        return path[len("file://"):]
    return None if "://" in path else path


def _shard_glob(path: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{glob.escape(stem)}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]{ext}"


def check_outputs(outputs: Iterable[Output], *, overwrite: bool) -> None:
    """Raise :class:`OutputPathError` for the first output that cannot be written (module docstring)."""
    seen: dict[str, str] = {}
    for out in outputs:
        local = _local(out.path)
        if local is None:
            _check_remote(out, overwrite)
            key = out.path
        else:
            _check_local(out, local, overwrite)
            key = os.path.realpath(local)
        if key in seen:
            raise OutputPathError(f"{out.flag} {out.path}: {seen[key]} names the same file")
        seen[key] = out.flag


def _check_local(out: Output, local: str, overwrite: bool) -> None:
    where = f"{out.flag} {out.path}"
    path = Path(os.path.abspath(local))
    ancestor = path.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{where}: {ancestor} is not a directory")
    if out.shards == 1 and os.path.lexists(path):
        if path.is_dir():
            raise OutputPathError(f"{where}: is a directory; name a file")
        if not path.is_file():
            raise OutputPathError(f"{where}: exists and is not a regular file")
        if not overwrite:
            raise OutputPathError(f"{where}: already exists; add --overwrite to replace it")
    if out.shards > 1 and not overwrite:
        existing = sorted(glob.glob(_shard_glob(str(path))))
        if existing:
            raise OutputPathError(f"{where}: shard {existing[0]} already exists; add --overwrite to replace "
                                  "the shards")
    _probe(where, ancestor)


def check_directory(flag: str, path: str) -> None:
    """Raise :class:`OutputPathError` unless ``path`` is, or can be made, a directory to create files in."""
    where = f"{flag} {path}"
    target = Path(os.path.abspath(path))
    ancestor = target
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{where}: {ancestor} is not a directory")
    _probe(where, ancestor)


def _probe(where: str, directory: Path) -> None:
    """Create and remove an empty file in ``directory``: the one test that pseudo filesystems (/proc),
    read-only mounts and permissions all answer truthfully, also for root."""
    probe = directory / f".redactline-probe-{uuid.uuid4().hex}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise OutputPathError(f"{where}: cannot create a file in {directory} "
                              f"({exc.strerror or type(exc).__name__})") from None
    os.close(fd)
    os.unlink(probe)


def _check_remote(out: Output, overwrite: bool) -> None:
    if overwrite:
        return
    try:
        if out.shards > 1:
            stem, ext = os.path.splitext(out.path)
            found = FileSystems.match([f"{stem}-*-of-*{ext}"])[0].metadata_list
            existing = sorted(m.path for m in found)
        else:
            existing = [out.path] if FileSystems.exists(out.path) else []
    except Exception:  # noqa: BLE001 - an unknown scheme or missing credentials: the run reports it later
        log.debug("could not check whether %s exists", out.flag)
        return
    if existing and out.shards > 1:
        raise OutputPathError(f"{out.flag} {out.path}: shard {existing[0]} already exists; add --overwrite "
                              "to replace the shards")
    if existing:
        raise OutputPathError(f"{out.flag} {out.path}: already exists; add --overwrite to replace it")


class Leftovers:
    """Temporary entries beside ``outputs`` that a run creates and removes when it finishes; see the module
    docstring. Call :meth:`snapshot` before the run and :meth:`remove` after it."""

    def __init__(self, outputs: Iterable[Output], extra_files: Iterable[str] = ()) -> None:
        self._patterns: list[str] = []
        for out in outputs:
            local = _local(out.path)
            if local is None:
                continue  # remote: the runner's own cleanup applies
            directory, name = os.path.split(os.path.abspath(local))
            self._patterns.append(os.path.join(glob.escape(directory), f"beam-temp-{glob.escape(name)}-*"))
            if out.sink:
                final = _shard_glob(local) if out.shards > 1 else glob.escape(local)
                self._patterns.append(final + ".tmp-*")
        self._files = [p for p in (_local(f) for f in extra_files) if p is not None]
        self._remote_files = [f for f in extra_files if _local(f) is None]  # the run's own, e.g. counts
        for local in self._files:  # written with Beam's text sink: its temporary folder too
            directory, name = os.path.split(os.path.abspath(local))
            self._patterns.append(os.path.join(glob.escape(directory), f"beam-temp-{glob.escape(name)}-*"))
        self._before: set[str] = set()

    def _present(self) -> set[str]:
        return {hit for pattern in self._patterns for hit in glob.glob(pattern)}

    def snapshot(self) -> None:
        self._before = self._present()

    def remove(self) -> list[str]:
        """Remove what appeared since :meth:`snapshot`; returns the paths removed (no errors raised)."""
        removed = []
        internal = {f for f in self._files if os.path.lexists(f)}
        for path in sorted((self._present() - self._before) | internal):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            except OSError as exc:
                log.warning("could not remove the temporary %s: %s", path, exc.strerror or type(exc).__name__)
                continue
            removed.append(path)
        for uri in self._remote_files:
            try:
                if FileSystems.exists(uri):
                    FileSystems.delete([uri])
                    removed.append(uri)
            except Exception as exc:  # noqa: BLE001 - Beam wraps storage errors in its own types
                log.warning("could not remove the temporary %s: %s", uri, type(exc).__name__)
        return removed
