"""Scan model answers for personal data the prompt did not carry (destination option ``scan_answers``).

A model can write personal data of its own: an e-mail address it invents, a phone number it remembers.
Such a value never passed the redactor and is not a pseudonym from the request's vault, so
re-identification does not explain it. The scan runs on the answer as it came back, BEFORE
re-identification: at that point the only personal data the prompt contributed are placeholders
(``<PERSON_1>``, also as a model rewrites them, ``< person_1 >``), which the scan skips. Whatever else the
policy's engine finds was written by the model.

Only real placeholders are skipped: the caller says which ``<...>`` spans its vault restores (``known``);
without it, only spans shaped like a placeholder (``<PERSON_1>``, ``<CREDIT_CARD>``) are. Anything else in
angle brackets (``<Card 5555 5555 5555 4444>``) is scanned, and a finding that overlaps a placeholder
keeps its part outside it. Texts are scanned as read (:func:`~redactline.policies.readable.readable`:
NFKC, no invisible characters), so a card number in full-width digits is found too; in ``redact`` mode a
text with findings comes back in that form.

Modes: ``off`` (default), ``flag`` (count by entity type, the answer unchanged), ``redact`` (each finding
replaced by ``[ENTITY_TYPE]``: square brackets, so the vault never turns it into a real value). Counts
name entity types only, never a value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .readable import readable

ScanMode = Literal["off", "flag", "redact"]
SCAN_MODES: tuple[str, ...] = ("off", "flag", "redact")

# a span that may be a placeholder (the vault decides, see ``known``), and the default shape when no vault
# is given: upper-case words joined by "_", an optional short number; no spaces, so no name or number hides
_BRACKETED = re.compile(r"<[^<>\n]{1,80}>")
_PLACEHOLDER_SHAPE = re.compile(r"<[A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*(?:_\d{1,6})?>")


def _shaped(span: str) -> bool:
    return _PLACEHOLDER_SHAPE.fullmatch(span) is not None


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


def _outside(start: int, end: int, skip: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` not covered by the ``skip`` spans (sorted, disjoint)."""
    parts = []
    for s, e in skip:
        if e <= start or s >= end:
            continue
        if s > start:
            parts.append((start, s))
        start = max(start, e)
    if start < end:
        parts.append((start, end))
    return parts


def _spans(text: str, results: Sequence[Any], known: Callable[[str], bool]) -> list[tuple[int, int, str]]:
    """Findings outside placeholders (a finding overlapping one keeps its parts outside it that hold a
    letter or digit), overlaps merged (the first-starting, longest one names the span)."""
    skip = [m.span() for m in _BRACKETED.finditer(text) if known(m.group())]
    pieces = []
    for result in results:
        for start, end in _outside(result.start, result.end, skip):
            piece = text[start:end]
            if any(c.isalnum() for c in piece):
                start += len(piece) - len(piece.lstrip())
                end -= len(piece) - len(piece.rstrip())
                pieces.append((start, end, result.entity_type))
    kept = sorted(pieces, key=lambda span: (span[0], -span[1]))
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in kept:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, kind))
    return merged


def scan_answers(engine: Any, texts: Sequence[str], mode: str,
                 known: Callable[[str], bool] | None = None) -> AnswerScan:
    """Scan ``texts`` (answers, placeholders not yet restored) with the policy's ``engine``.

    ``known(span)`` says whether a ``<...>`` span is a placeholder of the request's vault (skipped); by
    default, spans shaped like a placeholder are.
    """
    if mode not in SCAN_MODES:
        raise ValueError(f"scan mode must be one of {', '.join(SCAN_MODES)}")
    texts = list(texts)
    if mode == "off" or not any(t.strip() for t in texts):
        return AnswerScan(texts)
    is_placeholder = known or _shaped
    read = [readable(t) for t in texts]
    found: Counter[str] = Counter()
    out: list[str] = []
    for original, text, results in zip(texts, read, engine.analyze_texts(read), strict=True):
        spans = _spans(text, results, is_placeholder)
        found.update(kind for _, _, kind in spans)
        if mode == "redact" and spans:
            for start, end, kind in reversed(spans):
                text = f"{text[:start]}[{kind}]{text[end:]}"
            out.append(text)
        else:
            out.append(original)
    return AnswerScan(out, found)
