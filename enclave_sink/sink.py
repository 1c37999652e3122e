"""What the enclave stage's workers share with the driver: destination, batch ids, sending, lineage.

The stage itself is a Beam RunInference model handler
(:mod:`redactline.pipelines.destinations.enclave_inference`); this module keeps the Beam-free parts it
uses: :class:`EnclaveDestination` (everything a worker needs, picklable, no key material),
:func:`batch_id_for` (a deterministic batch id: SHA-256 of the run id and the records' source
references, so a retried bundle re-sends the same id and the enclave's replay cache stops double
processing), :func:`send_or_stop` (one sealed batch with retries and re-attestation; an attestation that
stops verifying raises :class:`EnclaveStopped` and the run fails), :func:`enclave_lineage` and the
driver's :func:`preflight`.

The stage's outputs (a dict) use :data:`RESULTS`, :data:`REJECTED` and :data:`STATS` (``(name, n)``
pairs: ``sealed_batches``, ``records_sent``, ``results_received``, ``failed_batches``, ``retries``,
``reattestations``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .client import AttestationRejected, EnclaveClient, EnclaveTrust, RetryPolicy

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


def batch_id_for(run_id: str, items: list[Any]) -> str:
    """Deterministic batch id: the same records of the same run always get the same id."""
    digest = hashlib.sha256(run_id.encode("utf-8"))
    for item in items:
        digest.update(b"\x00" + item.meta.source.encode("utf-8") + b"\x01" + item.meta.ref.encode("utf-8"))
    return "b" + digest.hexdigest()[:40]


class EnclaveStopped(RuntimeError):
    """The enclave's attestation stopped verifying: the run must fail, never quarantine and go on."""


def send_or_stop(client: EnclaveClient, dest: EnclaveDestination, payloads: list[Any], batch_id: str,
                 task: dict[str, Any] | None = None) -> list[Any]:
    """Send one batch; an attestation that stopped verifying stops the run (never a fallback)."""
    assert dest.region is not None
    try:
        return client.send(payloads, policy_hash=dest.policy_sha256, region=dest.region, batch_id=batch_id,
                           task=task)
    except AttestationRejected as exc:
        # Never fall back to anything: the run stops, the manifest check fails, exit code 1.
        raise EnclaveStopped(f"enclave attestation no longer verifies: {exc}") from None


def enclave_lineage(client: EnclaveClient, region: str | None) -> dict[str, Any]:
    """The ``enclave`` lineage entry: region, key id and the attestation document the batch went to."""
    session = client.session
    return {
        "region": region,
        "key_id": session.key_id if session else None,
        "document_sha256": session.verified.document_sha256.hex() if session else None,
    }


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
