"""Client of the confidential inference service: attest, verify, seal, send, open (no Beam import).

Protocol: fetch ``/v1/config``; attest with a fresh nonce; verify the document (chain to the trusted
root, age, measurement policy, nonce) and that its ``user_data`` is the SHA-256 of that config; check
that the attested config accepts our policy hash and serves the region we expect. Only then are
batches sealed (HPKE to the attested key, header bound to the document digest) and POSTed. A reply
is accepted only if it authenticates under the batch's reply secret, which only the enclave that
opened the batch can derive (see :mod:`.envelope`): the host in between cannot forge one.

:meth:`EnclaveClient.send` is what the pipeline uses. It keeps one verified session per enclave key,
and for one batch:

* retries 5xx answers, timeouts and connection errors with the shared jittered backoff
  (:mod:`redactline.connectors.retry`), re-sending the very same envelope (same batch id). The enclave
  commits a batch id only once it has sealed the reply, so a retry after a failure (a backend 502:
  nothing sealed) is processed normally, while a reply lost on the way back can never get the batch
  processed twice: the enclave refuses the repeat with 409 ``replay`` (``enclave_replay``). A 409
  ``in-flight`` (an earlier attempt is still being processed) and a 429 (attestation rate limit,
  honouring ``Retry-After``) are retried like a 5xx;
* on 409 ``reattest`` (the enclave restarted or rotated its key) verifies a fresh attestation and
  re-seals the batch, still under the same batch id;
* raises :class:`BatchFailed` (with a reason code for the quarantine) when the batch cannot be
  delivered, and :class:`AttestationRejected` when a new attestation does not verify: the caller must
  stop sending then.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from redactline.connectors import retry as shared_retry
from redactline.connectors.records import to_json_value

from .attestation import NitroAttestationVerifier
from .envelope import BatchHeader, BatchSealer, EnvelopeError, enclave_public_key_from_attestation, open_reply
from .errors import AttestationError
from .evidence_log import check_chain_region
from .measurement import ExpectedUserData, policy_from_mapping
from .protocol import ATTESTATION_HEADER, ATTESTATION_PATH, BATCHES_PATH, CONFIG_PATH, configuration_digest
from .trust import trust_root_from_pem
from .verified import VerifiedAttestation
from .verify_any import NitroPinnedVerifier, PinnedTeeVerifier, TeeMismatch, VerifyOptions

logger = logging.getLogger(__name__)

# Reason codes for records of a batch that could not be delivered (quarantine and manifest count them).
ENCLAVE_UNAVAILABLE = "enclave_unavailable"  # 5xx / timeouts / connection errors after every retry
ENCLAVE_REFUSED = "enclave_refused"  # a 4xx refusal of this batch (too large, bad payload, ...)
ENCLAVE_REPLAY = "enclave_replay"  # a retry found the batch already answered: its reply was lost
ENCLAVE_BAD_REPLY = "enclave_bad_reply"  # the reply did not open or did not match the batch


class ServiceRefused(Exception):
    """The service answered with an error status; ``code`` is its JSON error code."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.retry_after = retry_after  # seconds, when the service sent Retry-After


class AttestationRejected(Exception):
    """The enclave's attestation (or its attested configuration) is not acceptable: send nothing.

    ``tee_mismatch`` is ``(evidence type, pinned type)`` when the evidence was of another TEE type.
    """

    def __init__(self, message: str, tee_mismatch: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.tee_mismatch = tee_mismatch


class BatchFailed(Exception):
    """One batch could not be delivered; ``reason`` is a quarantine reason code, the message PII-free."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RetryPolicy(shared_retry.RetryPolicy):
    """How hard to try one batch: the shared policy (``attempts`` in all, full-jitter backoff doubling
    from ``backoff`` seconds, injectable ``sleep``/``rng``) plus the enclave's request ``timeout`` and
    how many re-attestations one batch may cause."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    timeout: float = 30.0
    max_reattestations: int = 2


@dataclass(frozen=True)
class EnclaveTrust:
    """What a client trusts, in a picklable form (Beam ships it to workers).

    ``root_pem`` None means the pinned AWS Nitro root. Any other root is only accepted with
    ``allow_unsafe_root`` (the simulator's test root). ``pcr_policy`` is the parsed PCR policy mapping
    (see :mod:`.measurement`); None leaves measurements unchecked, which only the simulator allows.
    """

    root_pem: bytes | None = None
    allow_unsafe_root: bool = False
    pcr_policy: dict[Any, Any] | None = None
    max_age_seconds: float = 300.0
    # The TEE type the client pins (nitro, sev-snp, tdx); evidence of another type is refused.
    tee: str = "nitro"
    allow_tcb_unknown: bool = False
    # ``sha256:<hex>`` the attested configuration's model_digest must equal (None: any model).
    model_digest: str | None = None

    def verifier(self) -> NitroPinnedVerifier | PinnedTeeVerifier:
        root = None
        if self.root_pem is not None:
            root = trust_root_from_pem(self.root_pem)
            if root.unsafe and not self.allow_unsafe_root:
                raise AttestationRejected(
                    "the enclave root is not the AWS Nitro root; a simulator's root needs the explicit "
                    "--unsafe-allow-simulated flag"
                )
        if self.pcr_policy is None and not (root is not None and root.unsafe):
            raise AttestationRejected("a real enclave needs a PCR policy (--pcr-policy FILE)")
        policy = None if self.pcr_policy is None else policy_from_mapping(self.pcr_policy, "--pcr-policy")
        if self.tee != "nitro":
            return PinnedTeeVerifier(VerifyOptions(
                tee=self.tee, root=root, policy=policy, allow_tcb_unknown=self.allow_tcb_unknown
            ))
        return NitroPinnedVerifier(NitroAttestationVerifier(
            root=root, policy=policy, max_age=dt.timedelta(seconds=self.max_age_seconds)
        ))


@dataclass
class Session:
    """A verified attestation plus what the client derived from it."""

    verified: VerifiedAttestation
    key_id: str
    config: dict[str, Any]
    sealer: BatchSealer

    @property
    def region(self) -> str:
        return str(self.config.get("region"))


@dataclass
class SealedBatch:
    """One sealed batch and what opening its reply needs (kept until the reply is open).

    ``reply_key`` is the batch's own X25519 reply key; ``reply_secret`` is derived from the batch's
    session secret, so only the enclave that opened this batch can seal a reply that opens here.
    """

    envelope: bytes
    header: BatchHeader
    reply_key: x25519.X25519PrivateKey = field(repr=False)
    reply_secret: bytes = field(repr=False)
    session: Session = field(repr=False)

    def open_reply(self, reply: bytes) -> bytes:
        """The reply's plaintext; :class:`EnvelopeError` unless this batch's enclave sealed it."""
        return open_reply(reply, self.reply_key, self.header, self.reply_secret)


@dataclass
class ClientStats:
    """Counters of one client (summed into the run manifest by the pipeline)."""

    attestations: int = 0
    reattestations: int = 0
    retries: int = 0


class EnclaveClient:
    """Talks to one service; ``verifier`` decides which roots and measurements are trusted.

    ``policy_hash`` / ``region`` / ``model_digest``, when given, are checked against the attested
    configuration at every attestation: the enclave must accept this policy, serve this region and run
    this model (and, with ``task_kind``, allow that task), or nothing is sent. A real Nitro document's
    certificate chain must name the attested region. Thread-safe: a worker may have several batches in
    flight through one client. ``on_attested(verified, document, config)`` sees every attestation that
    passed (evidence).
    """

    def __init__(
        self,
        base_url: str,
        verifier: NitroAttestationVerifier | NitroPinnedVerifier | PinnedTeeVerifier,
        *,
        retry: RetryPolicy | None = None,
        policy_hash: str | None = None,
        region: str | None = None,
        timeout: float | None = None,
        model_digest: str | None = None,
        on_attested: Any = None,
        task_kind: str | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=base_url, timeout=timeout or self.retry.timeout)
        self._verifier = verifier
        self._policy_hash = policy_hash
        self._region = region
        self._model_digest = model_digest
        self._on_attested = on_attested  # called with (verified, raw document, config) per attestation
        self._task_kind = task_kind
        # Batches may be in flight from several threads: sealing (the sealer's session counter) and
        # (re-)attesting are serialised; HTTP requests themselves run concurrently.
        self._lock = threading.RLock()
        self.session: Session | None = None
        self.stats = ClientStats()

    # -- attestation ---------------------------------------------------------------------------

    def attest(self) -> Session:
        """Fetch the config, attest with a fresh nonce, verify everything, start a sealing session.

        Raises :class:`AttestationRejected` when the document or the configuration is not acceptable,
        and ``httpx`` errors when the service cannot be reached.
        """
        config = self._http.get(CONFIG_PATH).raise_for_status().json()
        nonce = os.urandom(32)
        answer = self._http.post(ATTESTATION_PATH, json={"nonce": nonce.hex()}).raise_for_status().json()
        try:
            document = base64.b64decode(answer["document"])
            verified = self._verifier.verify(document, expected_nonce=nonce)
            ExpectedUserData(configuration_digest(config)).verify(verified)
            check_chain_region(verified, config.get("region"))
        except TeeMismatch as exc:
            raise AttestationRejected(
                f"attestation failed: {exc.reason}", (exc.evidence_tee, exc.pinned_tee)
            ) from None
        except (AttestationError, KeyError, ValueError, TypeError) as exc:
            raise AttestationRejected(f"attestation failed: {_reason(exc)}") from None
        self._check_config(config)
        if self._on_attested is not None:
            self._on_attested(verified, document, config)
        sealer = BatchSealer(enclave_public_key_from_attestation(verified), verified.document_sha256)
        self.session = Session(verified=verified, key_id=str(answer["key_id"]), config=config, sealer=sealer)
        self.stats.attestations += 1
        logger.info("enclave attested: key %s, region %s", self.session.key_id, config.get("region"))
        return self.session

    def _check_config(self, config: dict[str, Any]) -> None:
        if self._policy_hash is not None and self._policy_hash not in config.get("allowed_policy_hashes", []):
            raise AttestationRejected(
                f"the attested enclave does not accept policy {self._policy_hash[:12]}... "
                "(not in its allowed_policy_hashes)"
            )
        if self._model_digest is not None and config.get("model_digest") != self._model_digest:
            raise AttestationRejected(
                f"the attested enclave runs model digest {config.get('model_digest')!r}, "
                f"pinned {self._model_digest!r}"
            )
        if self._task_kind is not None and self._task_kind not in config.get("allowed_tasks", ["analyze"]):
            raise AttestationRejected(
                f"the attested enclave does not run task {self._task_kind!r} "
                f"(its allowed_tasks: {', '.join(config.get('allowed_tasks', ['analyze']))})"
            )
        if self._region is not None and config.get("region") != self._region:
            raise AttestationRejected(
                f"the attested enclave serves region {config.get('region')!r}, expected {self._region!r}"
            )

    # -- one attempt -----------------------------------------------------------------------------

    def seal(
        self, records: list[Any], *, policy_hash: str, region: str, batch_id: str | None = None,
        task: dict[str, Any] | None = None,
    ) -> SealedBatch:
        """Seal ``records`` for the current session (attesting first if there is none).

        ``task`` (a task's wire form, :meth:`~.tasks.Task.wire`) is sealed with the records; None
        leaves it out (the service's ``analyze``, as before tasks existed).
        """
        with self._lock:
            session = self.session or self.attest()
        reply_key = x25519.X25519PrivateKey.generate()
        header = BatchHeader(
            batch_id=batch_id or os.urandom(12).hex(),
            policy_hash=policy_hash,
            region=region,
            record_count=len(records),
            reply_public_key=reply_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            ),
            created_at=dt.datetime.now(dt.UTC),
        )
        # kept values such as dates or decimals travel in the sources' one JSON form (ISO 8601, exact text)
        body: dict[str, Any] = {"records": records} if task is None else {"task": task, "records": records}
        payload = json.dumps(
            body, separators=(",", ":"), ensure_ascii=False, default=to_json_value
        ).encode("utf-8")
        with self._lock:
            envelope, reply_secret = session.sealer.seal(header, payload)
        return SealedBatch(envelope, header, reply_key, reply_secret, session)

    def post_envelope(self, envelope: bytes, document_sha256: bytes | None = None) -> bytes:
        """POST a sealed envelope once; return the sealed reply or raise :class:`ServiceRefused`."""
        digest = document_sha256 or (self.session.verified.document_sha256 if self.session else b"")
        response = self._http.post(
            BATCHES_PATH,
            content=envelope,
            headers={"content-type": "application/octet-stream", ATTESTATION_HEADER: digest.hex()},
        )
        if response.status_code != 200:
            try:
                err = response.json()
            except ValueError:
                err = {}
            if not isinstance(err, dict):
                err = {}
            raise ServiceRefused(
                response.status_code,
                str(err.get("error", "unknown")),
                str(err.get("message", ""))[:200],
                shared_retry.parse_retry_after(response.headers),
            )
        return response.content

    def process(self, records: list[Any], *, policy_hash: str, region: str) -> list[dict[str, Any]]:
        """Seal, send once, open: the results for ``records`` (no retries; see :meth:`send`)."""
        sealed = self.seal(records, policy_hash=policy_hash, region=region)
        return json.loads(sealed.open_reply(self.post_envelope(sealed.envelope)))["results"]

    # -- the pipeline's path ----------------------------------------------------------------------

    def send(
        self, records: list[Any], *, policy_hash: str, region: str, batch_id: str,
        task: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Deliver one batch with retries and re-attestation (see the module docstring)."""
        sealed: SealedBatch | None = None
        reattested = 0
        failures = 0
        last = "no attempt made"
        while True:
            retry_after: float | None = None
            try:
                if sealed is None:
                    sealed = self._seal_or_fail(records, policy_hash, region, batch_id, task)
                reply = self.post_envelope(sealed.envelope, sealed.session.verified.document_sha256)
                return self._open(reply, sealed, len(records))
            except ServiceRefused as exc:
                if exc.code == "reattest" and reattested < self.retry.max_reattestations:
                    reattested += 1
                    with self._lock:
                        # another thread's batch may have re-attested already: one new session for all
                        if self.session is None or self.session is sealed.session:
                            self.stats.reattestations += 1
                            self._reattest()
                    sealed = None
                    continue
                if exc.code == "replay":  # committed: the enclave sealed a reply we never received
                    raise BatchFailed(
                        ENCLAVE_REPLAY, f"batch {batch_id} was already answered by the enclave (reply lost)"
                    ) from None
                retryable = shared_retry.is_retryable_status(exc.status) or exc.code in ("retry", "in-flight")
                if not retryable:
                    raise BatchFailed(ENCLAVE_REFUSED, f"enclave refused batch {batch_id}: {exc}") from None
                last = f"HTTP {exc.status} {exc.code}"
                retry_after = exc.retry_after
            except httpx.HTTPStatusError as exc:  # from /v1/config or /v1/attestation
                status = exc.response.status_code
                if not shared_retry.is_retryable_status(status):
                    raise BatchFailed(
                        ENCLAVE_REFUSED, f"attestation request refused with HTTP {status}"
                    ) from None
                last = f"HTTP {status} during attestation"
                retry_after = shared_retry.parse_retry_after(exc.response.headers)
            except httpx.TransportError as exc:
                last = type(exc).__name__
            failures += 1
            if failures >= self.retry.attempts:
                raise BatchFailed(
                    ENCLAVE_UNAVAILABLE, f"batch {batch_id}: {failures} attempts failed, last: {last}"
                )
            with self._lock:
                self.stats.retries += 1
            self.retry.pause(self.retry.delay(failures, retry_after))

    def _seal_or_fail(
        self, records: list[Any], policy_hash: str, region: str, batch_id: str, task: dict[str, Any] | None
    ) -> SealedBatch:
        try:
            return self.seal(records, policy_hash=policy_hash, region=region, batch_id=batch_id, task=task)
        except EnvelopeError as exc:  # e.g. over the envelope's size limit
            raise BatchFailed(ENCLAVE_REFUSED, f"batch {batch_id} cannot be sealed: {exc}") from None

    def _reattest(self) -> None:
        """A new enclave key: verify a fresh attestation (retrying transport errors like batches do)."""
        self.session = None
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            try:
                self.attest()
                return
            except httpx.HTTPStatusError as exc:
                if attempt == self.retry.attempts:
                    raise
                retry_after = shared_retry.parse_retry_after(exc.response.headers)  # a 429 says when
            except httpx.TransportError:
                if attempt == self.retry.attempts:
                    raise
            self.retry.pause(self.retry.delay(attempt, retry_after))

    def _open(self, reply: bytes, sealed: SealedBatch, expected: int) -> list[Any]:
        batch_id = sealed.header.batch_id
        try:
            results = json.loads(sealed.open_reply(reply))["results"]
        except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
            raise BatchFailed(ENCLAVE_BAD_REPLY, f"reply to batch {batch_id}: {_reason(exc)}") from None
        if not isinstance(results, list) or len(results) != expected:
            raise BatchFailed(ENCLAVE_BAD_REPLY, f"reply to batch {batch_id} has the wrong count")
        return results

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EnclaveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or type(exc).__name__)
