"""The prepare and redact steps: check records on their way in, then run the policy's engine per batch.

``PrepareRecords`` turns raw ``PCollection[Record]`` into ``prepared`` records (size checked, no
reserved lineage key, jurisdiction resolved) and ``rejected`` ones; it runs once per job, before the
destination stage (see :mod:`redactline.pipelines.destinations`).

``RedactRecords`` turns prepared records into three tagged outputs:

* ``redacted``    - :class:`Redacted` (redacted fields with lineage under ``_redactline``, plus meta);
* ``rejected``    - :class:`~redactline.connectors.records.Rejected` (engine error; ``field_name_pii``
  when a field name holds PII and the policy says ``transforms.field_names: quarantine``);
* ``entities``    - ``(entity_type, count)`` pairs, summed later for the manifest.

The jurisdiction is resolved in the prepare step, *before* redaction, because redaction may replace the
very field it is read from (a country name is a LOCATION to Presidio).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from redactline.connectors.records import (
    ENGINE_ERROR,
    ENGINE_TIMEOUT,
    FIELD_NAME_PII,
    OVERSIZE,
    Record,
    RecordMeta,
    Rejected,
)
from redactline.policies.budget import EngineTimeout, TextTooLarge
from redactline.policies.lineage import LINEAGE_KEY, with_lineage
from redactline.policies.profile import Profile
from redactline.policies.residency import ResidencyConfig

from . import progress

log = logging.getLogger(__name__)

RESERVED_FIELD = "reserved_field"  # reason code: the input already uses the lineage key
PREPARED, REDACTED, REJECTED, ENTITIES = "prepared", "redacted", "rejected", "entities"
METRICS_NAMESPACE = "redactline"


class Engine(Protocol):
    def redact_records(self, records: Sequence[dict[str, Any]], batch_size: int = ...) -> Iterator[Any]: ...

    def redact_record(self, record: dict[str, Any]) -> Any: ...


EngineFactory = Callable[[], Engine]


@dataclass(frozen=True)
class Redacted:
    """A redacted record on its way to routing: user fields + lineage, and where it came from."""

    fields: dict[str, Any]
    meta: RecordMeta


def raw_bytes(fields: dict[str, Any]) -> bytes:
    """The record as bytes for sealing into the quarantine (JSON; non-JSON values by ``repr``)."""
    text = json.dumps(fields, default=repr, ensure_ascii=False, sort_keys=True)
    return text.encode("utf-8", "surrogatepass")


class _PrepareDoFn(beam.DoFn):
    """Size limit, reserved-key check, jurisdiction resolution (on the raw fields)."""

    def __init__(self, max_record_bytes: int, residency: ResidencyConfig | None) -> None:
        self._max = max_record_bytes
        self._residency = residency

    def process(self, record: Record) -> Iterator[Any]:
        raw = raw_bytes(record.fields)
        if len(raw) > self._max:
            detail = f"record is {len(raw)} bytes, limit {self._max}"
            yield TaggedOutput(REJECTED, Rejected(OVERSIZE, detail, record.meta, raw))
            return
        if LINEAGE_KEY in record.fields:
            detail = f"input has the reserved field {LINEAGE_KEY!r}"
            yield TaggedOutput(REJECTED, Rejected(RESERVED_FIELD, detail, record.meta, raw))
            return
        if self._residency is not None:
            jurisdiction = self._residency.resolve_jurisdiction(record.fields, record.meta.jurisdiction)
            meta = dataclasses.replace(record.meta, jurisdiction=jurisdiction)
            record = dataclasses.replace(record, meta=meta)
        yield record


class _RedactBatchDoFn(beam.DoFn):
    """Applies the engine to a batch; isolates a failing record by retrying the batch one by one."""

    def __init__(self, engine_factory: EngineFactory, lineage: dict[str, Any]) -> None:
        self._factory = engine_factory
        self._lineage = dict(lineage)
        self._engine: Engine | None = None
        self._records = Metrics.counter(METRICS_NAMESPACE, "records_redacted")
        self._errors = Metrics.counter(METRICS_NAMESPACE, "engine_errors")

    def setup(self) -> None:
        self._engine = self._factory()  # heavy (spaCy): once per worker, not per bundle

    def process(self, batch: list[Record]) -> Iterator[Any]:
        assert self._engine is not None
        try:
            results = list(self._engine.redact_records([r.fields for r in batch], batch_size=len(batch)))
            if len(results) != len(batch):
                raise RuntimeError("engine returned a different number of results")
            outcomes: list[Any] = results
        except Exception:
            # Some record broke the batch: redo one by one so only that record is quarantined.
            outcomes = [self._one(r) for r in batch]
        entities: Counter[str] = Counter()
        ok = failed = 0
        quarantine_names = getattr(self._engine, "field_names", "redact") == "quarantine"
        for record, outcome in zip(batch, outcomes, strict=True):
            if quarantine_names and not isinstance(outcome, Rejected):
                outcome = field_name_rejection(record, outcome) or outcome
            if isinstance(outcome, Rejected):
                failed += 1
                yield TaggedOutput(REJECTED, outcome)
                continue
            ok += 1
            entities.update(f.entity_type for f in outcome.findings)
            yield Redacted(with_lineage(outcome.record, self._lineage), record.meta)
        for entity_type, count in entities.items():
            Metrics.counter(f"{METRICS_NAMESPACE}.entities", entity_type).inc(count)
            yield TaggedOutput(ENTITIES, (entity_type, count))
        self._records.inc(ok)
        self._errors.inc(failed)
        progress.note(processed=ok)  # engine failures are counted once, as quarantined

    def _one(self, record: Record) -> Any:
        assert self._engine is not None
        try:
            return self._engine.redact_record(record.fields)
        except Exception as exc:
            reason, detail = engine_failure(exc)
            return Rejected(reason, detail, record.meta, raw_bytes(record.fields))


def engine_failure(exc: BaseException) -> tuple[str, str]:
    """The quarantine reason and PII-free detail for an engine exception on one record: ``engine_timeout``
    and ``oversize`` for the policy's budget (``detection.budget``), ``engine_error`` for the rest."""
    if isinstance(exc, EngineTimeout):
        return ENGINE_TIMEOUT, "detection ran past the policy's time budget (detection.budget.max_seconds)"
    if isinstance(exc, TextTooLarge):
        return OVERSIZE, "text to inspect is over the policy's size budget (detection.budget.max_text_bytes)"
    # The exception text may quote the input: keep only its type.
    return ENGINE_ERROR, f"engine raised {type(exc).__name__}"


def field_name_rejection(record: Record, outcome: Any) -> Rejected | None:
    """A ``field_name_pii`` rejection when a finding lies in a field name; the detail names entity types
    and positions (paths with placeholders for such names), never a name."""
    found = [f for f in outcome.findings if getattr(f, "in_field_name", False)]
    if not found:
        return None
    where = ", ".join(sorted({f"{f.entity_type} at {f.field}" for f in found}))
    detail = f"field name holds PII: {where}"
    return Rejected(FIELD_NAME_PII, detail, record.meta, raw_bytes(record.fields))


class PrepareRecords(beam.PTransform):
    """Raw records in; ``prepared`` records and ``rejected`` ones (oversize, reserved field) out.

    ``residency`` (the policy's) resolves each record's jurisdiction from its raw fields.
    """

    def __init__(self, max_record_bytes: int = 4 << 20, residency: ResidencyConfig | None = None) -> None:
        super().__init__()
        self._max = max_record_bytes
        self._residency = residency

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        out = records | "Prepare" >> beam.ParDo(_PrepareDoFn(self._max, self._residency)).with_outputs(
            REJECTED, main=PREPARED
        )
        return {PREPARED: out[PREPARED], REJECTED: out[REJECTED]}


class RedactRecords(beam.PTransform):
    """Batch and redact prepared records; see the module docstring for the tagged outputs."""

    def __init__(self, engine_factory: EngineFactory, lineage: dict[str, Any], batch_size: int = 64) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._factory = engine_factory
        self._lineage = lineage
        self._batch = batch_size

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        redacted = (
            prepared
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch)
            | "Redact" >> beam.ParDo(_RedactBatchDoFn(self._factory, self._lineage)).with_outputs(
                REJECTED, ENTITIES, main=REDACTED
            )
        )
        return {REDACTED: redacted[REDACTED], REJECTED: redacted[REJECTED], ENTITIES: redacted[ENTITIES]}


# Engines built in this process, per (policy path, hash, profile, thread): spaCy is loaded once per worker
# thread even when a runner creates many DoFn instances (one per stage or bundle processor).
_ENGINES: dict[tuple[str, str, str, int], Engine] = {}
_ENGINES_LOCK = threading.Lock()
# Analyzers (spaCy loaded) the driver built to profile a source, per (policy path, hash): the first engine
# built here for that policy takes it, so an in-process run loads spaCy once. Taken once, by one thread.
_SPARE_ANALYZERS: dict[tuple[str, str], Any] = {}
# Engines being built ahead of the first batch (PolicyEngineFactory.warm), per (policy path, hash, profile):
# set when done; holds the engine until one thread takes it.
_Warming = tuple[threading.Event, list[Any]]
_WARMING: dict[tuple[str, str, str], _Warming] = {}


def offer_analyzer(policy_path: str, policy_sha256: str, analyzer: Any) -> None:
    """Leave the driver's analyzer for the first engine of this policy built in this process."""
    with _ENGINES_LOCK:
        _SPARE_ANALYZERS[(policy_path, policy_sha256)] = analyzer


class PolicyEngineFactory:
    """Builds the policy's engine on the worker from the document the driver resolved
    (:mod:`.policy_ship`); refuses a document whose hash is not the run's.

    Holds the resolved document and the key references, never the policy's keys, so the pickled
    pipeline graph carries no key material; workers need no policy file.

    ``profile`` (a :class:`~redactline.policies.profile.Profile`: field decisions, no values) adds its
    whole-field rules to the policy's; the run's ``prepare`` sets it on the driver, before the graph is
    built and pickled.
    """

    def __init__(self, policy_path: str, expected_sha256: str, profile: Profile | None = None) -> None:
        from .policy_ship import for_path

        self._policy = for_path(policy_path, expected_sha256)  # resolved on the driver, shipped as data
        self._path = self._policy.origin
        self._sha256 = expected_sha256
        self.profile = profile

    def _warm_key(self) -> tuple[str, str, str]:
        return (self._path, self._sha256, "" if self.profile is None else str(hash(self.profile)))

    def warm(self) -> None:
        """Build the engine now, for the first thread of this process that asks for it: a local worker
        process starts building while it connects to the runner (:mod:`.warm_worker`). A failure is
        logged by type only; the asking thread then builds its own."""
        ready: _Warming = (threading.Event(), [])
        with _ENGINES_LOCK:
            _WARMING[self._warm_key()] = ready
        try:
            ready[1].append(self._build("warmed while the worker started"))
        except Exception as exc:  # noqa: BLE001 - the DoFn's own build reports the real error
            log.warning("engine warm-up failed (%s); the first batch builds it", type(exc).__name__)
        finally:
            ready[0].set()

    def __call__(self) -> Engine:
        cache_key = (*self._warm_key(), threading.get_ident())
        with _ENGINES_LOCK:
            if cache_key in _ENGINES:
                return _ENGINES[cache_key]
            warming = _WARMING.get(self._warm_key())
        if warming is not None:
            warming[0].wait()
            with _ENGINES_LOCK:
                if warming[1]:  # taken once, by the first thread that asks
                    _ENGINES[cache_key] = warming[1].pop()
                    return _ENGINES[cache_key]
        engine = self._build("new")
        with _ENGINES_LOCK:
            _ENGINES[cache_key] = engine
        return engine

    def _build(self, how: str) -> Engine:
        from redactline.policies.profile import profiled_engine

        started = time.perf_counter()
        policy = self._policy.load()  # never the file: the document the driver resolved
        with _ENGINES_LOCK:
            analyzer = _SPARE_ANALYZERS.pop((self._path, self._sha256), None)
        engine = profiled_engine(policy, self.profile, analyzer)
        # one line per engine built: a run that builds more than one per worker process is paying twice
        log.info("engine for policy %s built in %.1fs (process %d, %s)", self._sha256[:12],
                 time.perf_counter() - started, os.getpid(), "driver's analyzer" if analyzer else how)
        return engine
