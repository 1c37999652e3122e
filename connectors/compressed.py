"""A decompressing reader that notices a compressed file ending early.

Beam's ``CompressedFile`` stops quietly when the compressed bytes run out, so a truncated ``.gz``
reads as a shorter file and its cut-off last line as a valid record. :class:`CheckedDecompressor`
reads the same formats (gzip, bzip2, deflate, zstd, xz/lzma; concatenated members/frames included)
and raises :class:`TruncatedStream` when the file ends before the compressed stream's end marker, or
:class:`CorruptStream` when the decompressor refuses the bytes, naming the byte offsets reached.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

from apache_beam.io.filesystem import CompressionTypes

READ_BYTES = 64 * 1024


class CompressedReadError(OSError):
    """The compressed stream could not be read to its end; ``decompressed`` bytes were produced."""

    def __init__(self, message: str, compressed: int, decompressed: int) -> None:
        super().__init__(message)
        self.compressed = compressed
        self.decompressed = decompressed


class TruncatedStream(CompressedReadError):
    pass


class CorruptStream(CompressedReadError):
    pass


def _zstd() -> Any:
    import zstandard  # Beam's own dependency for .zst

    # the same window cap as Beam, so a file Beam reads is read here too
    return zstandard.ZstdDecompressor(max_window_size=2**31).decompressobj()


_DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    CompressionTypes.GZIP: lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    CompressionTypes.DEFLATE: zlib.decompressobj,
    CompressionTypes.BZIP2: bz2.BZ2Decompressor,
    CompressionTypes.LZMA: lzma.LZMADecompressor,
    CompressionTypes.ZSTD: _zstd,
}


def compression_of(path: str) -> str | None:
    """The compression type this reader handles for ``path`` (by suffix), or None for plain files."""
    kind = CompressionTypes.detect_compression_type(path)
    return kind if kind in _DECOMPRESSORS else None


class CheckedDecompressor(io.RawIOBase):
    """A read-only binary stream of the decompressed bytes of ``raw`` (compression ``kind``)."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        super().__init__()
        self._raw = raw
        self._new = _DECOMPRESSORS[kind]
        self._decompressor = self._new()
        self._pending = b""
        self._started = False  # a member has begun (an empty file is no stream at all)
        self._done = False
        self.compressed = 0  # bytes of ``raw`` consumed
        self.decompressed = 0  # bytes handed out

    def readable(self) -> bool:
        return True

    def _fail(self, cls: type[CompressedReadError], what: str) -> CompressedReadError:
        return cls(f"{what} after {self.compressed} compressed / {self.decompressed} decompressed bytes",
                   self.compressed, self.decompressed)

    def _fill(self) -> None:
        while not self._pending and not self._done:
            if self._decompressor.eof:  # a member ended: more bytes start the next one
                data = self._decompressor.unused_data or self._raw.read(READ_BYTES)
                if not data:
                    self._done = True
                    return
                if not self._decompressor.unused_data:
                    self.compressed += len(data)
                self._decompressor = self._new()
            else:
                data = self._raw.read(READ_BYTES)
                if not data:
                    if self._started:
                        raise self._fail(TruncatedStream, "compressed file ends before its end marker")
                    self._done = True
                    return
                self.compressed += len(data)
            self._started = True
            try:
                self._pending = self._decompressor.decompress(data)
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
                raise self._fail(CorruptStream, f"corrupt compressed data ({type(exc).__name__})") from None
            except Exception as exc:  # zstandard.ZstdError and the like
                raise self._fail(CorruptStream, f"corrupt compressed data ({type(exc).__name__})") from None

    def readinto(self, buffer: Any) -> int:
        self._fill()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.decompressed += n
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()
