"""Bounded reads of small input files: policies, key files, PCR policies, attestation documents.

Every file the project reads from a path a user names goes through :func:`read_bounded`: the path must
be a regular file (``/dev/zero``, a FIFO or a directory is refused before anything is read), its size
is checked before reading, and at most ``limit + 1`` bytes are ever read (a file that grows meanwhile is
still refused). Messages name the file and the limit, never its content.
"""

from __future__ import annotations

import os
import stat

KIB = 1024
MIB = 1024 * KIB


class BoundedReadError(ValueError):
    """A file that cannot be read within bounds: missing, not a regular file, too large or unreadable.

    ``reason`` is the problem without the file name; ``str(error)`` is ``"<file>: <reason>"``.
    """

    def __init__(
        self, path: str | os.PathLike[str], reason: str, *, missing: bool = False, os_error: str | None = None
    ) -> None:
        self.path = str(path)
        self.reason = reason
        self.missing = missing
        self.os_error = os_error  # the system's message when the read itself failed
        super().__init__(f"{self.path}: {reason}")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size_text(limit: int) -> str:
    if limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


def _os_failure(path: str | os.PathLike[str], exc: OSError) -> BoundedReadError:
    problem = exc.strerror or exc.__class__.__name__
    return BoundedReadError(path, f"cannot read ({problem})", os_error=problem)


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """Return the bytes of the regular file ``path``; raise :class:`BoundedReadError` if it is not one,
    or holds more than ``limit`` bytes."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise BoundedReadError(path, "file not found", missing=True, os_error=exc.strerror) from None
    except OSError as exc:
        raise _os_failure(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BoundedReadError(path, f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise BoundedReadError(path, f"is {info.st_size} bytes, over the limit of {_size_text(limit)}")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 64 * KIB))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise _os_failure(path, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise BoundedReadError(path, f"is over the limit of {_size_text(limit)}")
    return data


def read_bounded_text(path: str | os.PathLike[str], limit: int, encoding: str = "utf-8") -> str:
    """:func:`read_bounded`, decoded; undecodable content is a :class:`BoundedReadError` (no byte quoted)."""
    data = read_bounded(path, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise BoundedReadError(path, f"is not {encoding} text") from None


__all__ = ["KIB", "MIB", "BoundedReadError", "read_bounded", "read_bounded_text"]
