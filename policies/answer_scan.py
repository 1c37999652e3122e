"""Scan model answers for personal data the prompt did not carry (destination option ``scan_answers``).

A model can write personal data of its own: an e-mail address it invents, a phone number it remembers.
Such a value never passed the redactor and is not a pseudonym from the request's vault, so
re-identification does not explain it. The scan runs on the answer as it came back, BEFORE
re-identification: at that point the only personal data the prompt contributed are placeholders
(``<PERSON_1>``, also as a model rewrites them, ``< person_1 >``), which the scan skips. Whatever else the
policy's engine finds was written by the model.

Modes: ``off`` (default), ``flag`` (count by entity type, the answer unchanged), ``redact`` (each finding
replaced by ``[ENTITY_TYPE]``: square brackets, so the vault never turns it into a real value). Counts
name entity types only, never a value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ScanMode = Literal["off", "flag", "redact"]
SCAN_MODES: tuple[str, ...] = ("off", "flag", "redact")

# a placeholder as written into prompts, or as a model rewrites it (case, spaces): skipped by the scan
_PLACEHOLDER = re.compile(r"<\s*[A-Za-z][A-Za-z0-9_ ]*\s*>")


@dataclass
class AnswerScan:
    """The scanned texts (changed only in ``redact`` mode) and what was found, by entity type."""

    texts: list[str] = field(repr=False)
    found: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.found.values())

    def summary(self) -> str:
        """``EMAIL_ADDRESS=1,PERSON=2`` (entity types and counts only)."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.found.items()))


def _spans(text: str, results: Sequence[Any]) -> list[tuple[int, int, str]]:
    """Findings outside placeholders, overlaps merged (the first-starting, longest one names the span)."""
    skip = [m.span() for m in _PLACEHOLDER.finditer(text)]
    kept = sorted(
        ((r.start, r.end, r.entity_type) for r in results
         if text[r.start:r.end].strip() and not any(r.start < e and s < r.end for s, e in skip)),
        key=lambda span: (span[0], -span[1]),
    )
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in kept:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, kind))
    return merged


def scan_answers(engine: Any, texts: Sequence[str], mode: str) -> AnswerScan:
    """Scan ``texts`` (answers, placeholders not yet restored) with the policy's ``engine``."""
    if mode not in SCAN_MODES:
        raise ValueError(f"scan mode must be one of {', '.join(SCAN_MODES)}")
    texts = list(texts)
    if mode == "off" or not any(t.strip() for t in texts):
        return AnswerScan(texts)
    found: Counter[str] = Counter()
    out: list[str] = []
    for text, results in zip(texts, engine.analyze_texts(texts), strict=True):
        spans = _spans(text, results)
        found.update(kind for _, _, kind in spans)
        if mode == "redact":
            for start, end, kind in reversed(spans):
                text = f"{text[:start]}[{kind}]{text[end:]}"
        out.append(text)
    return AnswerScan(out, found)
