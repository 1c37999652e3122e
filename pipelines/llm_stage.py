"""The external-LLM route: redact, check, prompt, send, re-identify — one record at a time, inside ONE DoFn.

``SendToLlm`` takes prepared records (:class:`~redactline.pipelines.redact.PrepareRecords`) and returns a
dict of PCollections:

* ``results``  - ``{"answer": <re-identified text>, "_redactline": {lineage..., "source", "ref",
  "jurisdiction", "destination", "model", "usage": {"input_tokens", "output_tokens", "attempts"}}}``;
* ``held``     - redacted fields plus ``_redactline.held = {reason, jurisdiction, region, source, ref,
  destination[, detail]}``: residency said no (``unknown_jurisdiction``, ``no_rule``,
  ``region_not_allowed``) or the destination's egress controls did (``never_send_entity``,
  ``entity_not_allowed``, ``jurisdiction_not_allowed``); never sent;
* ``rejected`` - :class:`~redactline.connectors.records.Rejected` with the raw record for the sealed
  quarantine: ``engine_error`` (``engine_timeout`` / ``oversize`` over the policy's budget),
  ``prompt_error`` (the template needs a field the record lacks), ``llm_error`` (the API failed after
  its retries);
* ``entities`` - ``(entity_type, n)`` pairs for every redacted record, sent or held;
* ``usage``    - ``(key, n)`` pairs, keys ``requests`` (prompts sent, one per record that reached the
  API), ``retries`` (extra HTTP attempts; HTTP requests made = requests + retries), ``input_tokens``,
  ``output_tokens``. Requests and retries are also noted in :mod:`.progress` the moment each is sent.

Why one DoFn: the pseudonym vault (``<PERSON_1>`` -> the original) is in the record's
:class:`~redactline.policies.operators.RecordContext`, which refuses to be pickled. Beam serializes
every element that crosses a step boundary, so redaction, sending and re-identification of a record
must happen in the same ``process`` call; only the re-identified answer (local output, as intended)
and PII-free accounting leave it. The prompt and the vault never do.

Why residency and egress come before the prompt is even rendered: a held record must never reach the
network, and "held" must not depend on whether the API happens to be up.

The destination is loaded from the policy file on the worker, with the policy hash checked like
:class:`~redactline.pipelines.redact.PolicyEngineFactory`; the API key is read from the environment
there too. The pickled pipeline holds a path, a hash and a destination name: no keys, no vault.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from redactline.connectors.llm import Answer, ChatClient, LlmError, Prompt, client_from_destination
from redactline.connectors.records import Record, Rejected
from redactline.policies.lineage import LINEAGE_KEY
from redactline.policies.residency import ResidencyConfig

from . import progress
from .redact import METRICS_NAMESPACE, EngineFactory, engine_failure, field_name_rejection, raw_bytes

log = logging.getLogger(__name__)

RESULTS, HELD, REJECTED, ENTITIES, USAGE = "results", "held", "rejected", "entities", "usage"
# Reason codes (stable: manifests and dashboards count by them).
LLM_ERROR = "llm_error"
PROMPT_ERROR = "prompt_error"
USAGE_KEYS = ("requests", "retries", "input_tokens", "output_tokens")


def _note_sent(attempt: int) -> None:
    """Called by the client's threads just before each HTTP request (see :attr:`ChatClient.on_send`)."""
    progress.note_destination("requests" if attempt == 1 else "retries")


class LlmDestinationLoader:
    """Returns the ``external_api`` destination ``name`` of the policy the driver resolved and shipped
    (:mod:`.policy_ship`); the worker reads no policy file.

    Refuses a policy whose hash differs from the one the run started with, so every record of a run is
    sent under the controls (never_send, allow lists, template) that were reviewed.
    """

    def __init__(self, policy_path: str, expected_sha256: str, name: str) -> None:
        from .policy_ship import for_path

        self._policy = for_path(policy_path, expected_sha256)
        self.name = name

    def __call__(self) -> Any:
        from redactline.policies.destinations import lookup_destination

        policy = self._policy.load()
        return lookup_destination(policy.destinations, self.name, "external_api")


class _Pending:
    """A record whose prompt is ready: lives in one ``process`` call only (its exchange holds the vault)."""

    __slots__ = ("record", "exchange", "prompt")

    def __init__(self, record: Record, exchange: Any, prompt: Prompt) -> None:
        self.record = record
        self.exchange = exchange
        self.prompt = prompt

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a pending LLM request holds the record's vault and cannot be pickled")


class _RedactSendDoFn(beam.DoFn):
    """Per batch: the egress exchange redacts (one context per record) and decides; held or rendered;
    prompts sent concurrently; answers re-identified from each record's vault."""

    def __init__(
        self,
        engine_factory: EngineFactory,
        destination: LlmDestinationLoader,
        lineage: dict[str, Any],
        residency: ResidencyConfig | None,
        region: str | None,
    ) -> None:
        self._engine_factory = engine_factory
        self._loader = destination
        self._lineage = dict(lineage)
        self._residency = residency
        self._region = region
        self._exchange: Any = None
        self._client: ChatClient | None = None
        self._sent = Metrics.counter(METRICS_NAMESPACE, "llm_requests")
        self._retried = Metrics.counter(METRICS_NAMESPACE, "llm_retries")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "llm_errors")
        self._held = Metrics.counter(METRICS_NAMESPACE, "llm_held")

    def setup(self) -> None:
        from redactline.policies.exchange import EgressExchange

        destination = self._loader()
        # The API key is read here, on the worker; a missing variable fails the run (fail closed).
        self._client = client_from_destination(destination, self._loader.name)
        # Requests are also noted as they leave, not when answered: a run that fails or is interrupted
        # with requests in flight still reports them (its manifest takes the counts noted so far).
        self._client.on_send = _note_sent
        # residency is checked against the stage's region (SendToLlm requires one when there are rules)
        self._exchange = EgressExchange(self._engine_factory(), destination, residency=self._residency,
                                        region=self._region)

    def teardown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def process(self, batch: list[Record]) -> Iterator[Any]:
        from redactline.policies.prompts import PromptError

        assert self._exchange is not None and self._client is not None
        entities: Counter[str] = Counter()
        pending: list[_Pending] = []
        redacted = self._exchange.redact_records([r.fields for r in batch])
        quarantine_names = getattr(self._exchange.engine, "field_names", "redact") == "quarantine"
        for record, item in zip(batch, redacted, strict=True):
            if isinstance(item, Exception):
                reason, detail = engine_failure(item)  # the exception text may quote the input: not kept
                yield TaggedOutput(REJECTED, Rejected(reason, detail, record.meta, raw_bytes(record.fields)))
                continue
            rejection = field_name_rejection(record, item) if quarantine_names else None
            if rejection is not None:  # the policy quarantines records whose field names hold PII
                yield TaggedOutput(REJECTED, rejection)
                continue
            entities.update(f.entity_type for f in item.findings)
            decision = item.decide(record.meta.jurisdiction)
            if not decision.allowed:
                self._held.inc()
                yield TaggedOutput(HELD, self._held_record(item.record, record, decision))
                continue
            try:
                rendered = item.render()
            except PromptError as exc:
                # PromptError names the field path or template position, never a value.
                yield TaggedOutput(REJECTED, Rejected(PROMPT_ERROR, f"prompt template: {exc}", record.meta,
                                                      raw_bytes(record.fields)))
                continue
            pending.append(_Pending(record, item, Prompt(user=rendered.user, system=rendered.system)))
        del redacted

        usage: Counter[str] = Counter({key: 0 for key in USAGE_KEYS})
        answers = self._client.complete_many([p.prompt for p in pending]) if pending else []
        for pend, answer in zip(pending, answers, strict=True):
            usage["requests"] += 1
            if isinstance(answer, LlmError):
                usage["retries"] += answer.attempts - 1
                self._failed.inc()
                yield TaggedOutput(REJECTED, Rejected(LLM_ERROR, str(answer), pend.record.meta,
                                                      raw_bytes(pend.record.fields)))
                continue
            usage["retries"] += answer.retries
            usage["input_tokens"] += answer.usage.input_tokens
            usage["output_tokens"] += answer.usage.output_tokens
            try:
                result = self._result(pend, answer)
            except Exception as exc:  # the answer scan ran past the budget: not delivered unscanned
                yield TaggedOutput(REJECTED, Rejected(LLM_ERROR, f"answer scan failed ({type(exc).__name__})",
                                                      pend.record.meta, raw_bytes(pend.record.fields)))
                continue
            yield result
        pending.clear()  # drop the vaults as soon as the answers are out

        for entity_type, count in entities.items():
            Metrics.counter(f"{METRICS_NAMESPACE}.entities", entity_type).inc(count)
            yield TaggedOutput(ENTITIES, (entity_type, count))
        for key in USAGE_KEYS:
            yield TaggedOutput(USAGE, (key, usage[key]))
        self._sent.inc(usage["requests"])
        self._retried.inc(usage["retries"])
        progress.note(processed=len(batch))

    # ---- steps ----------------------------------------------------------------------------------
    def _held_record(self, fields: dict[str, Any], record: Record, decision: Any) -> dict[str, Any]:
        held: dict[str, Any] = {
            "reason": decision.reason,
            "jurisdiction": decision.jurisdiction,
            "region": self._region,
            "source": record.meta.source,
            "ref": record.meta.ref,
            "destination": self._loader.name,
        }
        if decision.detail:
            held["detail"] = decision.detail  # entity types and jurisdiction codes only (policies/egress.py)
        out = dict(fields)
        out[LINEAGE_KEY] = {**self._lineage, "held": held}
        return out

    def _result(self, pend: _Pending, answer: Answer) -> dict[str, Any]:
        from redactline.policies.answer_scan import scan_answers

        # the destination's scan_answers: personal data the model wrote itself (not from the prompt)
        mode = self._exchange.destination.scan_answers or "off"
        scan = scan_answers(self._exchange.engine, [answer.text], mode)
        text = pend.exchange.reidentify(scan.texts[0])
        meta = pend.record.meta
        extra = {"answer_scan": dict(sorted(scan.found.items()))} if scan.total else {}
        return {
            "answer": text,
            LINEAGE_KEY: {
                **self._lineage,
                "source": meta.source,
                "ref": meta.ref,
                "jurisdiction": meta.jurisdiction,
                "destination": self._loader.name,
                "model": answer.model,
                "usage": {"input_tokens": answer.usage.input_tokens,
                          "output_tokens": answer.usage.output_tokens,
                          "attempts": answer.attempts},
                **extra,
            },
        }


class SendToLlm(beam.PTransform):
    """Prepared records in; results, held, rejected, entity and usage counts out (see the module docstring).

    ``engine_factory`` builds the redaction engine on the worker (e.g. ``PolicyEngineFactory``);
    ``policy_path``/``policy_sha256`` locate the policy holding ``destination_name`` (kind
    ``external_api``); ``residency``/``region`` as for ``RouteByResidency`` (``region`` is required when
    the policy has residency rules: normally the destination's own ``region``); ``batch_size`` as for
    ``RedactRecords``. Requests within a batch run concurrently, at most the destination's
    ``max_concurrency`` at a time per worker. The input is the output of
    :class:`~redactline.pipelines.redact.PrepareRecords` (size and reserved-field checks, jurisdiction).
    """

    def __init__(
        self,
        engine_factory: EngineFactory,
        policy_path: str,
        policy_sha256: str,
        destination_name: str,
        lineage: dict[str, Any],
        residency: ResidencyConfig | None,
        region: str | None,
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        if residency is not None and region is None:
            raise ValueError("the policy has residency rules but the destination region is unknown")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._factory = engine_factory
        self._loader = LlmDestinationLoader(policy_path, policy_sha256, destination_name)
        self._lineage = lineage
        self._residency = residency
        self._region = region
        self._batch = batch_size

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        send = _RedactSendDoFn(self._factory, self._loader, self._lineage, self._residency, self._region)
        out = (
            prepared
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch)
            | "RedactSendReidentify" >> beam.ParDo(send).with_outputs(HELD, REJECTED, ENTITIES, USAGE,
                                                                       main=RESULTS)
        )
        return {RESULTS: out[RESULTS], HELD: out[HELD], REJECTED: out[REJECTED], ENTITIES: out[ENTITIES],
                USAGE: out[USAGE]}
