"""What the scripts that derive a data file from a pinned public source share: the source's bytes only
when they are the pinned ones, and writing the data file or checking the committed one against it."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path


def pinned_bytes(path: Path, sha256: str) -> bytes:
    """``path``'s bytes, after checking they are the pinned ones (fail closed on any other)."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(f"{path}: sha256 {digest} is not the pinned {sha256}")
    return data


def write_or_check(out: Path, text: str, *, check: bool, source: Path, summary: str) -> int:
    """Write ``text`` to ``out`` (printing ``summary``), or with ``check`` compare the committed file with
    it; the exit code (1: the committed file is not what the source and the rules give)."""
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out} is not what {source.name} and the rules give; re-run without --check",
                  file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"{out}: {summary}")
    return 0
