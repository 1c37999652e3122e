"""The enclave destination: ``--destination enclave:URL``, or a policy destination of kind ``enclave``
with a ``url``.

Validation reads the trust settings (``--enclave-root``, ``--pcr-policy``, ``--unsafe-allow-simulated``,
``--enclave-tee`` or the policy destination's ``tee``, ``--enclave-allow-tcb-unknown``) and the batch
flags; :meth:`AttestedEnclave.preflight` attests and verifies the enclave once from the driver
(:func:`~redactline.enclave_sink.sink.preflight`) and takes the destination region from the verified,
attested configuration. If that fails, the run stops before any record is read.

Stage: redact -> residency route against the attested region -> seal, send and open results in a Beam
``RunInference`` with :class:`~.enclave_inference.EnclaveModelHandler` (remote-style: ``load_model``
attests, one call seals, sends and opens its batch's sub-batches). When the policy destination names a
task (``generate``, ``embed``, ``classify``), the whole per-record work (redact, residency, seal, send,
re-identify with each record's vault) happens inside that handler's ``run_inference`` call instead.
``--enclave-in-flight`` sub-batches of a call are in flight at once on either stage.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import yaml

from redactline.enclave_sink import evidence_log, sink
from redactline.enclave_sink.client import AttestationRejected, EnclaveClient, EnclaveTrust, RetryPolicy
from redactline.enclave_sink.measurement import MAX_POLICY_FILE_BYTES, PolicyFileError, policy_from_mapping
from redactline.enclave_sink.protocol import model_digest_pin
from redactline.enclave_sink.tasks import ANALYZE, Task, TaskError, parse_task
from redactline.enclave_sink.trust import trust_root_from_pem
from redactline.enclave_sink.verified import TEE_NITRO, TEE_SEV_SNP, TEE_TDX
from redactline.policies.bounded_io import BoundedReadError, read_bounded, read_bounded_text
from redactline.policies.lineage import LINEAGE_KEY
from redactline.policies.residency import check_region
from redactline.policies.safe_yaml import safe_load

from .. import redact, route
from . import enclave_inference
from .base import (
    DELIVERED,
    DESTINATION,
    ENTITIES,
    HELD,
    REJECTED,
    DestinationConfigError,
    DestinationPreflightError,
    JobContext,
)
from .enclave_inference import EnclaveInference

PREFIX = "enclave:"


def check_url(flag: str, url: str) -> str:
    """``url`` when it is an http(s) URL; ``flag`` is the ``--destination`` value, for the message."""
    if not url.startswith(("http://", "https://")):
        raise DestinationConfigError(f"--destination {flag}: expected enclave:http(s)://HOST:PORT")
    return url


EVIDENCE_PREFIX = "evidence:"  # destination counter keys that carry a worker's evidence entry (JSON)


@dataclasses.dataclass(frozen=True)
class _PinnedDestination(sink.EnclaveDestination):
    """The sink's destination whose clients also pin the model digest and record their evidence."""

    def client(self) -> EnclaveClient:
        return EnclaveClient(
            self.url, self.trust.verifier(), retry=self.retry, policy_hash=self.policy_sha256,
            region=self.region, model_digest=self.trust.model_digest, on_attested=evidence_log.record,
            task_kind=self.task_kind,
        )


def _model_digest(opts: Any, declared: str | None) -> str | None:
    flag = getattr(opts, "enclave_model_digest", None)
    try:
        pins = {name: model_digest_pin(value) for name, value in
                (("--enclave-model-digest", flag), ("the policy destination's model_digest", declared))
                if value}
    except ValueError as exc:
        raise DestinationConfigError(f"--enclave-model-digest: {exc}") from None
    if len(set(pins.values())) > 1:
        raise DestinationConfigError(
            "--enclave-model-digest differs from the policy destination's model_digest"
        )
    return next(iter(pins.values()), None)


TEE_FLAG_NAMES = {TEE_NITRO: "Nitro", TEE_SEV_SNP: "SEV-SNP", TEE_TDX: "TDX"}


def _tee(opts: Any, declared: str | None) -> tuple[str, str]:
    """The pinned TEE type and where it came from (for messages): the flag, the policy, or the default."""
    flag = getattr(opts, "enclave_tee", None)
    if flag is not None and declared is not None and flag != declared:
        raise DestinationConfigError(
            f"--enclave-tee {flag} differs from the policy destination's tee {declared}"
        )
    if flag is not None:
        return flag, f"--enclave-tee {flag}"
    if declared is not None:
        return declared, f"the policy destination's tee {declared}"
    return TEE_NITRO, f"--enclave-tee {TEE_NITRO}, the default"


def _trust(opts: Any, tee: str) -> EnclaveTrust:
    root_pem = None
    if opts.enclave_root:
        flag = f"--enclave-root {opts.enclave_root}"
        try:
            root_pem = read_bounded(opts.enclave_root, MAX_POLICY_FILE_BYTES)  # a PEM root is a few KiB
            root = trust_root_from_pem(root_pem)
        except BoundedReadError as exc:
            raise DestinationConfigError(f"{flag}: {exc}") from None
        except ValueError:
            raise DestinationConfigError(f"{flag}: not a PEM certificate") from None
        if root.unsafe and not opts.unsafe_allow_simulated:
            pinned = "the AWS Nitro root" if tee == TEE_NITRO else f"the pinned {TEE_FLAG_NAMES[tee]} roots"
            raise DestinationConfigError(
                f"{flag} is not {pinned}; trusting a simulator's root "
                "needs --unsafe-allow-simulated (local runs and tests only)"
            )
    pcr_policy = None
    if opts.pcr_policy:
        try:
            # bounded read, and the safe loader's depth, alias and duplicate-key limits
            pcr_policy = safe_load(read_bounded_text(opts.pcr_policy, MAX_POLICY_FILE_BYTES))
            policy_from_mapping(pcr_policy, opts.pcr_policy)  # validate now, with the file's name
        except BoundedReadError as exc:
            raise DestinationConfigError(f"--pcr-policy {opts.pcr_policy}: {exc}") from None
        except yaml.YAMLError:
            raise DestinationConfigError(f"--pcr-policy {opts.pcr_policy}: not valid YAML") from None
        except PolicyFileError as exc:
            raise DestinationConfigError(f"--pcr-policy {exc}") from None
    elif not opts.unsafe_allow_simulated:
        raise DestinationConfigError(
            "an enclave destination needs --pcr-policy FILE (the measurements to trust)"
        )
    return EnclaveTrust(
        root_pem=root_pem, allow_unsafe_root=opts.unsafe_allow_simulated, pcr_policy=pcr_policy, tee=tee,
        allow_tcb_unknown=bool(getattr(opts, "enclave_allow_tcb_unknown", False)),
    )


class AttestedEnclave:
    """Seal redacted records for the enclave at ``url``, once its attestation verified (``preflight``).

    Built from the run's flags (``opts``: the enclave batch, timeout and trust flags and
    ``--sink-region``); reads the trust files, contacts nothing. ``declared_region`` is the policy
    destination's region, which the attested region must match.
    """

    def __init__(
        self, job: JobContext, opts: Any, url: str, declared_region: str | None,
        declared_model_digest: str | None = None, declared_task: Any = None, declared_tee: str | None = None,
    ) -> None:
        in_flight = getattr(opts, "enclave_in_flight", 3)
        if (opts.enclave_batch_bytes < 1 or opts.enclave_batch_records < 1 or opts.enclave_attempts < 1
                or in_flight < 1):
            raise DestinationConfigError("--enclave-batch-bytes, --enclave-batch-records, --enclave-attempts "
                                         "and --enclave-in-flight must be >= 1")
        try:  # the policy destination's task (already validated with the policy); None: analyze
            self.task: Task | None = None if declared_task is None else parse_task(
                declared_task.model_dump() if hasattr(declared_task, "model_dump") else declared_task,
                "destination task")
        except TaskError as exc:
            raise DestinationConfigError(str(exc)) from None
        if opts.enclave_timeout <= 0:
            raise DestinationConfigError("--enclave-timeout must be positive")
        self.job = job
        self.url = url
        self.declared_region = declared_region
        self.sink_region: str | None = opts.sink_region
        tee, self._tee_source = _tee(opts, declared_tee)
        self.target: sink.EnclaveDestination = _PinnedDestination(
            url=url,
            trust=dataclasses.replace(
                _trust(opts, tee), model_digest=_model_digest(opts, declared_model_digest)
            ),
            region=None,  # learnt from the attestation in preflight()
            policy_sha256=job.policy_sha256,
            retry=RetryPolicy(attempts=opts.enclave_attempts, timeout=opts.enclave_timeout),
            max_batch_bytes=opts.enclave_batch_bytes,
            max_batch_records=opts.enclave_batch_records,
            max_in_flight=in_flight,
            task_kind=None if self.task is None else self.task.kind,
        )

    @property
    def region(self) -> str | None:
        """The attested region (None before :meth:`preflight`)."""
        return self.target.region

    def preflight(self) -> dict[str, Any]:
        """Attest once; fix the region to the attested one and return what was attested."""
        url = self.url
        try:
            attested = sink.preflight(self.target)
        except AttestationRejected as exc:
            if exc.tee_mismatch is not None:  # a plain statement, not the other format's parse error
                got, pinned = exc.tee_mismatch
                raise DestinationPreflightError(
                    f"enclave at {url}: attestation document is not a {TEE_FLAG_NAMES[pinned]} document "
                    f"(pinned {self._tee_source}); the service sent what looks like "
                    f"{TEE_FLAG_NAMES.get(got, got)} evidence: if that is the TEE to trust, run with "
                    f"--enclave-tee {got}; nothing was sent"
                ) from None
            raise DestinationPreflightError(f"enclave at {url}: {exc}; nothing was sent") from None
        except Exception as exc:  # httpx errors: connection refused, timeouts, HTTP status
            raise DestinationPreflightError(
                f"enclave at {url} could not be attested ({type(exc).__name__}); nothing was sent"
            ) from None
        region = attested["region"]
        try:
            check_region(region)
        except ValueError as exc:
            raise DestinationPreflightError(f"enclave at {url}: attested {exc}; nothing was sent") from None
        for flag, expected in (("the policy destination's region", self.declared_region),
                               ("--sink-region", self.sink_region)):
            if expected is not None and expected != region:
                raise DestinationPreflightError(
                    f"enclave at {url} attests region {region!r} but {flag} is {expected!r}; nothing was sent"
                )
        self.target = dataclasses.replace(self.target, region=region)
        evidence = evidence_log.recorded(attested["document_sha256"])
        pinned = self.target.trust.model_digest
        return {
            "kind": "enclave", **attested, "model_digest_pinned": pinned,
            **({} if self.task is None else {"task": self.task.canonical()}),
            "evidence": [] if evidence is None else [{**evidence, "roles": ["driver"]}],
        }

    def stage(self) -> beam.PTransform:
        if self.target.region is None:
            raise RuntimeError("the enclave's region is known only after preflight()")
        if self.task is not None and self.task.kind != ANALYZE:
            return _TaskStage(self.job, self.target, self.task)
        return _EnclaveStage(self.job, self.target)


class _EnclaveStage(beam.PTransform):
    def __init__(self, job: JobContext, target: sink.EnclaveDestination) -> None:
        super().__init__()
        self._job = job
        self._target = target

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        job = self._job
        red = prepared | "Redact" >> redact.RedactRecords(job.engine_factory, job.lineage, job.batch_size)
        # keep_meta: the sealed batch's id and each result's lineage need the source reference
        routed = red[redact.REDACTED] | "Residency" >> route.RouteByResidency(
            job.residency, self._target.region, keep_meta=True
        )
        sent = routed[route.DELIVERED] | "Enclave" >> EnclaveInference(job, self._target)
        evidence = sent[sink.RESULTS] | "Evidence" >> beam.ParDo(_EvidenceDoFn())
        stats = (sent[sink.STATS], evidence) | "StatsAndEvidence" >> beam.Flatten()
        rejected = (red[redact.REJECTED], sent[sink.REJECTED]) | "AllRejected" >> beam.Flatten()
        return {
            DELIVERED: sent[sink.RESULTS],  # a record counts as delivered once its result came back
            HELD: routed[route.HELD],
            REJECTED: rejected,
            ENTITIES: red[redact.ENTITIES],
            DESTINATION: stats,
        }


class _TaskStage(beam.PTransform):
    """The stage of an enclave destination with a task: results re-identified on the worker."""

    def __init__(self, job: JobContext, target: sink.EnclaveDestination, task: Task) -> None:
        super().__init__()
        self._job = job
        self._target = target
        self._task = task

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        out = prepared | "EnclaveTask" >> EnclaveInference(self._job, self._target, self._task)
        evidence = out[sink.RESULTS] | "Evidence" >> beam.ParDo(_EvidenceDoFn())
        stats = (out[sink.STATS], evidence) | "StatsAndEvidence" >> beam.Flatten()
        return {
            DELIVERED: out[sink.RESULTS],
            HELD: out[enclave_inference.HELD],
            REJECTED: out[sink.REJECTED],
            ENTITIES: out[enclave_inference.ENTITIES],
            DESTINATION: stats,
        }


class _EvidenceDoFn(beam.DoFn):
    """Per result: ``(evidence:<entry JSON>, 1)`` for the attestation its batch was sealed against.

    Runs fused with the send step, so the entry comes from the registry of the process whose client
    verified it; the manifest sums the pairs into one entry per attestation with its record count.
    """

    def setup(self) -> None:
        self._keys: dict[str, str] = {}

    def process(self, result: dict[str, Any]) -> Iterator[tuple[str, int]]:
        enclave = (result.get(LINEAGE_KEY) or {}).get("enclave") or {}
        digest = enclave.get("document_sha256")
        if not digest:
            return
        key = self._keys.get(digest)
        if key is None:
            entry = evidence_log.recorded(digest) or {
                "document_sha256": digest, "document_b64": None,
                "note": "the worker that attested did not keep this document",
            }
            key = EVIDENCE_PREFIX + json.dumps({**entry, "roles": ["worker"]}, sort_keys=True)
            if len(self._keys) < 1024:
                self._keys[digest] = key
        yield key, 1
