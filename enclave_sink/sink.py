"""The enclave sink: a Beam ``PTransform`` that seals redacted records for an attested enclave.

``SealAndSend`` takes redacted records (objects with ``.fields`` and ``.meta``, i.e. the pipeline's
``Redacted``) that residency already allowed into the enclave's attested region, and:

1. groups them into batches of at most ``max_batch_bytes`` of JSON (and ``max_batch_records``);
2. gives each batch a deterministic id (SHA-256 of the run id and the records' source references), so
   a retried bundle re-sends the same id and the enclave's replay cache stops double processing;
3. seals and sends it with :meth:`~redactline.enclave_sink.client.EnclaveClient.send` (one verified
   session per worker and enclave key; retries, re-attestation), with up to ``max_in_flight`` batches
   of a worker in flight at once (:class:`~.inflight.InFlight`); results still come out in batch order;
4. emits one result per record, with lineage, and counts what happened.

Outputs (a dict): ``results`` (plain dicts for the results sink), ``rejected`` (``Rejected`` records of
batches that could not be delivered, with the reason code; the quarantine seals them) and ``stats``
(``(name, n)`` pairs: ``sealed_batches``, ``records_sent``, ``results_received``, ``failed_batches``,
``retries``, ``reattestations``). An attestation that stops verifying mid-run raises: the run fails
rather than send anything to an unverified enclave.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from redactline.connectors.records import Rejected
from redactline.policies.lineage import LINEAGE_KEY, strip_lineage

from .client import AttestationRejected, BatchFailed, EnclaveClient, EnclaveTrust, RetryPolicy
from .inflight import InFlight

RESULTS, REJECTED, STATS = "results", "rejected", "stats"


@dataclass(frozen=True)
class EnclaveDestination:
    """Where and how to send: everything a worker needs, picklable and free of key material."""

    url: str
    trust: EnclaveTrust
    region: str | None  # None only for the preflight that learns the attested region
    policy_sha256: str
    retry: RetryPolicy = RetryPolicy()
    max_batch_bytes: int = 1 << 20
    max_batch_records: int = 500
    max_in_flight: int = 3  # sealed batches of one worker in flight at once
    task_kind: str | None = None  # the attested allowed_tasks must name it (None: analyze, as before tasks)

    def client(self) -> EnclaveClient:
        return EnclaveClient(
            self.url, self.trust.verifier(), retry=self.retry, policy_hash=self.policy_sha256,
            region=self.region, task_kind=self.task_kind,
        )


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8"))


class _BatchBySizeDoFn(beam.DoFn):
    """Groups records into batches bounded in bytes and count (flushed at the end of each bundle)."""

    def __init__(self, max_bytes: int, max_records: int) -> None:
        self._max_bytes = max_bytes
        self._max_records = max_records
        self._batch: list[Any] = []
        self._bytes = 0

    def start_bundle(self) -> None:
        self._batch, self._bytes = [], 0

    def process(self, item: Any) -> Iterator[list[Any]]:
        size = _json_size(strip_lineage(item.fields)) + 1
        if self._batch and (self._bytes + size > self._max_bytes or len(self._batch) >= self._max_records):
            yield self._batch
            self._batch, self._bytes = [], 0
        self._batch.append(item)
        self._bytes += size

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self._batch:
            yield WindowedValue(self._batch, GlobalWindow().max_timestamp(), [GlobalWindow()])
        self._batch, self._bytes = [], 0


def batch_id_for(run_id: str, items: list[Any]) -> str:
    """Deterministic batch id: the same records of the same run always get the same id."""
    digest = hashlib.sha256(run_id.encode("utf-8"))
    for item in items:
        digest.update(b"\x00" + item.meta.source.encode("utf-8") + b"\x01" + item.meta.ref.encode("utf-8"))
    return "b" + digest.hexdigest()[:40]


def in_window(value: Any) -> Any:
    """``value`` (or a ``TaggedOutput``'s value) in the global window: what ``finish_bundle`` must emit."""
    if isinstance(value, TaggedOutput):
        return TaggedOutput(value.tag, in_window(value.value))
    return WindowedValue(value, GlobalWindow().max_timestamp(), [GlobalWindow()])


class ClientStatsDelta:
    """The client's retry/re-attestation counters as ``(name, n)`` deltas since the last call.

    With batches in flight concurrently, per-batch differences would mix batches; deltas of the totals
    still sum to the right count.
    """

    def __init__(self) -> None:
        self._seen = (0, 0)

    def take(self, client: EnclaveClient) -> Iterator[TaggedOutput]:
        now = (client.stats.retries, client.stats.reattestations)
        yield TaggedOutput(STATS, ("retries", now[0] - self._seen[0]))
        yield TaggedOutput(STATS, ("reattestations", now[1] - self._seen[1]))
        self._seen = now


def send_or_stop(client: EnclaveClient, dest: EnclaveDestination, payloads: list[Any], batch_id: str,
                 task: dict[str, Any] | None = None) -> list[Any]:
    """Send one batch; an attestation that stopped verifying stops the run (never a fallback)."""
    assert dest.region is not None
    try:
        return client.send(payloads, policy_hash=dest.policy_sha256, region=dest.region, batch_id=batch_id,
                           task=task)
    except AttestationRejected as exc:
        # Never fall back to anything: the run stops, the manifest check fails, exit code 1.
        raise RuntimeError(f"enclave attestation no longer verifies: {exc}") from None


def enclave_lineage(client: EnclaveClient, region: str | None) -> dict[str, Any]:
    """The ``enclave`` lineage entry: region, key id and the attestation document the batch went to."""
    session = client.session
    return {
        "region": region,
        "key_id": session.key_id if session else None,
        "document_sha256": session.verified.document_sha256.hex() if session else None,
    }


class _SendDoFn(beam.DoFn):
    def __init__(self, destination: EnclaveDestination, run_id: str, lineage: dict[str, Any]) -> None:
        self._dest = destination
        self._run_id = run_id
        self._lineage = dict(lineage)
        self._client: EnclaveClient | None = None
        self._flight: InFlight[tuple[list[Any], list[Any], str]] | None = None

    def setup(self) -> None:
        self._client = self._dest.client()
        self._flight = InFlight(self._dest.max_in_flight)
        self._stats = ClientStatsDelta()

    def start_bundle(self) -> None:
        if self._flight is not None:  # a failed bundle's batches are redone by its retry, not emitted here
            self._flight.discard()

    def teardown(self) -> None:
        if self._flight is not None:
            self._flight.close()
        if self._client is not None:
            self._client.close()

    def process(self, items: list[Any]) -> Iterator[Any]:
        assert self._client is not None and self._flight is not None
        batch_id = batch_id_for(self._run_id, items)
        payloads = [strip_lineage(item.fields) for item in items]  # what enters the enclave: user fields only
        yield TaggedOutput(STATS, ("sealed_batches", 1))
        yield TaggedOutput(STATS, ("records_sent", len(items)))
        self._flight.submit((items, payloads, batch_id), send_or_stop, self._client, self._dest, payloads,
                            batch_id)
        for tag, future in self._flight.ready():
            yield from self._outcome(*tag, future)

    def finish_bundle(self) -> Iterator[Any]:
        assert self._flight is not None
        for tag, future in self._flight.drain():
            for value in self._outcome(*tag, future):
                yield in_window(value)

    def _outcome(self, items: list[Any], payloads: list[Any], batch_id: str, future: Any) -> Iterator[Any]:
        assert self._client is not None
        client = self._client
        failure: BatchFailed | None = None
        results: list[Any] = []
        try:
            results = future.result()
        except BatchFailed as exc:
            failure = exc
        yield from self._stats.take(client)
        if failure is not None:
            yield TaggedOutput(STATS, ("failed_batches", 1))
            for item, payload in zip(items, payloads, strict=True):
                raw = json.dumps(payload, ensure_ascii=False, default=repr, sort_keys=True).encode("utf-8")
                yield TaggedOutput(REJECTED, Rejected(failure.reason, failure.detail, item.meta, raw))
            return
        enclave = enclave_lineage(client, self._dest.region)
        yield TaggedOutput(STATS, ("results_received", len(results)))
        for item, result in zip(items, results, strict=True):
            lineage = {
                **self._lineage, "source": item.meta.source, "ref": item.meta.ref, "batch_id": batch_id,
                "enclave": enclave,
            }
            yield {"result": result, LINEAGE_KEY: lineage}


class SealAndSend(beam.PTransform):
    """Batch, seal and send redacted records to an attested enclave; see the module docstring."""

    def __init__(self, destination: EnclaveDestination, run_id: str, lineage: dict[str, Any]) -> None:
        super().__init__()
        if destination.max_batch_bytes < 1 or destination.max_batch_records < 1:
            raise ValueError("batch limits must be at least 1")
        self._dest = destination
        self._run_id = run_id
        self._lineage = lineage

    def expand(self, redacted: beam.PCollection) -> dict[str, beam.PCollection]:
        batches = redacted | "BatchBySize" >> beam.ParDo(
            _BatchBySizeDoFn(self._dest.max_batch_bytes, self._dest.max_batch_records)
        )
        out = batches | "SealAndSend" >> beam.ParDo(
            _SendDoFn(self._dest, self._run_id, self._lineage)
        ).with_outputs(REJECTED, STATS, main=RESULTS)
        return {RESULTS: out[RESULTS], REJECTED: out[REJECTED], STATS: out[STATS]}


def preflight(destination: EnclaveDestination) -> dict[str, Any]:
    """Attest and verify once from the driver, before any record is read; return what was attested.

    Raises :class:`AttestationRejected` (verification, policy or region refused) or ``httpx`` errors.
    """
    with destination.client() as client:
        session = client.attest()
        return {
            "url": destination.url,
            "region": session.region,
            "key_id": session.key_id,
            "document_sha256": session.verified.document_sha256.hex(),
            "module_id": session.verified.module_id,
            "backend": session.config.get("backend"),
            "model_id": session.config.get("model_id"),
            "model_digest": session.config.get("model_digest"),
            "unsafe_root": session.verified.trusted_root_unsafe,
        }
