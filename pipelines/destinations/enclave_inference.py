"""The enclave stage as a Beam RunInference ``ModelHandler`` (remote-style): :class:`EnclaveModelHandler`.

``RunInference(EnclaveModelHandler(...)).with_exception_handling()`` gives the enclave route Beam's ML
conventions: ``BatchElements`` forms the batches (:meth:`~EnclaveModelHandler.batch_elements_kwargs`,
from ``--enclave-batch-records`` x ``--enclave-in-flight``), the model is loaded once per process
(``load_model``: attest and verify, Beam's ``Shared`` cache; never shared across processes, which would
pickle every batch to a model process), and RunInference reports its metrics (``num_inferences``,
``inference_batch_latency_micro_secs``, ``failed_batches_counter``...).

One ``run_inference`` call does all the per-record work of its batch, so nothing that must stay on the
worker crosses a step boundary:

* with a task, it redacts (the pseudonym vault is created here, inside the call), decides residency
  (held records) and renders the task input; without a task its elements are already redacted records
  that residency allowed (the vault-free plain route);
* it splits the batch into sealed sub-batches of at most ``max_batch_records`` / ``max_batch_bytes``
  and sends them with up to ``max_in_flight`` in flight at once (:class:`~redactline.enclave_sink.
  inflight.InFlight`), waiting for all of them before it returns: no batch is in flight between calls;
* it opens and verifies the replies, re-identifies task results with each record's own vault, drops
  the vaults, and returns ONE :class:`PredictionResult` per input element whose ``inference`` is an
  :class:`Outcome`: delivered, held, or rejected with redactline's quarantine reason. A sub-batch that
  could not be delivered (``BatchFailed``: ``enclave_unavailable``, ``enclave_refused``,
  ``enclave_replay``, ``enclave_bad_reply``) rejects only its own records; the call still succeeds.

Only an unexpected error fails the call. It is re-raised as :class:`EnclaveStageError` (its type name,
never its text, which may quote a record), Beam's exception handling puts the batch on the failure
output, and every element of that batch is quarantined ``enclave_error``. An attestation that stops
verifying raises :class:`~redactline.enclave_sink.sink.EnclaveStopped`, which is not caught: the run
fails rather than send anything to an unverified enclave.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult, RemoteModelHandler, RunInference
from apache_beam.pvalue import TaggedOutput

from redactline.connectors.records import Rejected
from redactline.enclave_sink import sink
from redactline.enclave_sink.client import AttestationRejected, BatchFailed, EnclaveClient
from redactline.enclave_sink.inflight import InFlight
from redactline.enclave_sink.tasks import Task
from redactline.policies.lineage import LINEAGE_KEY, strip_lineage, with_lineage

from .. import progress
from ..redact import METRICS_NAMESPACE, engine_failure, field_name_rejection, raw_bytes
from .base import JobContext
from .enclave_tasks import PROMPT_ERROR, reidentify, task_input

log = logging.getLogger(__name__)

ENCLAVE_ERROR = "enclave_error"  # quarantine reason: the enclave stage failed unexpectedly on a batch
HELD, ENTITIES = "held", "entities"
NAMESPACE = "redactline.enclave"  # RunInference's metrics namespace for this stage


class EnclaveStageError(Exception):
    """An unexpected failure of one ``run_inference`` call; the message names a type, never a value."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one element: ``kind`` is ``results``, ``held`` or ``rejected`` (the stage's
    output tags), ``value`` the output record; ``stats`` and ``entities`` are ``(name, n)`` counts the
    call attaches to one of its elements (they sum to the same totals as per-batch counts)."""

    kind: str
    value: Any
    stats: tuple[tuple[str, int], ...] = ()
    entities: tuple[tuple[str, int], ...] = ()


class AttestedClient:
    """The handler's "model": one verified :class:`EnclaveClient` per process, shared by its threads.

    Keeps the client's retry/re-attestation totals already reported, under a lock, so concurrent calls
    report deltas that sum to the client's totals. The client is closed when the last user drops it.
    """

    def __init__(self, client: EnclaveClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._seen = (0, 0)
        weakref.finalize(self, client.close)

    def stats_delta(self) -> list[tuple[str, int]]:
        with self._lock:
            now = (self.client.stats.retries, self.client.stats.reattestations)
            delta = [("retries", now[0] - self._seen[0]), ("reattestations", now[1] - self._seen[1])]
            self._seen = now
        return delta


class _Item:
    """An element on its way through one call; with a task it holds the record's vault (``restore``),
    so it refuses to be pickled and lives only inside ``run_inference``."""

    __slots__ = ("index", "meta", "payload", "redacted_fields", "restore")

    def __init__(self, index: int, meta: Any, payload: Any, redacted_fields: Any,
                 restore: Any = None) -> None:
        self.index = index
        self.meta = meta
        self.payload = payload  # what is sealed for this record
        self.redacted_fields = redacted_fields  # what the quarantine keeps if its sub-batch fails
        self.restore = restore

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("an enclave item may hold its record's vault and cannot be pickled")


def _never_retry(exc: Exception) -> bool:
    """The client retries each sub-batch itself; re-running a whole call would re-send delivered ones."""
    return False


class EnclaveModelHandler(RemoteModelHandler[Any, Outcome, AttestedClient]):
    """Redacted records (no task) or prepared records (``task``) in, one :class:`Outcome` each out."""

    def __init__(self, job: JobContext, target: sink.EnclaveDestination, task: Task | None = None) -> None:
        if target.region is None:
            raise ValueError("the enclave's region is known only after preflight()")
        super().__init__(namespace=NAMESPACE, num_retries=0, retry_filter=_never_retry)
        self._job = job
        self._target = target
        self._task = task
        self._wire = None if task is None else task.wire()
        self._lineage = dict(job.lineage)

    # --- Beam's ModelHandler conventions ----------------------------------------------------------
    def batch_elements_kwargs(self) -> dict[str, Any]:
        """Fixed-size batches of ``max_in_flight`` sealed batches' worth of records (the rest of a
        bundle flushes at its end), so each call can keep ``max_in_flight`` sub-batches in flight."""
        size = self._target.max_batch_records * self._target.max_in_flight
        return {"min_batch_size": size, "max_batch_size": size}

    def share_model_across_processes(self) -> bool:
        return False  # a model process would need every batch pickled to it, vaults included

    def get_metrics_namespace(self) -> str:
        return NAMESPACE

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        """JSON size of the batch's fields (Beam's default pickles the batch just to measure it)."""
        return sum(len(raw_bytes(getattr(e, "fields", {}))) for e in batch)

    def create_client(self) -> AttestedClient:
        """Attest and verify once per process. A refused attestation stops the run; an unreachable
        service is left to each sub-batch's retries (quarantined ``enclave_unavailable``, as before)."""
        client = self._target.client()
        try:
            client.attest()
        except AttestationRejected as exc:
            client.close()
            raise sink.EnclaveStopped(f"enclave attestation no longer verifies: {exc}") from None
        except Exception as exc:  # httpx errors: the first sub-batch attests again, with retries
            log.warning("enclave at %s not attested at load (%s); batches will retry", self._target.url,
                        type(exc).__name__)
        return AttestedClient(client)

    def request(self, batch: Sequence[Any], model: AttestedClient,
                inference_args: dict[str, Any] | None = None) -> list[PredictionResult]:
        try:
            return self._infer(batch, model)
        except sink.EnclaveStopped:
            raise
        except Exception as exc:  # its text may quote a record: keep only the type
            raise EnclaveStageError(
                f"the enclave stage failed on a batch of {len(batch)} records ({type(exc).__name__})"
            ) from None

    # --- one call -----------------------------------------------------------------------------------
    def _infer(self, batch: Sequence[Any], model: AttestedClient) -> list[PredictionResult]:
        outcomes: list[Outcome | None] = [None] * len(batch)
        entities: Counter[str] = Counter()
        items = self._prepare(batch, outcomes, entities) if self._task else self._plain(batch)
        flight: InFlight[tuple[list[_Item], str]] = InFlight(self._target.max_in_flight)
        try:
            for group in self._groups(items):
                batch_id = sink.batch_id_for(self._job.run_id, group)
                flight.submit((group, batch_id), sink.send_or_stop, model.client, self._target,
                              [item.payload for item in group], batch_id, self._wire)
                for tag, future in flight.ready():
                    self._settle(*tag, future, model, outcomes)
            for tag, future in flight.drain():
                self._settle(*tag, future, model, outcomes)
        finally:
            flight.close()  # every sub-batch came back (or the call fails as a whole)
        if batch:
            first = outcomes[0]
            assert first is not None
            outcomes[0] = dataclasses.replace(first, entities=tuple(sorted(entities.items())))
        doc = sink.enclave_lineage(model.client, self._target.region)["document_sha256"]
        return [PredictionResult(element, outcome, doc)
                for element, outcome in zip(batch, outcomes, strict=True)]

    def _plain(self, batch: Sequence[Any]) -> list[_Item]:
        """Redacted records that residency allowed: what enters the enclave is the user fields only."""
        items = []
        for index, element in enumerate(batch):
            payload = strip_lineage(element.fields)
            items.append(_Item(index, element.meta, payload, payload))
        return items

    def _prepare(self, batch: Sequence[Any], outcomes: list[Outcome | None],
                 entities: Counter[str]) -> list[_Item]:
        """Redact (one pseudonym context each), residency, task input; held and rejected settle here."""
        from redactline.policies.exchange import EgressExchange
        from redactline.policies.prompts import PromptError

        assert self._task is not None
        exchange = EgressExchange(self._job.engine_factory())  # the engine is cached per worker thread
        redacted = exchange.redact_records([r.fields for r in batch])
        quarantine_names = getattr(exchange.engine, "field_names", "redact") == "quarantine"
        items: list[_Item] = []
        ok = failed = 0
        for index, (record, item) in enumerate(zip(batch, redacted, strict=True)):
            if isinstance(item, Exception):
                failed += 1
                reason, detail = engine_failure(item)  # the exception text may quote the input: not kept
                outcomes[index] = Outcome(sink.REJECTED, Rejected(reason, detail, record.meta,
                                                                  raw_bytes(record.fields)))
                continue
            rejection = field_name_rejection(record, item) if quarantine_names else None
            if rejection is not None:
                failed += 1
                outcomes[index] = Outcome(sink.REJECTED, rejection)
                continue
            ok += 1
            entities.update(f.entity_type for f in item.findings)
            held = self._held(record, item.record)
            if held is not None:
                outcomes[index] = Outcome(HELD, held)
                continue
            try:
                sealed = task_input(self._task, item.record)
            except PromptError as exc:  # names the field path or template position, never a value
                outcomes[index] = Outcome(sink.REJECTED, Rejected(
                    PROMPT_ERROR, f"task prompt: {exc}", record.meta, raw_bytes(record.fields)))
                continue
            items.append(_Item(index, record.meta, sealed, item.record, item))
        del redacted
        for entity_type, count in entities.items():
            Metrics.counter(f"{METRICS_NAMESPACE}.entities", entity_type).inc(count)
        Metrics.counter(METRICS_NAMESPACE, "records_redacted").inc(ok)
        Metrics.counter(METRICS_NAMESPACE, "engine_errors").inc(failed)
        progress.note(processed=ok)  # engine failures are counted once, as quarantined (as redact.py)
        return items

    def _held(self, record: Any, fields: dict[str, Any]) -> dict[str, Any] | None:
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

    def _groups(self, items: list[_Item]) -> Iterator[list[_Item]]:
        """Sealed sub-batches bounded in records and in bytes of JSON (greedy, in input order)."""
        group: list[_Item] = []
        size = 0
        limit_bytes, limit_records = self._target.max_batch_bytes, self._target.max_batch_records
        for item in items:
            n = len(json.dumps(item.payload, separators=(",", ":"), ensure_ascii=False,
                               default=str).encode("utf-8")) + 1
            if group and (size + n > limit_bytes or len(group) >= limit_records):
                yield group
                group, size = [], 0
            group.append(item)
            size += n
        if group:
            yield group

    def _settle(self, group: list[_Item], batch_id: str, future: Any, model: AttestedClient,
                outcomes: list[Outcome | None]) -> None:
        """The sub-batch's outcome for each of its records; its counts ride on its first record."""
        try:
            results, failure = future.result(), None
        except BatchFailed as exc:
            results, failure = [], exc
        stats = [("sealed_batches", 1), ("records_sent", len(group)), *model.stats_delta()]
        if failure is not None:
            stats.append(("failed_batches", 1))
            for item in group:
                outcomes[item.index] = Outcome(sink.REJECTED, Rejected(
                    failure.reason, failure.detail, item.meta, raw_bytes(item.redacted_fields)))
        else:
            stats.append(("results_received", len(results)))
            enclave = sink.enclave_lineage(model.client, self._target.region)
            task = {} if self._task is None else {"task": self._task.kind}
            for item, result in zip(group, results, strict=True):
                lineage = {**self._lineage, "source": item.meta.source, "ref": item.meta.ref,
                           "batch_id": batch_id, **task, "enclave": enclave}
                # re-identified here, on the worker, from this record's own vault (never sent anywhere)
                value = result if item.restore is None else reidentify(result, item.restore)
                outcomes[item.index] = Outcome(sink.RESULTS, {"result": value, LINEAGE_KEY: lineage})
        first = group[0].index
        outcomes[first] = dataclasses.replace(outcomes[first], stats=tuple(stats))  # type: ignore[arg-type]
        for item in group:
            item.restore = None  # drop the vaults as soon as the results are out


class _SplitOutcomes(beam.DoFn):
    """PredictionResults to the stage's outputs: results (main), held, rejected, stats, entities."""

    def process(self, prediction: PredictionResult) -> Iterator[Any]:
        outcome: Outcome = prediction.inference
        for stat in outcome.stats:
            yield TaggedOutput(sink.STATS, stat)
        for pair in outcome.entities:
            yield TaggedOutput(ENTITIES, pair)
        yield outcome.value if outcome.kind == sink.RESULTS else TaggedOutput(outcome.kind, outcome.value)


def quarantine_failed_call(failed: tuple[Sequence[Any], Any]) -> Iterable[Rejected]:
    """Beam's failure output ``(batch, (type, repr, traceback))`` as ``enclave_error`` rejections.

    Only :class:`EnclaveStageError` reaches it (``exc_class``), whose text holds no value; the raw
    bytes kept (sealed by the quarantine) are each element's fields, as the engine's failures keep them.
    """
    batch, (exc_type, exc_repr, _traceback) = failed
    detail = exc_repr if exc_type is EnclaveStageError else f"the enclave stage raised {exc_type.__name__}"
    for element in batch:
        yield Rejected(ENCLAVE_ERROR, detail, element.meta, raw_bytes(strip_lineage(element.fields)))


class EnclaveInference(beam.PTransform):
    """``RunInference(EnclaveModelHandler)`` with exception handling, split into the stage's outputs:
    ``results``, ``held``, ``rejected``, ``stats`` and ``entities``."""

    def __init__(self, job: JobContext, target: sink.EnclaveDestination, task: Task | None = None) -> None:
        super().__init__()
        self._handler = EnclaveModelHandler(job, target, task)

    def expand(self, elements: beam.PCollection) -> dict[str, beam.PCollection]:
        predictions, failed = elements | "RunInference" >> RunInference(
            self._handler).with_exception_handling(exc_class=EnclaveStageError)
        out = predictions | "Outcomes" >> beam.ParDo(_SplitOutcomes()).with_outputs(
            HELD, sink.REJECTED, sink.STATS, ENTITIES, main=sink.RESULTS)
        errors = failed.failed_inferences | "QuarantineFailedCalls" >> beam.FlatMap(quarantine_failed_call)
        rejected = (out[sink.REJECTED], errors) | "Rejected" >> beam.Flatten()
        return {sink.RESULTS: out[sink.RESULTS], HELD: out[HELD], sink.REJECTED: rejected,
                sink.STATS: out[sink.STATS], ENTITIES: out[ENTITIES]}
