"""Measure a policy's detection quality on a labelled corpus (``redactline eval``).

Corpus formats (:func:`load_corpus` tells them apart per document): JSON Lines or a JSON array of
documents, each either the project's own ``{"text": ..., "spans": [{"start", "end", "type"}]}`` or
presidio-evaluator's ``{"full_text": ..., "spans": [{"entity_type", "entity_value", "start_position",
"end_position"}]}``. Extra keys (``id``, ``value``, ``entity_value``...) are ignored: the report never
reads or prints a value. Only :func:`write_misses` (``redactline eval --misses``) writes text out.

Matching is **span-level and overlap-based**:

* a gold span is *found* when any finding overlaps it by at least one character;
* a finding is a *true positive* when it overlaps any gold span.

Any-type recall and precision ignore types. Per-type scores compare *families*: a corpus type and a
policy entity type are mapped to one family name (:data:`CORPUS_FAMILY`, :data:`ENTITY_FAMILY`), and
a match only counts within a family. The **leak rate** is character-level: the share of gold PII
characters (union of gold spans) not covered by any finding, whatever its type. It is the figure that
says how much PII would reach a destination. It is also given per corpus type (``leak_by_type``: the
characters of that type's gold spans that survive verbatim), which says where to work next.

Thresholds (:meth:`EvalReport.check_fail_under`): ``recall``, ``precision``, ``f1`` (any-type) and
``TYPE.recall`` / ``TYPE.precision`` / ``TYPE.f1`` (per family) fail when the measured value is
*below* the threshold; ``leak_rate`` is the exception: it fails when the measured value is *above*
it, so ``--fail-under recall=0.8 --fail-under leak_rate=0.2`` asks for recall >= 0.8 and
leak rate <= 0.2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import RedactionEngine

#: Corpus (presidio-evaluator) span type -> family. Addresses, cities/countries and postal codes
#: all count as LOCATION: a policy that replaces a ZIP code as part of a LOCATION has not leaked it.
CORPUS_FAMILY: dict[str, str] = {
    "PERSON": "PERSON",
    "TITLE": "PERSON",  # "Mr.", "Dr.", job titles: part of how a person is named
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "NRP": "NRP",
    "DATE_TIME": "DATE_TIME",
    "AGE": "AGE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "DOMAIN_NAME": "URL",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}

#: Policy (Presidio / redactline) entity type -> family. Types not listed are their own family.
ENTITY_FAMILY: dict[str, str] = {
    "PERSON": "PERSON",
    "TITLE": "PERSON",
    "JOB_TITLE": "PERSON",  # the corpus's TITLE covers job titles too
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "NRP": "NRP",
    "DATE_TIME": "DATE_TIME",
    "AGE": "AGE",
    "URL": "URL",
    "DOMAIN_NAME": "URL",
}

#: Any-type metrics accepted by ``check_fail_under``; per-family ones are ``FAMILY.metric``.
METRICS = ("recall", "precision", "f1", "leak_rate")
_TYPED_METRICS = ("recall", "precision", "f1")


def corpus_family(corpus_type: str) -> str:
    return CORPUS_FAMILY.get(corpus_type, corpus_type)


def entity_family(entity_type: str) -> str:
    return ENTITY_FAMILY.get(entity_type, entity_type)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str


@dataclass(frozen=True)
class Document:
    text: str
    spans: tuple[Span, ...]


class CorpusError(ValueError):
    """A corpus line is malformed; the message names the line, never its text."""


def _span(raw: dict[str, Any]) -> Span:
    if "start_position" in raw:  # presidio-evaluator (its end_position is exclusive, like ours)
        return Span(int(raw["start_position"]), int(raw["end_position"]), str(raw["entity_type"]))
    return Span(int(raw["start"]), int(raw["end"]), str(raw["type"]))


def _document(raw: Any, where: str) -> Document:
    """One corpus document in either shape, validated (offsets inside the text, start < end)."""
    try:
        text = raw["full_text"] if "full_text" in raw else raw["text"]
        spans = tuple(_span(s) for s in raw["spans"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"{where}: not a corpus document ({type(exc).__name__})") from None
    if not isinstance(text, str):
        raise CorpusError(f"{where}: text is not a string")
    for span in spans:
        if not 0 <= span.start < span.end <= len(text):
            raise CorpusError(f"{where}: span {span.start}-{span.end} outside the text")
    return Document(text, spans)


def _raw_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed document) from a JSON array file or a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        head = handle.read(1)
        while head and head.isspace():
            head = handle.read(1)
        handle.seek(0)
        if head == "[":
            try:
                documents = json.load(handle)
            except ValueError as exc:
                raise CorpusError(f"{path}: not a JSON array ({type(exc).__name__})") from None
            for index, raw in enumerate(documents):
                yield f"{path}[{index}]", raw
            return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise CorpusError(f"{path}:{number}: not a corpus line ({type(exc).__name__})") from None
            yield f"{path}:{number}", raw


def load_corpus(path: str | Path, limit: int | None = None) -> Iterator[Document]:
    """Documents of a corpus (JSON Lines or a JSON array; the project's shape or presidio-evaluator's)."""
    for count, (where, raw) in enumerate(_raw_documents(Path(path))):
        if limit is not None and count >= limit:
            return
        yield _document(raw, where)


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return _safe_div(2 * precision * recall, precision + recall)


@dataclass
class TypeScores:
    """Counts and scores of one family. ``gold_found``/``gold`` give recall, ``pred_true``/``pred``
    give precision."""

    gold: int = 0
    gold_found: int = 0
    pred: int = 0
    pred_true: int = 0

    @property
    def recall(self) -> float:
        return _safe_div(self.gold_found, self.gold)

    @property
    def precision(self) -> float:
        return _safe_div(self.pred_true, self.pred)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out.update(
            recall=round(self.recall, 4), precision=round(self.precision, 4), f1=round(self.f1, 4)
        )
        return out


@dataclass
class TypeLeak:
    """Characters of one corpus type's gold spans, and how many of them no finding covers."""

    gold_chars: int = 0
    leaked_chars: int = 0

    @property
    def leak_rate(self) -> float:
        return _safe_div(self.leaked_chars, self.gold_chars)


@dataclass
class EvalReport:
    """Quality figures of one policy on one corpus. Holds counts only, never text."""

    policy: str
    corpus: str
    documents: int = 0
    any_type: TypeScores = field(default_factory=TypeScores)
    gold_chars: int = 0
    leaked_chars: int = 0
    per_type: dict[str, TypeScores] = field(default_factory=dict)
    #: per corpus type: gold spans and how many were overlapped by a finding of *any* type
    gold_types: dict[str, TypeScores] = field(default_factory=dict)
    #: per corpus type: its gold characters and those that survive verbatim
    leak_by_type: dict[str, TypeLeak] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def recall(self) -> float:
        return self.any_type.recall

    @property
    def precision(self) -> float:
        return self.any_type.precision

    @property
    def f1(self) -> float:
        return self.any_type.f1

    @property
    def leak_rate(self) -> float:
        return _safe_div(self.leaked_chars, self.gold_chars)

    def metric(self, name: str) -> float:
        """Value of ``recall``/``precision``/``f1``/``leak_rate`` or ``FAMILY.recall`` etc."""
        if name in METRICS:
            return float(getattr(self, name))
        family, _, metric = name.rpartition(".")
        if family and metric in _TYPED_METRICS:
            scores = self.per_type.get(family)
            if scores is None:
                raise ValueError(f"no entity family {family!r} in this report")
            return float(getattr(scores, metric))
        raise ValueError(
            f"unknown metric {name!r}; use one of {', '.join(METRICS)} or FAMILY.recall|precision|f1"
        )

    def check_fail_under(self, spec: str) -> list[str]:
        """Failures for one ``METRIC=VALUE`` threshold (empty list: it holds).

        ``leak_rate=V`` fails when the leak rate is above V; every other metric fails below V.
        Raises ``ValueError`` for a malformed spec or an unknown metric.
        """
        name, value = parse_threshold(spec)
        measured = self.metric(name)
        if name == "leak_rate":
            if measured > value:
                return [f"leak_rate {measured:.4f} is above the allowed {value:.4f}"]
            return []
        if measured < value:
            return [f"{name} {measured:.4f} is below the required {value:.4f}"]
        return []

    def check_all(self, specs: Iterable[str]) -> list[str]:
        return [failure for spec in specs for failure in self.check_fail_under(spec)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "corpus": self.corpus,
            "documents": self.documents,
            "matching": "span overlap (any character); leak rate is character-level",
            "any_type": self.any_type.as_dict(),
            "gold_chars": self.gold_chars,
            "leaked_chars": self.leaked_chars,
            "leak_rate": round(self.leak_rate, 4),
            "per_type": {k: v.as_dict() for k, v in sorted(self.per_type.items())},
            "gold_types_any_match": {
                k: {"gold": v.gold, "found": v.gold_found, "recall": round(v.recall, 4)}
                for k, v in sorted(self.gold_types.items())
            },
            "leak_by_type": {
                k: {
                    "gold_chars": v.gold_chars,
                    "leaked_chars": v.leaked_chars,
                    "leak_rate": round(v.leak_rate, 4),
                }
                for k, v in sorted(self.leak_by_type.items())
            },
            "seconds": round(self.seconds, 3),
            "docs_per_second": round(_safe_div(self.documents, self.seconds), 1),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_text(self) -> str:
        a = self.any_type
        lines = [
            f"policy {self.policy} on {self.corpus}: {self.documents} documents, "
            f"{a.gold} gold spans, {a.pred} findings, {self.seconds:.1f}s",
            f"any type: recall {a.recall:.3f}  precision {a.precision:.3f}  f1 {a.f1:.3f}  "
            f"leak rate {self.leak_rate:.3f} ({self.leaked_chars}/{self.gold_chars} gold characters)",
            "",
            f"{'family':<20}{'gold':>7}{'found':>7}{'pred':>7}{'true':>7}"
            f"{'recall':>9}{'precision':>11}{'f1':>7}",
        ]
        for name, s in sorted(self.per_type.items()):
            lines.append(
                f"{name:<20}{s.gold:>7}{s.gold_found:>7}{s.pred:>7}{s.pred_true:>7}"
                f"{s.recall:>9.3f}{s.precision:>11.3f}{s.f1:>7.3f}"
            )
        lines += ["", f"{'corpus type':<20}{'gold':>7}{'found by any finding':>22}{'char leak':>18}"]
        for name, s in sorted(self.gold_types.items()):
            leak = self.leak_by_type.get(name, TypeLeak())
            lines.append(
                f"{name:<20}{s.gold:>7}{s.gold_found:>9} ({s.recall:.3f})"
                f"{leak.leak_rate:>14.3f} ({leak.leaked_chars}/{leak.gold_chars})"
            )
        return "\n".join(lines)


def parse_threshold(spec: str) -> tuple[str, float]:
    """``"recall=0.8"`` -> ``("recall", 0.8)``; the value must lie in [0, 1]."""
    name, sep, raw = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"threshold {spec!r} is not METRIC=VALUE")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"threshold {spec!r}: {raw.strip()!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {spec!r}: value must be between 0 and 1")
    return name, value


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def score_document(
    report: EvalReport, gold: Iterable[Span], predicted: Iterable[tuple[int, int, str]]
) -> None:
    """Add one document's gold spans and findings ``(start, end, entity_type)`` to ``report``."""
    gold = list(gold)
    predicted = list(predicted)
    report.documents += 1
    covered: set[int] = set()
    for start, end, _ in predicted:
        covered.update(range(start, end))
    gold_chars: set[int] = set()
    for span in gold:
        gold_chars.update(range(span.start, span.end))
    report.gold_chars += len(gold_chars)
    report.leaked_chars += len(gold_chars - covered)
    by_type: dict[str, set[int]] = {}
    for span in gold:
        by_type.setdefault(span.type, set()).update(range(span.start, span.end))
    for corpus_type, chars in by_type.items():
        leak = report.leak_by_type.setdefault(corpus_type, TypeLeak())
        leak.gold_chars += len(chars)
        leak.leaked_chars += len(chars - covered)

    for span in gold:
        family = corpus_family(span.type)
        scores = report.per_type.setdefault(family, TypeScores())
        hits = [p for p in predicted if _overlaps(span.start, span.end, p[0], p[1])]
        report.any_type.gold += 1
        report.any_type.gold_found += bool(hits)
        by_type = report.gold_types.setdefault(span.type, TypeScores())
        by_type.gold += 1
        by_type.gold_found += bool(hits)
        scores.gold += 1
        scores.gold_found += any(entity_family(p[2]) == family for p in hits)
    for start, end, entity_type in predicted:
        family = entity_family(entity_type)
        scores = report.per_type.setdefault(family, TypeScores())
        hits = [g for g in gold if _overlaps(start, end, g.start, g.end)]
        report.any_type.pred += 1
        report.any_type.pred_true += bool(hits)
        scores.pred += 1
        scores.pred_true += any(corpus_family(g.type) == family for g in hits)


def missed_spans(
    documents: Iterable[Document], findings: Iterable[Iterable[tuple[int, int, str]]], context: int = 40
) -> Iterator[dict[str, Any]]:
    """Each gold span with characters no finding covers: where, its value, what leaked, and the text
    ``context`` characters either side (with the findings that touch that window). Holds PII."""
    for index, (document, predicted) in enumerate(zip(documents, findings, strict=True)):
        predicted = list(predicted)
        covered: set[int] = set()
        for start, end, _ in predicted:
            covered.update(range(start, end))
        text = document.text
        for span in document.spans:
            leaked = [i for i in range(span.start, span.end) if i not in covered]
            if not leaked:
                continue
            lo, hi = max(0, span.start - context), min(len(text), span.end + context)
            yield {
                "document": index,
                "type": span.type,
                "start": span.start,
                "end": span.end,
                "value": text[span.start : span.end],
                "leaked_chars": len(leaked),
                "missed": len(leaked) == span.end - span.start,
                "context": text[lo:hi],
                "context_start": lo,
                "nearby_findings": [
                    {"type": t, "start": a, "end": b} for a, b, t in predicted if a < hi and lo < b
                ],
            }


def write_misses(
    path: str | Path, documents: list[Document], findings: list[list[tuple[int, int, str]]], context: int = 40
) -> int:
    """Write :func:`missed_spans` as JSON Lines to ``path``; returns how many. The file holds PII
    from the corpus: for the developer's own corpora only."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for miss in missed_spans(documents, findings, context):
            handle.write(json.dumps(miss, ensure_ascii=False) + "\n")
            count += 1
    return count


def evaluate(
    engine: RedactionEngine,
    corpus_path: str | Path,
    batch_size: int = 128,
    limit: int | None = None,
    misses: str | Path | None = None,
    context: int = 40,
) -> EvalReport:
    """Run ``engine`` over the corpus (batched like production) and score its findings; with
    ``misses``, also write every gold span that leaks, with its context (:func:`write_misses`)."""
    documents = list(load_corpus(corpus_path, limit))
    report = EvalReport(policy=engine.policy.name, corpus=Path(corpus_path).name)
    start = time.perf_counter()
    results = list(engine.redact_texts((d.text for d in documents), batch_size=batch_size))
    report.seconds = time.perf_counter() - start
    findings = [[(f.start, f.end, f.entity_type) for f in result.findings] for result in results]
    for document, predicted in zip(documents, findings, strict=True):
        score_document(report, document.spans, predicted)
    if misses is not None:
        write_misses(misses, documents, findings, context)
    return report
