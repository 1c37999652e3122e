"""A bounded physical-line reader over a binary stream.

Reads fixed-size chunks (never the whole file, never an unbounded ``readline``) and yields each
physical line. A line longer than the limit is yielded once with only its first ``limit`` bytes; the
rest is skipped up to its newline, optionally folded through a callback (CSV uses that to follow the
quote state across text it does not keep).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Line:
    """One physical line. ``data`` includes its ``\\n`` (if any); truncated to the limit when oversize."""

    no: int  # 1-based
    data: bytes
    size: int  # full size in bytes, newline included
    oversize: bool = False
    folded: Any = None  # fold result over the whole line, for oversize lines only
    offset: int = 0  # byte offset of the line's start (``base_offset`` + bytes read before it)


def iter_lines(
    stream: BinaryIO,
    limit: int,
    fold: Callable[[Any, bytes], Any] | None = None,
    fold_init: Any = None,
    chunk_bytes: int = CHUNK_BYTES,
    *,
    first_no: int = 0,
    base_offset: int = 0,
) -> Iterator[Line]:
    """Yield the physical lines of ``stream``; memory stays within ``limit + chunk_bytes``.

    A line is oversize when no newline occurs within its first ``limit`` bytes. Lines are numbered from
    ``first_no + 1``; offsets count from ``base_offset`` (the stream's position in its file, when it
    was opened part-way).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    buf = b""
    pos = 0
    no = first_no
    offset = base_offset
    eof = False
    while True:
        nl = buf.find(b"\n", pos, pos + limit)
        if nl >= 0:
            no += 1
            line = buf[pos : nl + 1]
            pos = nl + 1
            yield Line(no, line, len(line), offset=offset)
            offset += len(line)
            continue
        pending = len(buf) - pos
        if pending >= limit:
            no += 1
            head = buf[pos : pos + limit]
            acc = fold(fold_init, head) if fold else None
            size = limit
            buf, pos = buf[pos + limit :], 0
            while True:  # skip to the end of this line, folding what is skipped
                nl = buf.find(b"\n")
                if nl >= 0:
                    piece = buf[: nl + 1]
                    buf = buf[nl + 1 :]
                else:
                    piece = buf
                    buf = b""
                if piece:
                    size += len(piece)
                    if fold:
                        acc = fold(acc, piece)
                if nl >= 0:
                    break
                buf = stream.read(chunk_bytes) or b""
                if not buf:
                    eof = True
                    break
            yield Line(no, head, size, oversize=True, folded=acc, offset=offset)
            offset += size
            continue
        if eof:
            if pending:
                no += 1
                yield Line(no, buf[pos:], pending, offset=offset)
            return
        chunk = stream.read(chunk_bytes)
        if not chunk:
            eof = True
        buf = buf[pos:] + (chunk or b"")
        pos = 0
