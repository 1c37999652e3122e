"""The redaction engine: Presidio detection + the policy's operators, on texts and on records.

Speed comes from three choices, measured in ``benchmarks/bench_engine.py``:
* spaCy runs once per batch (``nlp.pipe``) and only its ``ner`` component is loaded: the tagger,
  parser and lemmatizer are excluded. Presidio's context enhancer matches context words as substrings
  of lemmas; lower-cased token text serves that purpose (``"cards"`` still contains ``"card"``).
* recognizers run on precomputed NLP artifacts, never re-running spaCy per text, through
  :class:`_Analysis`: Presidio's ``AnalyzerEngine.analyze`` steps with the per-text set-up done once
  per batch, and pattern recognizers skipped on texts none of their regexes matches;
* operators are plain functions; no second pass through an anonymizer engine.

Records (:meth:`RedactionEngine.redact_records`) follow two rules that fail closed:

* **Field rules apply to the exact path they name** (``a[3].b`` matches ``a[*].b``; a flat CSV column
  ``id.comment`` or ``country[0]`` reads as that path, so ``id`` and ``country`` do not reach it and a
  rule written ``id.comment`` does). There is no inheritance from a parent: a field the policy does not
  name is inspected, even under a named one. A rule on a field whose value is a mapping or a list
  applies to nothing below it (every nested value is inspected), except ``drop_field``, which drops
  the whole value, and ``keep`` with ``keep_subtree: true``, which keeps every scalar below (deeper
  rules still apply; nested field *names* are still inspected).
* **Field names are inspected like values**, in the same spaCy batch as the values. Names the policy
  writes in ``transforms.fields`` (and their parents) are trusted and not inspected; names found clean
  are remembered per engine, so a CSV header or a JSON schema costs one inspection per engine, not one
  per record. A name with a finding is replaced, in the output and in every finding's ``field`` path,
  by ``<ENTITY_TYPE_FIELD_xxxxxxxxxxxx>``: 12 hex digits of an HMAC-SHA256 of the name. With
  ``transforms.field_names_key`` the HMAC key is derived from that policy key, so the placeholder is the
  same on every worker and in every run; without it the engine draws a random key when it is built, so
  the placeholder is stable within one engine (one worker) only. Either way it is not reversible
  without the key (never a plain hash: names are guessable) and needs no table of names in memory.
  Two different names in one mapping never share a key (a clash gets ``_2``, ``_3``...). Detection
  on a bare name has false positives (``Email`` reads as a PERSON, ``customer.email`` as a URL): such a
  name is renamed too (fail closed) until the policy names it under ``transforms.fields``. The finding
  itself has ``in_field_name=True`` and its offsets point into the name; it never carries the name.
  ``transforms.field_names: quarantine`` asks the pipeline to quarantine such a record instead
  (:attr:`RedactionEngine.field_names`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from . import budget, offline
from .keys import Key
from .language import detect_language
from .operators import OperatorError, RecordContext, apply_operator
from .paths import get_path
from .result_filters import filter_results
from .schema import FIELD_PATH

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
    in_field_name: bool = False  # the finding is in the field's name (a key), not in its value


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
        budget.check()  # quadratic in the findings: bounded by the record's time budget
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
        from .recognizers import guard_regexes, pattern_gate, text_atoms

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
            guard_regexes(recognizer)  # regexes under the record's time budget (budget.py)
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
            budget.check()  # a recognizer that cannot be interrupted overruns by itself at most
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


#: A list index written into a field name (a flat column ``country[0]``) reads as the rule syntax ``[*]``.
_INDEX = re.compile(r"\[\d+\]")
#: Clean field names remembered per engine; past this many, new ones are inspected every time.
_CLEAN_NAMES_MAX = 10_000
_NAME_HMAC_LABEL = b"redactline field name\x00"


def _named_parents(path: str) -> Iterator[str]:
    """``a[*].b.c`` -> ``a``, ``a[*].b``, ``a[*].b.c``: every name the path writes, with what leads to it."""
    for i, ch in enumerate(path):
        if ch in ".[" and i and path[i - 1] != "]":
            yield path[:i]
    if not path.endswith("]"):
        yield path


class RedactionEngine:
    """Applies one policy. Build it with ``Policy.engine()``; it is heavy (it loads spaCy)."""

    def __init__(self, policy: PolicySource, analyzer: AnalyzerEngine, keys: Mapping[str, Key]):
        self.policy = policy
        self._analyzer = analyzer
        self._nlp_engine = analyzer.nlp_engine
        self._keys = keys
        doc = policy.document
        self._languages = list(doc.detection.languages)
        self._language = self._languages[0]
        self._threshold = doc.detection.score_threshold
        self._allow_list = doc.detection.allow_list or None
        self._entities = doc.detection.entities
        self._transforms = doc.transforms
        # recognizer id -> pattern gate, built on first use; kept on the analyzer, so an engine built on
        # an analyzer another engine used (the profile's, handed to the run's worker) reuses its gates
        gates = getattr(analyzer, "redactline_gates", None)
        if not isinstance(gates, dict):
            gates = analyzer.redactline_gates = {}
        self._gates: dict[str, Any] = gates
        limits = doc.detection.budget
        self.budget = budget.Limits(limits.max_seconds, limits.max_text_bytes)
        self._rules = doc.transforms.fields
        # names the policy author wrote: every named path and each of its parents. Only paths of the policy
        # language's syntax: a rule added programmatically (a column profile) under a raw field name that
        # could never be written in a policy (spaces, "@", a leading digit) does not make that name trusted.
        self._trusted = {
            parent for path in self._rules if FIELD_PATH.match(path) for parent in _named_parents(path)
        }
        self._clean_names: set[str] = set()
        self._name_key = self._field_name_key(doc.transforms.field_names_key)

    def _field_name_key(self, name: str | None) -> bytes:
        """The HMAC key of field-name placeholders: from the policy key named, else random per engine."""
        if name is None:
            return os.urandom(32)
        if name not in self._keys:
            raise OperatorError(f"transforms.field_names_key references key {name!r}, which is not resolved")
        # domain-separated (_NAME_HMAC_LABEL) from the hash operator, which uses the same subkey on values
        return self._keys[name].derive("hmac")

    @property
    def field_names(self) -> str:
        """The policy's ``transforms.field_names``: ``redact`` or ``quarantine`` (for the pipeline)."""
        return self._transforms.field_names

    # ---- free text -------------------------------------------------------------------------
    def analyze_texts(self, texts: list[str]) -> list[list[RecognizerResult]]:
        """Presidio results for each text, with one spaCy ``pipe`` pass for the whole list.

        Budgets (``budget.py``): each text over ``max_text_bytes`` raises ``budget.TextTooLarge`` before
        spaCy runs; recognizers run on a text under the time left to its owner in the meter the caller set
        with ``budget.metered`` (default: each text its own owner, with the policy's ``max_seconds``), and
        ``budget.EngineTimeout`` is raised when it runs out.
        """
        if not texts:
            return []
        for text in texts:
            self.budget.check_size((text,), "text")
        # spaCy's memory zone: the strings and lexemes of this call's tokens are freed when it returns, so a
        # long run's memory does not grow with its input's unique tokens. The results are plain values
        # (RecognizerResult: offsets, labels, scores); no Doc or token outlives the block.
        zone = getattr(self._nlp_engine, "memory_zone", None)
        with zone() if zone is not None else contextlib.nullcontext():
            return self._analyze_all(texts)

    def _analyze_all(self, texts: list[str]) -> list[list[RecognizerResult]]:
        meter, keys = budget.current_meter(len(texts), self.budget.max_seconds)
        if len(self._languages) == 1:
            return self._analyze_in(self._language, texts, keys, meter)
        # several languages: each text in its own (policies/language.py), one spaCy pass per language
        groups: dict[str, list[int]] = {}
        for index, text in enumerate(texts):
            groups.setdefault(self.language_of(text), []).append(index)
        out: list[list[RecognizerResult]] = [[] for _ in texts]
        for language, indexes in groups.items():
            found = self._analyze_in(
                language, [texts[i] for i in indexes], [keys[i] for i in indexes], meter
            )
            for index, results in zip(indexes, found, strict=True):
                out[index] = results
        return out

    def language_of(self, text: str) -> str:
        """The policy language ``text`` is analysed in (the only one, or ``language.detect_language``)."""
        if len(self._languages) == 1:
            return self._language
        return detect_language(text, self._languages)

    def _analyze_in(
        self, language: str, texts: list[str], keys: list[Any], meter: budget.Meter
    ) -> list[list[RecognizerResult]]:
        batch_size = max(1, len(texts))
        if hasattr(self._nlp_engine, "artifacts_batch"):  # ours: skips rebuilding each text from its tokens
            artifacts = self._nlp_engine.artifacts_batch(texts, language, batch_size=batch_size)
        else:
            batch = self._nlp_engine.process_batch(texts, language, batch_size=batch_size)
            artifacts = [found for _, found in batch]
        if self._analyzer.log_decision_process:
            # Presidio's tracer wants its own per-text records: take its own code path.
            return [
                meter.run(key, lambda text=text, nlp_artifacts=nlp_artifacts: self._analyzer.analyze(
                    text,
                    language=language,
                    entities=self._entities,
                    score_threshold=self._threshold,
                    allow_list=self._allow_list,
                    nlp_artifacts=nlp_artifacts,
                    return_decision_process=True,
                ))
                for key, text, nlp_artifacts in zip(keys, texts, artifacts, strict=True)
            ]
        analysis = _Analysis(
            self._analyzer, language, self._entities, self._threshold, self._allow_list, self._gates
        )
        return [
            meter.run(key, lambda text=text, found=found: analysis.run(text, found))
            for key, text, found in zip(keys, texts, artifacts, strict=True)
        ]

    def _operator_for(self, entity_type: str):
        return self._transforms.entities.get(entity_type, self._transforms.default)

    def _apply(
        self, text: str, results: list[RecognizerResult], ctx: RecordContext, field: str | None
    ) -> tuple[str, list[Finding]]:
        findings: list[Finding] = []
        pieces: list[str] = []
        cursor = 0
        # the policy's decision rules (result_filters.py) on what detection found, before overlaps resolve
        results = filter_results(text, results, self.policy.document.detection.result_filters)
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
            findings.append(_finding(piece, spec.type, field))
        pieces.append(text[cursor:])
        return "".join(pieces), findings

    def redact_texts(self, texts: Iterable[str], batch_size: int = 128) -> Iterator[TextResult]:
        """Redact many texts, one spaCy pass per batch. Each text gets its own pseudonym context."""
        for chunk in _batched(texts, batch_size):
            meter = budget.Meter(self.budget.max_seconds)
            with budget.metered(meter):
                analyses = self.analyze_texts(chunk)
            for index, (text, results) in enumerate(zip(chunk, analyses, strict=True)):
                redacted, findings = meter.run(
                    index, lambda text=text, found=results: self._apply(text, found, RecordContext(), None)
                )
                yield TextResult(redacted, tuple(findings))

    def redact_text(self, text: str, context: RecordContext | None = None) -> TextResult:
        """Redact one text. Pass ``context`` to share pseudonyms with other texts and read its vault."""
        if context is None:
            return next(self.redact_texts([text], batch_size=1))
        meter = budget.Meter(self.budget.max_seconds)
        with budget.metered(meter):
            results = self.analyze_texts([text])[0]
        redacted, findings = meter.run(0, lambda: self._apply(text, results, context, None))
        return TextResult(redacted, tuple(findings))

    # ---- structured records ----------------------------------------------------------------
    def _plan(
        self, value: Any, match: str, parts: tuple[Any, ...], kept: bool, batch: _Batch, owner: int,
        ctx: RecordContext,
    ) -> Any:
        """Walk a value: apply field operators now; queue strings and names to inspect; return a builder.

        ``match`` is the path as rules write it (``a[*].b``; the exact rule for it applies, never a
        parent's), ``parts`` the path as findings show it (indexes as ints, inspected names as
        :class:`_Name`); ``kept`` is True below a ``keep_subtree`` rule.
        """
        rule = self._rules.get(match) if match else None
        if rule is not None:
            kind = rule.type
            if kind == "drop_field":
                return _DROP
            if isinstance(value, dict | list):
                # a rule on a mapping or a list reaches the scalars below only when it says so
                kept = kind == "keep" and rule.keep_subtree
            elif kind == "keep":
                return value
            elif kind != "inspect" and value is not None:
                # the entity type the rule names (shared pseudonyms with free text), else the field's name
                label = rule.entity or match.rsplit(".", 1)[-1].split("[", 1)[0].upper()
                out = apply_operator(rule, str(value), label, ctx, self._keys)
                return value if out == str(value) else out
            else:
                kept = False
        if isinstance(value, dict):
            trusted, clean = self._trusted, self._clean_names
            items: list[tuple[Any, _Name | None, Any]] = []
            for key, item in value.items():
                name = key if isinstance(key, str) else str(key)
                written = _INDEX.sub("[*]", name) if "[" in name else name
                step = f"{match}.{written}" if match else written
                if step in trusted or name in clean:
                    items.append((key, None, self._plan(item, step, (*parts, name), kept, batch, owner, ctx)))
                    continue
                ref = batch.name(name)
                where = (*parts, ref)
                batch.occurrences.append((owner, where))
                items.append((key, ref, self._plan(item, step, where, kept, batch, owner, ctx)))
            return _MapPlan(items)
        if isinstance(value, list):
            step = f"{match}[*]"
            return [
                self._plan(item, step, (*parts, i), kept, batch, owner, ctx) for i, item in enumerate(value)
            ]
        if value is None or kept:
            return value
        # Fail closed: numbers and booleans are inspected as text too (an int can be an SSN).
        return batch.value(str(value), value, owner, parts)

    def _rename(self, batch: _Batch, analyses: list[list[RecognizerResult]]) -> dict[int, str]:
        """Placeholder per queued name with a finding (by its slot); clean names are remembered."""
        renamed: dict[int, str] = {}
        for name, ref in batch.names.items():
            results = analyses[ref.index]
            if not results:
                if len(self._clean_names) < _CLEAN_NAMES_MAX:
                    self._clean_names.add(name)
                continue
            best = max(results, key=lambda r: (r.score, r.end - r.start))
            data = unicodedata.normalize("NFC", name).encode("utf-8", "surrogatepass")
            digest = hmac.new(self._name_key, _NAME_HMAC_LABEL + data, hashlib.sha256).hexdigest()[:12]
            renamed[ref.index] = f"<{best.entity_type}_FIELD_{digest}>"
        return renamed

    def redact_records(
        self, records: Iterable[Mapping[str, Any]], batch_size: int = 64,
        contexts: Iterable[RecordContext] | None = None,
    ) -> Iterator[RecordResult]:
        """Redact records; the text of every inspected field and field name of a batch goes through one
        spaCy pass.

        ``contexts`` (one per record, same order) lets the caller read each record's pseudonym vault;
        a context given here has its ``subject`` set from the policy's subject field.
        """
        subject_field = self._transforms.subject_field
        given = iter(contexts) if contexts is not None else None
        for chunk in _batched(records, batch_size):
            batch = _Batch()
            plans = []
            contexts = []
            for index, record in enumerate(chunk):
                if not isinstance(record, Mapping):
                    raise TypeError(f"a record must be a mapping, got {type(record).__name__}")
                subject = get_path(record, subject_field) if subject_field else None
                ctx = next(given) if given is not None else RecordContext()
                ctx.subject = None if subject is None else str(subject)
                plans.append(self._plan(dict(record), "", (), False, batch, index, ctx))
                contexts.append(ctx)
            meter = budget.Meter(self.budget.max_seconds)  # time per record; a name is its own owner
            owners = [("name", i) if source is None else source[0] for i, source in enumerate(batch.slots)]
            self._check_record_sizes(batch, len(chunk))
            with budget.metered(meter, owners):
                analyses = self.analyze_texts(batch.texts) if batch.texts else []
            renamed = self._rename(batch, analyses) if batch.names else {}
            resolved: list[Any] = [None] * len(batch.texts)
            findings: list[list[Finding]] = [[] for _ in chunk]
            queued = zip(batch.texts, analyses, batch.slots, strict=True)
            for slot, (text, results, source) in enumerate(queued):
                if source is None:  # a name: resolved by _rename
                    continue
                owner, parts = source
                field = _display(parts, renamed) if results else None
                ctx = contexts[owner]
                redacted, found = meter.run(
                    owner, lambda text=text, results=results, ctx=ctx, field=field: self._apply(
                        text, results, ctx, field
                    )
                )
                resolved[slot] = redacted
                findings[owner].extend(found)
            if renamed:
                for owner, parts in batch.occurrences:
                    slot = parts[-1].index
                    if slot in renamed:
                        findings[owner].extend(
                            self._name_findings(batch.texts[slot], analyses[slot], _display(parts, renamed))
                        )
            for plan, found in zip(plans, findings, strict=True):
                yield RecordResult(_build(plan, resolved, renamed), tuple(found))

    def _check_record_sizes(self, batch: _Batch, records: int) -> None:
        """``budget.TextTooLarge`` if a record's values and field names to inspect are over the budget."""
        texts: list[list[str]] = [[] for _ in range(records)]
        for text, source in zip(batch.texts, batch.slots, strict=True):
            if source is not None:
                texts[source[0]].append(text)
        for owner, parts in batch.occurrences:
            texts[owner].append(parts[-1].text)
        for record_texts in texts:
            self.budget.check_size(record_texts)

    def _name_findings(self, name: str, results: list[RecognizerResult], field: str) -> list[Finding]:
        """Findings in a field name: located in the name, never carrying it; the name is renamed whole."""
        return [
            _finding(piece, "rename", field, in_field_name=True)
            for piece in _resolve_overlaps(results)
            if name[piece.start : piece.end].strip()
        ]

    def redact_record(self, record: Mapping[str, Any], context: RecordContext | None = None) -> RecordResult:
        """Redact one record. Pass ``context`` to read its pseudonym vault afterwards."""
        contexts = None if context is None else [context]
        return next(self.redact_records([record], batch_size=1, contexts=contexts))


def _finding(piece: _Piece, operator: str, field: str | None, *, in_field_name: bool = False) -> Finding:
    result = piece.result
    explanation = result.analysis_explanation
    # Presidio counts validation (a checksum) as "improvement" too; only a context word is a boost.
    boost = 0.0
    if explanation is not None and explanation.supportive_context_word:
        boost = float(explanation.score_context_improvement or 0.0)
    return Finding(
        entity_type=result.entity_type,
        start=piece.start,
        end=piece.end,
        score=round(float(result.score), 4),
        recognizer=(result.recognition_metadata or {}).get("recognizer_name", "unknown"),
        operator=operator,
        field=field,
        context_boost=round(boost, 4),
        in_field_name=in_field_name,
    )


class _DropType:
    pass


_DROP = _DropType()


@dataclass(frozen=True)
class _Pending:
    index: int
    original: Any


@dataclass(frozen=True, eq=False)
class _Name:
    """A field name queued for inspection: its slot in the batch's texts."""

    index: int
    text: str = dataclasses.field(repr=False)


@dataclass(frozen=True)
class _MapPlan:
    """A mapping to rebuild: (original key, its queued name or None when trusted or known clean, plan)."""

    items: list[tuple[Any, _Name | None, Any]]


class _Batch:
    """What one batch of records queues for analysis: value texts and field names (each name once)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.slots: list[tuple[int, tuple[Any, ...]] | None] = []  # per text: (owner, path) or None: a name
        self.names: dict[str, _Name] = {}
        self.occurrences: list[tuple[int, tuple[Any, ...]]] = []  # (owner, path ending in the _Name)

    def name(self, name: str) -> _Name:
        ref = self.names.get(name)
        if ref is None:
            ref = self.names[name] = _Name(len(self.texts), name)
            self.texts.append(name)
            self.slots.append(None)
        return ref

    def value(self, text: str, original: Any, owner: int, parts: tuple[Any, ...]) -> _Pending:
        self.texts.append(text)
        self.slots.append((owner, parts))
        return _Pending(len(self.texts) - 1, original)


def _display(parts: tuple[Any, ...], renamed: Mapping[int, str]) -> str:
    """A path as findings show it (``a.b[3].c``), with every renamed field name as its placeholder."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        name = part if isinstance(part, str) else renamed.get(part.index, part.text)
        out.append(f".{name}" if out else name)
    return "".join(out)


def _build(plan: Any, resolved: list[Any], renamed: Mapping[int, str]) -> Any:
    if isinstance(plan, _Pending):
        text = resolved[plan.index]
        return plan.original if text == str(plan.original) else text
    if isinstance(plan, _MapPlan):
        if not renamed:
            return {k: _build(v, resolved, renamed) for k, _, v in plan.items if v is not _DROP}
        taken = {k for k, ref, _ in plan.items if ref is None or ref.index not in renamed}
        out: dict[Any, Any] = {}
        for key, ref, item in plan.items:
            if item is _DROP:
                continue
            if ref is not None and ref.index in renamed:
                base = key = renamed[ref.index]
                number = 2
                while key in taken:  # two names never share one key
                    key = f"{base[:-1]}_{number}>"
                    number += 1
                taken.add(key)
            out[key] = _build(item, resolved, renamed)
        return out
    if isinstance(plan, list):
        return [_build(v, resolved, renamed) for v in plan if v is not _DROP]
    return plan


def build_analyzer(detection: Detection) -> AnalyzerEngine:
    """A Presidio AnalyzerEngine for a policy's detection section, built offline (no model download,
    no PSL fetch)."""
    offline.use_offline_suffix_list()
    from presidio_analyzer import AnalyzerEngine

    from .context import SelectiveContextEnhancer
    from .recognizers import build_registry
    from .spacy_ner import NerOnlySpacyEngine

    nlp_engine = NerOnlySpacyEngine.for_policy(detection.nlp, detection.languages)
    nlp_engine.load()
    registry = build_registry(detection, nlp_engine)
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=detection.languages,
        context_aware_enhancer=SelectiveContextEnhancer(),
    )
