"""The redaction engine: Presidio detection + the policy's operators, on texts and on records.

Speed comes from three choices, measured in ``benchmarks/bench_engine.py``:
* spaCy runs once per batch (``nlp.pipe``) and only its ``ner`` component is loaded: the tagger,
  parser and lemmatizer are excluded. Presidio's context enhancer matches context words as substrings
  of lemmas; lower-cased token text serves that purpose (``"cards"`` still contains ``"card"``).
* recognizers run on precomputed NLP artifacts, never re-running spaCy per text, through
  :class:`_Analysis`: Presidio's ``AnalyzerEngine.analyze`` steps with the per-text set-up done once
  per batch, and pattern recognizers skipped on texts none of their regexes matches;
* operators are plain functions; no second pass through an anonymizer engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from . import offline
from .keys import Key
from .operators import RecordContext, apply_operator
from .paths import get_path

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

    from .schema import Detection, PolicyDocument


class PolicySource(Protocol):
    """What the engine reads from a loaded policy (``policy.Policy`` is one); the engine keeps it as
    ``engine.policy`` for callers that report on it."""

    @property
    def name(self) -> str: ...

    @property
    def document(self) -> PolicyDocument: ...


@dataclass(frozen=True)
class Finding:
    """One detected entity. Never holds the original value: only where it was and what was done."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str
    operator: str
    field: str | None = None
    context_boost: float = 0.0


@dataclass(frozen=True)
class TextResult:
    text: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class RecordResult:
    record: dict[str, Any]
    findings: tuple[Finding, ...]


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    result: RecognizerResult


def _resolve_overlaps(results: list[RecognizerResult]) -> list[_Piece]:
    """Non-overlapping pieces, best score first.

    A stronger finding keeps its own span, so its operator sees exactly what its recognizer matched (an
    age stays "89" for ``generalize``); the parts of a weaker overlapping finding outside it become
    pieces of their own, so no detected character is left uncovered.
    """
    taken: list[tuple[int, int]] = []
    pieces: list[_Piece] = []
    for result in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        free = [(result.start, result.end)]
        for start, end in taken:
            free = [
                part for a, b in free for part in ((a, min(b, start)), (max(a, end), b)) if part[0] < part[1]
            ]
        for start, end in free:
            pieces.append(_Piece(start, end, result))
            taken.append((start, end))
    return sorted(pieces, key=lambda piece: piece.start)


class _Analysis:
    """``AnalyzerEngine.analyze`` for one fixed request (language, entities, threshold, exact allow list,
    decision process kept, no ad-hoc recognizers or context words), built once per batch.

    Presidio repeats per text what does not depend on the text: choosing the recognizers (and, when no
    entities are named, every supported entity), the lazy ``load`` check. Here that is done once; the
    per-text steps are Presidio's, in its order: each recognizer's ``analyze`` in registry order, the
    recognizer id stamped on its results, results regrouped per recognizer with each recognizer's own
    ``enhance_using_context`` where it overrides the no-op default, the analyzer's context enhancer,
    the score threshold, ``remove_duplicates`` and the allow list. A pattern recognizer none of whose
    regexes matches the text is not called (its result would be empty), and one that is called only
    runs the patterns that may match (``recognizers.PatternGate``).
    """

    def __init__(
        self,
        analyzer: AnalyzerEngine,
        language: str,
        entities: list[str] | None,
        threshold: float,
        allow_list: list[str] | None,
        gate_cache: dict[str, Any],
    ):
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        from .presidio_compat import remove_allow_list
        from .recognizers import pattern_gate, text_atoms

        self.id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        self.name_key = RecognizerResult.RECOGNIZER_NAME_KEY
        all_fields = not entities
        self.recognizers = analyzer.registry.get_recognizers(
            language=language, entities=entities, all_fields=all_fields
        )
        self.entities = analyzer.get_supported_entities(language=language) if all_fields else entities
        for recognizer in self.recognizers:
            if not recognizer.is_loaded:
                recognizer.load()
                recognizer.is_loaded = True
        self.steps = [(recognizer, pattern_gate(recognizer, gate_cache)) for recognizer in self.recognizers]
        self.text_atoms = text_atoms
        default_enhance = EntityRecognizer.enhance_using_context
        # ids of recognizers with their own context logic (Presidio's predefined ones have none)
        self.own_enhancers = {
            r.id for r in self.recognizers if type(r).enhance_using_context is not default_enhance
        }
        self.enhancer = analyzer.context_aware_enhancer
        self.threshold = threshold
        self.allow_list = allow_list
        self.remove_duplicates = EntityRecognizer.remove_duplicates
        self.analyzer = analyzer
        self.remove_allow_list = remove_allow_list

    def run(self, text: str, nlp_artifacts: Any) -> list[RecognizerResult]:
        entities, id_key, name_key = self.entities, self.id_key, self.name_key
        atoms = self.text_atoms(text)
        results: list[RecognizerResult] = []
        for recognizer, gate in self.steps:
            if gate is not None:
                keep = gate.candidates(text, atoms)
                if not keep:
                    continue
                recognizer = gate.narrowed(recognizer, keep)
            found = recognizer.analyze(text=text, entities=entities, nlp_artifacts=nlp_artifacts)
            if found:
                for result in found:
                    if not result.recognition_metadata:
                        result.recognition_metadata = {}
                    metadata = result.recognition_metadata
                    if id_key not in metadata:
                        metadata[id_key] = recognizer.id
                    if name_key not in metadata:
                        metadata[name_key] = recognizer.name
                results.extend(found)
        results = self._regroup(text, results, nlp_artifacts)
        results = self.enhancer.enhance_using_context(
            text=text, raw_results=results, nlp_artifacts=nlp_artifacts, recognizers=self.recognizers,
            context=None,
        )
        threshold = self.threshold
        results = self.remove_duplicates([r for r in results if r.score >= threshold])
        if self.allow_list:
            results = self.remove_allow_list(self.analyzer, results, self.allow_list, text)
        return results

    def _regroup(
        self, text: str, results: list[RecognizerResult], nlp_artifacts: Any
    ) -> list[RecognizerResult]:
        """Presidio's per-recognizer pass: results grouped in recognizer order (a result whose id names no
        selected recognizer is dropped), each group through its recognizer's own context enhancement."""
        if not results and not self.own_enhancers:
            return results
        id_key = self.id_key
        groups: dict[str, list[RecognizerResult]] = {}
        for result in results:
            groups.setdefault(result.recognition_metadata[id_key], []).append(result)
        out: list[RecognizerResult] = []
        for recognizer in self.recognizers:
            own = groups.get(recognizer.id, [])
            if recognizer.id in self.own_enhancers:
                others = [r for r in results if r.recognition_metadata[id_key] != recognizer.id]
                own = recognizer.enhance_using_context(
                    text=text, raw_recognizer_results=list(own), other_raw_recognizer_results=others,
                    nlp_artifacts=nlp_artifacts, context=None,
                )
            out.extend(own)
        return out


_INDEX = re.compile(r"\[\d+\]")


class RedactionEngine:
    """Applies one policy. Build it with ``Policy.engine()``; it is heavy (it loads spaCy)."""

    def __init__(self, policy: PolicySource, analyzer: AnalyzerEngine, keys: Mapping[str, Key]):
        self.policy = policy
        self._analyzer = analyzer
        self._nlp_engine = analyzer.nlp_engine
        self._keys = keys
        doc = policy.document
        self._language = doc.detection.languages[0]
        self._threshold = doc.detection.score_threshold
        self._allow_list = doc.detection.allow_list or None
        self._entities = doc.detection.entities
        self._transforms = doc.transforms
        self._gates: dict[str, Any] = {}  # recognizer id -> pattern gate, built on first use

    # ---- free text -------------------------------------------------------------------------
    def analyze_texts(self, texts: list[str]) -> list[list[RecognizerResult]]:
        """Presidio results for each text, with one spaCy ``pipe`` pass for the whole list."""
        if not texts:
            return []
        batch_size = max(1, len(texts))
        if hasattr(self._nlp_engine, "artifacts_batch"):  # ours: skips rebuilding each text from its tokens
            artifacts = self._nlp_engine.artifacts_batch(texts, self._language, batch_size=batch_size)
        else:
            batch = self._nlp_engine.process_batch(texts, self._language, batch_size=batch_size)
            artifacts = [found for _, found in batch]
        if self._analyzer.log_decision_process:
            # Presidio's tracer wants its own per-text records: take its own code path.
            return [
                self._analyzer.analyze(
                    text,
                    language=self._language,
                    entities=self._entities,
                    score_threshold=self._threshold,
                    allow_list=self._allow_list,
                    nlp_artifacts=nlp_artifacts,
                    return_decision_process=True,
                )
                for text, nlp_artifacts in zip(texts, artifacts, strict=True)
            ]
        analysis = _Analysis(
            self._analyzer, self._language, self._entities, self._threshold, self._allow_list, self._gates
        )
        return [analysis.run(text, found) for text, found in zip(texts, artifacts, strict=True)]

    def _operator_for(self, entity_type: str):
        return self._transforms.entities.get(entity_type, self._transforms.default)

    def _apply(
        self, text: str, results: list[RecognizerResult], ctx: RecordContext, field: str | None
    ) -> tuple[str, list[Finding]]:
        findings: list[Finding] = []
        pieces: list[str] = []
        cursor = 0
        for piece in _resolve_overlaps(results):
            result = piece.result
            spec = self._operator_for(result.entity_type)
            original = text[piece.start : piece.end]
            if not original.strip():
                continue  # a leftover of only white space carries nothing to hide
            replacement = apply_operator(spec, original, result.entity_type, ctx, self._keys)
            pieces.append(text[cursor : piece.start])
            pieces.append(replacement)
            cursor = piece.end
            explanation = result.analysis_explanation
            # Presidio counts validation (a checksum) as "improvement" too; only a context word is a boost.
            boost = 0.0
            if explanation is not None and explanation.supportive_context_word:
                boost = float(explanation.score_context_improvement or 0.0)
            findings.append(
                Finding(
                    entity_type=result.entity_type,
                    start=piece.start,
                    end=piece.end,
                    score=round(float(result.score), 4),
                    recognizer=(result.recognition_metadata or {}).get("recognizer_name", "unknown"),
                    operator=spec.type,
                    field=field,
                    context_boost=round(boost, 4),
                )
            )
        pieces.append(text[cursor:])
        return "".join(pieces), findings

    def redact_texts(self, texts: Iterable[str], batch_size: int = 128) -> Iterator[TextResult]:
        """Redact many texts, one spaCy pass per batch. Each text gets its own pseudonym context."""
        for chunk in _batched(texts, batch_size):
            for text, results in zip(chunk, self.analyze_texts(chunk), strict=True):
                redacted, findings = self._apply(text, results, RecordContext(), None)
                yield TextResult(redacted, tuple(findings))

    def redact_text(self, text: str, context: RecordContext | None = None) -> TextResult:
        """Redact one text. Pass ``context`` to share pseudonyms with other texts and read its vault."""
        if context is None:
            return next(self.redact_texts([text], batch_size=1))
        redacted, findings = self._apply(text, self.analyze_texts([text])[0], context, None)
        return TextResult(redacted, tuple(findings))

    # ---- structured records ----------------------------------------------------------------
    def _rule_for(self, path: str):
        """The operator named for ``path`` (``a[3].b`` matches ``a[*].b``), or the nearest named parent."""
        pattern = _INDEX.sub("[*]", path)
        fields = self._transforms.fields
        while pattern:
            if pattern in fields:
                return fields[pattern]
            cut = max(pattern.rfind("."), pattern.rfind("["))
            pattern = pattern[:cut] if cut > 0 else ""
        return None

    def _plan(self, value: Any, path: str, texts: list[tuple[str, str]], ctx: RecordContext) -> Any:
        """Walk a value: apply field operators now; queue strings to inspect; return a builder."""
        rule = self._rule_for(path) if path else None
        kind = rule.type if rule is not None else "inspect"
        if kind == "drop_field":
            return _DROP
        if kind == "keep":
            return value
        if isinstance(value, dict):
            return {k: self._plan(v, f"{path}.{k}" if path else str(k), texts, ctx) for k, v in value.items()}
        if isinstance(value, list):
            return [self._plan(v, f"{path}[{i}]", texts, ctx) for i, v in enumerate(value)]
        if value is None:
            return None
        if kind == "inspect":
            # Fail closed: numbers and booleans are inspected as text too (an int can be an SSN).
            texts.append((path, str(value)))
            return _Pending(len(texts) - 1, value)
        label = path.rsplit(".", 1)[-1].split("[", 1)[0].upper()
        out = apply_operator(rule, str(value), label, ctx, self._keys)
        return value if out == str(value) else out

    def redact_records(
        self, records: Iterable[Mapping[str, Any]], batch_size: int = 64,
        contexts: Iterable[RecordContext] | None = None,
    ) -> Iterator[RecordResult]:
        """Redact records; the text of every inspected field of a batch goes through one spaCy pass.

        ``contexts`` (one per record, same order) lets the caller read each record's pseudonym vault;
        a context given here has its ``subject`` set from the policy's subject field.
        """
        subject_field = self._transforms.subject_field
        given = iter(contexts) if contexts is not None else None
        for chunk in _batched(records, batch_size):
            plans = []
            texts: list[tuple[str, str]] = []
            owners: list[int] = []
            contexts = []
            for index, record in enumerate(chunk):
                if not isinstance(record, Mapping):
                    raise TypeError(f"a record must be a mapping, got {type(record).__name__}")
                subject = get_path(record, subject_field) if subject_field else None
                ctx = next(given) if given is not None else RecordContext()
                ctx.subject = None if subject is None else str(subject)
                start = len(texts)
                plans.append(self._plan(dict(record), "", texts, ctx))
                owners.extend([index] * (len(texts) - start))
                contexts.append(ctx)
            analyses = self.analyze_texts([t for _, t in texts]) if texts else []
            resolved: list[Any] = []
            findings: list[list[Finding]] = [[] for _ in chunk]
            for (path, text), results, owner in zip(texts, analyses, owners, strict=True):
                redacted, found = self._apply(text, results, contexts[owner], path)
                resolved.append(redacted)
                findings[owner].extend(found)
            for plan, found in zip(plans, findings, strict=True):
                yield RecordResult(_build(plan, resolved), tuple(found))

    def redact_record(self, record: Mapping[str, Any], context: RecordContext | None = None) -> RecordResult:
        """Redact one record. Pass ``context`` to read its pseudonym vault afterwards."""
        contexts = None if context is None else [context]
        return next(self.redact_records([record], batch_size=1, contexts=contexts))


class _DropType:
    pass


_DROP = _DropType()


@dataclass(frozen=True)
class _Pending:
    index: int
    original: Any


def _build(plan: Any, resolved: list[str]) -> Any:
    if isinstance(plan, _Pending):
        text = resolved[plan.index]
        return plan.original if text == str(plan.original) else text
    if isinstance(plan, dict):
        return {k: _build(v, resolved) for k, v in plan.items() if v is not _DROP}
    if isinstance(plan, list):
        return [_build(v, resolved) for v in plan if v is not _DROP]
    return plan


def build_analyzer(detection: Detection) -> AnalyzerEngine:
    """A Presidio AnalyzerEngine for a policy's detection section, built offline (no model download,
    no PSL fetch)."""
    offline.use_offline_suffix_list()
    from presidio_analyzer import AnalyzerEngine

    from .context import SelectiveContextEnhancer
    from .recognizers import build_registry
    from .spacy_ner import NerOnlySpacyEngine

    nlp_engine = NerOnlySpacyEngine(detection.nlp.model, detection.languages, detection.nlp.labels_to_ignore)
    nlp_engine.load()
    registry = build_registry(detection, nlp_engine)
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=detection.languages,
        context_aware_enhancer=SelectiveContextEnhancer(),
    )
