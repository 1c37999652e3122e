"""The enclave service core, independent of HTTP: attest, then open / check / infer / seal one batch.

:class:`EnclaveService` ties a :class:`~.keys.KeyRing`, an attestation provider and an inference
backend together. Its two operations map one-to-one onto the HTTP endpoints in :mod:`.app`; their
failures are :class:`ServiceError` values carrying the HTTP status and a stable error code. Messages
never contain decrypted content: only batch ids, counts and reasons.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from ..envelope import BatchHeader, BatchOpener, EnvelopeError, OpenedBatch, seal_reply
from ..envelope_header import HeaderFieldError
from ..tasks import ANALYZE, Task, TaskError, parse_task
from .backends import BackendError, InferenceBackend
from .config import ServiceConfig, attested_configuration, canonical_json, configuration_digest
from .keys import (
    Clock,
    EnclaveKey,
    InFlightError,
    KeyExhaustedError,
    KeyRing,
    ReplayError,
    UnknownKeyError,
    utc_now,
)
from .limits import json_depth_exceeds
from .providers import AttestationProvider
from .task_runner import TaskInputError, run_task, supported_tasks, unsupported_reason

logger = logging.getLogger(__name__)

MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 64
DOCUMENT_DIGEST_LEN = 32
REATTEST_MESSAGE = (
    "the enclave key this batch was sealed to is no longer live (rotated out or unknown): "
    "re-attest with POST /v1/attestation and seal again"
)


class ServiceError(Exception):
    """A refusal with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Attestation:
    """One issued attestation document and the key it publishes."""

    document: bytes
    key_id: str
    document_sha256: bytes


class EnclaveService:
    """Attestation and batch processing for one configuration, provider and backend."""

    def __init__(
        self,
        config: ServiceConfig,
        *,
        provider: AttestationProvider,
        backend: InferenceBackend,
        keyring: KeyRing | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self._clock = clock  # for the header's created_at bound
        self.provider = provider
        self.backend = backend
        self.keyring = keyring or KeyRing(
            lifetime=config.key_lifetime,
            grace=config.key_grace,
            max_documents_per_key=config.max_documents_per_key,
            max_batches_per_key=config.max_batches_per_key,
        )
        supported = supported_tasks(backend)
        unsupported = sorted(config.allowed_tasks - supported)
        if unsupported:
            raise ValueError(f"allowed tasks {unsupported} are not supported by backend {backend.name!r} "
                             f"(it runs: {', '.join(sorted(supported))})")
        #: the task kinds batches may ask for (attested): the configured list, else all the backend runs
        self.allowed_tasks = config.allowed_tasks or supported
        self.attested_config = attested_configuration(
            config, backend_name=backend.name, model_id=backend.model_id, model_digest=backend.model_digest,
            allowed_tasks=sorted(self.allowed_tasks),
        )
        self.config_digest = configuration_digest(self.attested_config)
        self._attest_lock = threading.Lock()

    # -- attestation ---------------------------------------------------------------------------

    def attest(self, nonce: bytes) -> Attestation:
        """Issue a document binding ``nonce``, the config digest and the current enclave key."""
        if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
            raise ServiceError(400, "bad-nonce", f"nonce must be {MIN_NONCE_BYTES}..{MAX_NONCE_BYTES} bytes")
        key = self.keyring.current()
        with self._attest_lock:
            document = self.provider.attest(
                nonce=nonce, user_data=self.config_digest, public_key=key.public_key_der
            )
        digest = hashlib.sha256(document).digest()
        try:
            self.keyring.register_document(key, digest)
        except UnknownKeyError:  # rotated while signing: extremely rare, let the client retry
            raise ServiceError(503, "retry", "enclave key rotated during attestation, retry") from None
        return Attestation(document=document, key_id=key.key_id, document_sha256=digest)

    # -- batches -------------------------------------------------------------------------------

    def process_batch(self, envelope: bytes, document_sha256: bytes) -> tuple[BatchHeader, bytes]:
        """Open, check, infer and seal the reply; return the request header and the sealed reply.

        The batch id is committed to the key's replay cache only once the reply is sealed: a backend
        failure leaves nothing behind, so the client's retry of the same batch is processed.
        """
        key, opened = self._open(envelope, document_sha256)
        header, plaintext, reply_secret = opened
        self._check_header(header)
        try:
            self.keyring.begin_batch(key, header)
        except ReplayError:
            raise ServiceError(409, "replay", "this batch id was already answered under this key") from None
        except InFlightError:
            raise ServiceError(409, "in-flight", "this batch id is being processed, retry later") from None
        except (UnknownKeyError, KeyExhaustedError):
            raise ServiceError(409, "reattest", REATTEST_MESSAGE) from None
        committed = False
        try:
            task, records = self._records(plaintext, header)
            del plaintext
            try:
                results = run_task(self.backend, task, records)
            except TaskInputError as exc:
                raise ServiceError(400, "bad-payload", f"task {task.kind}: {exc}") from None
            except BackendError as exc:
                raise ServiceError(502, "backend-failed", str(exc)) from None
            if len(results) != len(records):
                raise ServiceError(500, "backend-failed", "backend returned the wrong number of results")
            # The reply secret comes from the batch's session secret: only we (who opened it) can seal this.
            reply = seal_reply(header, canonical_json({"results": results}), reply_secret)
            committed = True
        finally:
            self.keyring.finish_batch(key, header.batch_id, committed=committed)
        logger.debug("batch %s: %d records processed under key %s", header.batch_id, len(records), key.key_id)
        return header, reply

    def _open(self, envelope: bytes, document_sha256: bytes) -> tuple[EnclaveKey, OpenedBatch]:
        """Open with the key registered for the document; for a document the registry has forgotten
        (or never issued), try the live keys: only the right key and digest authenticate."""
        try:
            key, opener = self.keyring.opener_for(document_sha256)
        except UnknownKeyError:
            return self._open_with_live_keys(envelope, document_sha256)
        try:
            with key.open_lock:
                return key, opener.open(envelope)
        except HeaderFieldError as exc:
            raise ServiceError(400, "bad-header", f"envelope header refused: {exc}") from None
        except EnvelopeError as exc:
            raise ServiceError(400, "bad-envelope", f"envelope refused: {exc}") from None

    def _open_with_live_keys(self, envelope: bytes, document_sha256: bytes) -> tuple[EnclaveKey, OpenedBatch]:
        if len(document_sha256) != DOCUMENT_DIGEST_LEN:
            raise ServiceError(409, "reattest", REATTEST_MESSAGE)
        for key in self.keyring.live_keys():
            try:
                return key, BatchOpener(key.private_key, document_sha256, cache_size=0).open(envelope)
            except HeaderFieldError as exc:  # the header is the same whichever key we try
                raise ServiceError(400, "bad-header", f"envelope header refused: {exc}") from None
            except EnvelopeError:
                continue
        raise ServiceError(409, "reattest", REATTEST_MESSAGE)

    def _check_header(self, header: BatchHeader) -> None:
        """Checks on the authenticated header, before any work is spent on the payload."""
        if header.policy_hash not in self.config.allowed_policy_hashes:
            raise ServiceError(403, "policy-not-allowed", "the batch's policy hash is not in the allow list")
        if header.region != self.config.region:
            raise ServiceError(
                403, "region-not-allowed", f"this enclave serves region {self.config.region!r}"
            )
        if header.created_at > self._clock() + self.config.max_clock_skew:
            raise ServiceError(400, "bad-header", "header created_at is too far in the future")
        if header.record_count > self.config.max_records:
            raise ServiceError(
                413, "too-many-records", f"at most {self.config.max_records} records per batch"
            )

    def _records(self, plaintext: bytes, header: BatchHeader) -> tuple[Task, list[Any]]:
        if json_depth_exceeds(plaintext, self.config.max_payload_depth):
            raise ServiceError(
                400, "too-deep", f"batch plaintext nests deeper than {self.config.max_payload_depth} levels"
            )
        try:
            payload = json.loads(plaintext)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ServiceError(400, "bad-payload", "batch plaintext is not JSON") from None
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list):
            raise ServiceError(400, "bad-payload", 'batch plaintext must be {"records": [...]}')
        task = self._task(payload.get("task"))
        if len(records) != header.record_count:
            raise ServiceError(
                400, "bad-payload", f"header says {header.record_count} records, payload holds {len(records)}"
            )
        if len(records) > self.config.max_records:
            raise ServiceError(
                413, "too-many-records", f"at most {self.config.max_records} records per batch"
            )
        return task, records

    def _task(self, spec: Any) -> Task:
        """The batch's task (inside the sealed payload, so authenticated); none means ``analyze``."""
        try:
            task = Task(ANALYZE) if spec is None else parse_task(spec)
        except TaskError as exc:
            raise ServiceError(400, "bad-task", str(exc)) from None
        if task.kind not in self.allowed_tasks:
            raise ServiceError(
                403, "task-not-allowed",
                f"this enclave runs only the tasks {', '.join(sorted(self.allowed_tasks))}, not {task.kind}",
            )
        reason = unsupported_reason(self.backend, task)
        if reason is not None:
            raise ServiceError(403, "task-not-allowed", f"{reason} (this enclave runs {self.backend.name})")
        return task
