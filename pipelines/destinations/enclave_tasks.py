"""The enclave route with a policy task (``generate``, ``embed``, ``classify``): results re-identified.

An enclave destination whose policy names a task (see :mod:`redactline.enclave_sink.tasks`) runs
through ONE DoFn per batch of prepared records, for the same reason as the external-LLM route
(:mod:`redactline.pipelines.llm_stage`): the pseudonym vault (``<PERSON_1>`` -> the original) lives in
each record's :class:`~redactline.policies.exchange.Redacted`, which refuses to be pickled, so
redaction, sealing, sending and re-identification of a record happen inside one DoFn instance. The
vault never crosses a step boundary and is never sealed to the enclave: what is sealed is only the
task's input rendered from the *redacted* record (the prompt, the fields to embed, the text to
classify) and the task's wire form.

Per batch: redact (one pseudonym context per record) -> field-name check -> residency against the
attested region (held records as the plain enclave route holds them) -> render the task input
(``prompt_error`` when the template needs a field the record lacks) -> sealed batches of at most
``max_batch_records`` / ``max_batch_bytes``, up to ``max_in_flight`` in flight at once -> every
string of each result re-identified with that record's vault -> ``{"result", "_redactline"}``.
Undeliverable batches quarantine with the enclave route's reason codes (``enclave_refused``,
``enclave_unavailable``, ``enclave_replay``, ``enclave_bad_reply``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from redactline.connectors.records import Record, Rejected
from redactline.enclave_sink import sink
from redactline.enclave_sink.client import BatchFailed, EnclaveClient
from redactline.enclave_sink.inflight import InFlight
from redactline.enclave_sink.tasks import CLASSIFY, EMBED, GENERATE, Task
from redactline.policies.lineage import LINEAGE_KEY, with_lineage

from .. import progress
from ..redact import METRICS_NAMESPACE, engine_failure, field_name_rejection, raw_bytes
from .base import JobContext

PROMPT_ERROR = "prompt_error"  # the task's template needs a field the record lacks (as the LLM route)
HELD = "held"


def task_input(task: Task, record: dict[str, Any]) -> Any:
    """What is sealed for ``record`` (a redacted record) under ``task``; ``PromptError`` names the field."""
    from redactline.policies.prompts import render_prompt

    if task.kind == GENERATE:
        assert task.prompt is not None
        return render_prompt(task.prompt, record)
    if task.kind == EMBED:
        return {name: render_prompt("{" + name + "}", record) for name in task.fields}
    assert task.kind == CLASSIFY
    return render_prompt(task.prompt or "{record}", record)


def reidentify(value: Any, restore: Any) -> Any:
    """``value`` (a result) with every string's placeholders replaced from ``restore``'s vault."""
    if isinstance(value, str):
        return restore.reidentify(value)
    if isinstance(value, list):
        return [reidentify(v, restore) for v in value]
    if isinstance(value, dict):
        return {k: reidentify(v, restore) for k, v in value.items()}
    return value


class _Pending:
    """A record waiting for its enclave result: holds its vault, lives in one DoFn instance only."""

    __slots__ = ("record", "redacted", "sealed")

    def __init__(self, record: Record, redacted: Any, sealed: Any) -> None:
        self.record = record
        self.redacted = redacted
        self.sealed = sealed

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a pending enclave record holds its vault and cannot be pickled")


class _RedactSealSendDoFn(beam.DoFn):
    def __init__(self, job: JobContext, target: sink.EnclaveDestination, task: Task) -> None:
        self._job = job
        self._target = target
        self._task = task
        self._wire = task.wire()
        self._lineage = dict(job.lineage)
        self._exchange: Any = None
        self._client: EnclaveClient | None = None
        self._flight: InFlight[tuple[list[_Pending], str]] | None = None
        self._records = Metrics.counter(METRICS_NAMESPACE, "records_redacted")
        self._errors = Metrics.counter(METRICS_NAMESPACE, "engine_errors")

    def setup(self) -> None:
        from redactline.policies.exchange import EgressExchange

        self._exchange = EgressExchange(self._job.engine_factory())  # redact + vault; residency decided here
        self._client = self._target.client()
        self._flight = InFlight(self._target.max_in_flight)
        self._stats = sink.ClientStatsDelta()

    def start_bundle(self) -> None:
        if self._flight is not None:  # a failed bundle's batches are redone by its retry, not emitted here
            self._flight.discard()

    def teardown(self) -> None:
        if self._flight is not None:
            self._flight.close()
        if self._client is not None:
            self._client.close()

    def process(self, batch: list[Record]) -> Iterator[Any]:
        assert self._flight is not None
        yield from self._prepare(batch)
        for tag, future in self._flight.ready():
            yield from self._outcome(*tag, future)

    def finish_bundle(self) -> Iterator[Any]:
        assert self._flight is not None
        for tag, future in self._flight.drain():
            for value in self._outcome(*tag, future):
                yield sink.in_window(value)

    def _prepare(self, batch: list[Record]) -> Iterator[Any]:
        from redactline.policies.prompts import PromptError

        assert self._exchange is not None and self._flight is not None
        entities: Counter[str] = Counter()
        pending: list[_Pending] = []
        ok = failed = 0
        redacted = self._exchange.redact_records([r.fields for r in batch])
        quarantine_names = getattr(self._exchange.engine, "field_names", "redact") == "quarantine"
        for record, item in zip(batch, redacted, strict=True):
            if isinstance(item, Exception):
                failed += 1
                reason, detail = engine_failure(item)  # the exception text may quote the input: not kept
                raw = raw_bytes(record.fields)
                yield TaggedOutput(sink.REJECTED, Rejected(reason, detail, record.meta, raw))
                continue
            rejection = field_name_rejection(record, item) if quarantine_names else None
            if rejection is not None:
                failed += 1
                yield TaggedOutput(sink.REJECTED, rejection)
                continue
            ok += 1
            entities.update(f.entity_type for f in item.findings)
            held = self._held(record, item.record)
            if held is not None:
                yield TaggedOutput(HELD, held)
                continue
            try:
                sealed = task_input(self._task, item.record)
            except PromptError as exc:  # names the field path or template position, never a value
                yield TaggedOutput(sink.REJECTED, Rejected(PROMPT_ERROR, f"task prompt: {exc}", record.meta,
                                                           raw_bytes(record.fields)))
                continue
            pending.append(_Pending(record, item, sealed))
        del redacted
        for entity_type, count in entities.items():
            Metrics.counter(f"{METRICS_NAMESPACE}.entities", entity_type).inc(count)
            yield TaggedOutput("entities", (entity_type, count))
        self._records.inc(ok)
        self._errors.inc(failed)
        progress.note(processed=ok)  # engine failures are counted once, as quarantined (as redact.py)
        for group in self._groups(pending):
            batch_id = sink.batch_id_for(self._job.run_id, [p.record for p in group])
            yield TaggedOutput(sink.STATS, ("sealed_batches", 1))
            yield TaggedOutput(sink.STATS, ("records_sent", len(group)))
            self._flight.submit((group, batch_id), sink.send_or_stop, self._client, self._target,
                                [p.sealed for p in group], batch_id, self._wire)

    def _held(self, record: Record, fields: dict[str, Any]) -> dict[str, Any] | None:
        """The held record (as the plain enclave route holds it) when residency refuses the region."""
        residency, region = self._job.residency, self._target.region
        if residency is None:
            return None
        assert region is not None
        decision = residency.decide(record.meta.jurisdiction, region)
        if decision.allowed:
            return None
        held = {"reason": decision.reason, "jurisdiction": decision.jurisdiction, "region": region,
                "source": record.meta.source, "ref": record.meta.ref}
        return with_lineage(fields, {**self._lineage, "held": held})

    def _groups(self, pending: list[_Pending]) -> Iterator[list[_Pending]]:
        """Sealed batches bounded in records and in bytes of JSON, as the plain enclave route forms them."""
        group: list[_Pending] = []
        size = 0
        limit_bytes, limit_records = self._target.max_batch_bytes, self._target.max_batch_records
        for item in pending:
            n = len(json.dumps(item.sealed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1
            if group and (size + n > limit_bytes or len(group) >= limit_records):
                yield group
                group, size = [], 0
            group.append(item)
            size += n
        if group:
            yield group

    def _outcome(self, group: list[_Pending], batch_id: str, future: Any) -> Iterator[Any]:
        assert self._client is not None
        try:
            results = future.result()
            failure = None
        except BatchFailed as exc:
            results, failure = [], exc
        yield from self._stats.take(self._client)
        if failure is not None:
            yield TaggedOutput(sink.STATS, ("failed_batches", 1))
            for pend in group:
                raw = json.dumps(pend.redacted.record, ensure_ascii=False, default=repr, sort_keys=True)
                yield TaggedOutput(sink.REJECTED, Rejected(failure.reason, failure.detail, pend.record.meta,
                                                           raw.encode("utf-8")))
            return
        enclave = sink.enclave_lineage(self._client, self._target.region)
        yield TaggedOutput(sink.STATS, ("results_received", len(results)))
        for pend, result in zip(group, results, strict=True):
            lineage = {**self._lineage, "source": pend.record.meta.source, "ref": pend.record.meta.ref,
                       "batch_id": batch_id, "task": self._task.kind, "enclave": enclave}
            # re-identified here, on the worker, from this record's own vault (never sent anywhere)
            yield {"result": reidentify(result, pend.redacted), LINEAGE_KEY: lineage}
        group.clear()  # drop the vaults as soon as the results are out


class EnclaveTaskStage(beam.PTransform):
    """Prepared records in; ``results``, ``held``, ``rejected``, ``entities`` and ``stats`` out."""

    def __init__(self, job: JobContext, target: sink.EnclaveDestination, task: Task) -> None:
        super().__init__()
        self._job = job
        self._target = target
        self._task = task

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        out = (
            prepared
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._job.batch_size)
            | "RedactSealSend" >> beam.ParDo(_RedactSealSendDoFn(self._job, self._target, self._task))
            .with_outputs(HELD, sink.REJECTED, sink.STATS, "entities", main=sink.RESULTS)
        )
        return {name: out[name] for name in (sink.RESULTS, HELD, sink.REJECTED, sink.STATS, "entities")}
