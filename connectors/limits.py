"""Size limits shared by the file parsers, and the field-size check they all apply."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a parser's memory independent of the file size.

    ``max_field_bytes``: largest UTF-8 size of one string value (larger -> ``oversize``).
    ``max_record_bytes``: largest raw size of one record (a CSV record, a JSONL line); defaults to
    four times ``max_field_bytes``. No parser ever buffers much more than this.
    ``max_record_lines``: most physical lines one quoted CSV record may span before its opening quote
    is declared unclosed.
    """

    max_field_bytes: int = MIB
    max_record_bytes: int | None = None
    max_record_lines: int = 1000

    def __post_init__(self) -> None:
        if self.max_field_bytes < 1 or self.max_record_lines < 1:
            raise ValueError("limits must be positive")
        if self.max_record_bytes is not None and self.max_record_bytes < 1:
            raise ValueError("limits must be positive")

    @property
    def record_bytes(self) -> int:
        """The effective record limit."""
        return self.max_record_bytes if self.max_record_bytes is not None else 4 * self.max_field_bytes


def utf8_size(text: str) -> int:
    """UTF-8 size of ``text`` without encoding it when the answer is obvious."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _largest_string(value: Any) -> int:
    """Largest UTF-8 size of any string nested in ``value`` (0 when there is none)."""
    if isinstance(value, str):
        return utf8_size(value)
    if isinstance(value, dict):
        return max((_largest_string(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return max((_largest_string(v) for v in value), default=0)
    return 0


def first_oversize_field(values: Iterable[Any], max_field_bytes: int) -> tuple[int, int] | None:
    """``(1-based field index, size)`` of the first value holding a string over the limit, else None."""
    for index, value in enumerate(values, start=1):
        size = _largest_string(value)
        if size > max_field_bytes:
            return index, size
    return None
