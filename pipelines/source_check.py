"""A local ``--source`` file checked before the job starts, so a user's mistake is a usage error (exit 2).

Only a local path without glob characters is checked: a directory, a non-regular file (a FIFO, a
device) or a file this process cannot open is refused with one line naming the flag and the path. A
missing file is left to the connector, which names it when the graph is built; a glob, a database or
an HTTP API is not checked here. A file that fails *while* it is read stays a ``source_error`` of the
run (the manifest names where reading stopped).
"""

from __future__ import annotations

import os
import stat

_GLOB = frozenset("*?[")


class SourcePathError(ValueError):
    """A source path that cannot be read; the message names the flag and the path."""


def check_source(flag: str, uri: str, kind: str) -> None:
    """Raise :class:`SourcePathError` when the local file ``uri`` given for ``flag`` cannot be read."""
    if kind != "file":
        return
    path = uri.removeprefix("file://")
    if "://" in path or _GLOB & set(path):
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return  # the connector names it ("no file matches ...")
    except OSError as exc:
        raise SourcePathError(f"{flag} {uri}: {exc.strerror or type(exc).__name__}") from None
    if stat.S_ISDIR(mode):
        raise SourcePathError(f"{flag} {uri}: is a directory; name a file, or a glob such as "
                              f"{os.path.join(uri, '*.csv')}")
    if not stat.S_ISREG(mode):
        raise SourcePathError(f"{flag} {uri}: not a regular file")
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourcePathError(f"{flag} {uri}: cannot be read ({reason})") from None
