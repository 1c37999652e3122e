"""Policy files as of a git revision, for ``policy diff --base REF FILE...``.

A policy's meaning at a revision is the policy file *and everything it extends* (and any
``detection.presidio_registry`` file) as they were at that revision. :func:`policies_at` mirrors
exactly those files into a temporary directory, read with ``git ls-tree`` / ``git cat-file`` (never a
checkout, the working tree is left alone), so the loader
resolves the old policy with its usual rules (confinement to the root policy's tree, symlinks, cycles,
size and YAML limits) against the old files. Symbolic links are mirrored as links. ``library:NAME``
reads the library as of the revision when the library lives in the same repository (redactline's own
policies); otherwise it is the installed library. Key files are not versioned: a key file named by an
old policy is linked to the working tree's copy (needed only for ``--sample``).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .loader import (
    LIBRARY_DIR,
    LIBRARY_PREFIX,
    MAX_POLICY_BYTES,
    PolicyError,
    allow_extends_outside,
    library_from,
    read_policy_file,
)

#: Files mirrored at most (a policy and its extends are a handful; this stops a runaway graph).
MAX_FILES = 200
_GIT_TIMEOUT = 30


class RevisionError(ValueError):
    """The revision or a file cannot be read through git (not a repository, unknown REF)."""


def _git(top: Path, *args: str, input_limit: int | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(top), *args], capture_output=True, timeout=_GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RevisionError(f"git {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RevisionError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return done.stdout


def _blob_head(top: Path, sha: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a blob (a larger one is cut: the loader then refuses its size)."""
    with subprocess.Popen(
        ["git", "-C", str(top), "cat-file", "blob", sha], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        data = proc.stdout.read(limit)
        proc.kill()
    return data


@dataclass
class Snapshot:
    """Policy files mirrored as of ``commit`` under ``root`` (a temporary directory)."""

    repo: Path
    commit: str
    root: Path
    library: Path | None = None
    extra_dirs: list[Path] = field(default_factory=list)

    def path_of(self, file: Path) -> Path | None:
        """The mirror of working-tree ``file``, or None when it did not exist at the revision."""
        mirrored = self.root / _repo_relative(self.repo, file)
        return mirrored if mirrored.is_file() else None

    @contextlib.contextmanager
    def resolving(self) -> Iterator[None]:
        """Load policies of the mirror with the library and allowed directories of the revision."""
        with contextlib.ExitStack() as stack:
            if self.library is not None:
                stack.enter_context(library_from(self.library))
            stack.enter_context(allow_extends_outside(self.extra_dirs))
            yield


def _repo_relative(top: Path, file: Path) -> str:
    absolute = Path(os.path.abspath(file))
    for candidate in (absolute, Path(os.path.realpath(file))):
        if candidate.is_relative_to(top):
            return candidate.relative_to(top).as_posix()
    raise RevisionError(f"{file} is not inside the git repository {top}")


def repository_of(path: Path) -> Path:
    directory = Path(os.path.abspath(path)).parent
    out = _git(directory, "rev-parse", "--show-toplevel")
    return Path(os.path.realpath(out.decode("utf-8").strip()))


class _Mirror:
    def __init__(self, top: Path, commit: str, root: Path) -> None:
        self.top, self.commit, self.root = top, commit, root
        self.done: set[str] = set()

    def add(self, rel: str) -> None:
        """Mirror ``rel`` (repo-relative) and, for a policy, what it extends."""
        rel = posixpath.normpath(rel)
        if rel in self.done or rel.startswith("../") or rel == ".." or posixpath.isabs(rel):
            return
        if len(self.done) >= MAX_FILES:
            raise RevisionError(f"more than {MAX_FILES} files reached through extends")
        self.done.add(rel)
        listing = _git(self.top, "ls-tree", "-z", self.commit, "--", rel).split(b"\0")[0]
        if not listing:
            return  # absent at the revision: the loader reports "not found"
        meta, _, _ = listing.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            link = _blob_head(self.top, sha, 4096).decode("utf-8", "replace")
            os.symlink(link, target)
            self.add(posixpath.join(posixpath.dirname(rel), link))
            return
        if kind != "blob":
            return
        target.write_bytes(_blob_head(self.top, sha, MAX_POLICY_BYTES + 1))
        self._follow(rel, target)

    def _follow(self, rel: str, target: Path) -> None:
        try:
            data = read_policy_file(target).data
        except PolicyError:
            return  # the loader reports it with file and line
        here = posixpath.dirname(rel)
        extends = data.get("extends")
        for ref in extends if isinstance(extends, list) else []:
            if not isinstance(ref, str):
                continue
            if ref.startswith(LIBRARY_PREFIX):
                if LIBRARY_DIR.is_relative_to(self.top):
                    name = ref[len(LIBRARY_PREFIX) :]
                    self.add(posixpath.join(LIBRARY_DIR.relative_to(self.top).as_posix(), f"{name}.yaml"))
                continue
            if not posixpath.isabs(ref):
                self.add(posixpath.join(here, ref))
        detection = data.get("detection")
        registry = detection.get("presidio_registry") if isinstance(detection, dict) else None
        if isinstance(registry, str) and not posixpath.isabs(registry):
            self.add(posixpath.join(here, registry))  # a Presidio registry file is versioned like extends
        keys = data.get("keys")
        for spec in keys.values() if isinstance(keys, dict) else []:
            key_file = spec.get("file") if isinstance(spec, dict) else None
            if isinstance(key_file, str) and not posixpath.isabs(key_file):
                live = self.top / here / key_file
                mirror = self.root / here / key_file
                if live.is_file() and not os.path.lexists(mirror):
                    mirror.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(live, mirror)


@contextlib.contextmanager
def policies_at(ref: str, files: Sequence[Path], allow_dirs: Sequence[Path] = ()) -> Iterator[Snapshot]:
    """Mirror ``files`` and everything they extend as of git revision ``ref``; removed on exit."""
    if not files:
        raise RevisionError("name at least one policy file")
    if ref.startswith("-"):
        raise RevisionError(f"{ref!r} is not a revision")
    top = repository_of(files[0])
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    with tempfile.TemporaryDirectory(prefix="redactline-base-") as tmp:
        root = Path(os.path.realpath(tmp))
        mirror = _Mirror(top, commit, root)
        for file in files:
            if repository_of(file) != top:
                raise RevisionError(f"{file} is not in the same git repository as {files[0]}")
            mirror.add(_repo_relative(top, file))
        extra: list[Path] = []
        for directory in allow_dirs:
            real = Path(os.path.realpath(directory))
            extra.append(root / real.relative_to(top) if real.is_relative_to(top) else real)
        library = root / LIBRARY_DIR.relative_to(top) if LIBRARY_DIR.is_relative_to(top) else None
        yield Snapshot(top, commit, root, library, extra)
