"""Attestation evidence of a run: recorded when a client verifies an enclave, kept in the manifest,
re-verified later by ``redactline enclave verify --manifest``.

An evidence entry holds the verified document itself (base64), its SHA-256, the TEE type, the
measurements (PCRs for Nitro), the attested configuration with its digest and model digest, the
region of the Nitro certificate chain, and when the client verified it. The driver's preflight and
every worker attest separately (fresh nonces), so a run has one entry per distinct attestation.

Workers hand their entries to the pipeline through a per-process registry (:func:`record`,
:func:`recorded`): the client records each attestation it verified, and the stage step that reads
the results (fused with the send step, so in the same process) looks the document up by its digest.

The region check (:func:`check_chain_region`): a real Nitro document's leaf certificate is issued
for one AWS region (``i-...-enc....us-east-1.aws``); the region the service attests in its
configuration must be that region, or the evidence is refused. Simulated roots carry no region.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.x509.oid import NameOID

from .errors import AttestationError
from .measurement import ExpectedUserData
from .protocol import configuration_digest
from .verified import TEE_NITRO, VerifiedAttestation

EVIDENCE_VERSION = 1
# <instance>-<enclave>.<region>.aws (leaf) or <id>.<region>.aws.nitro-enclaves (intermediates)
_AWS_REGION = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.aws(?:\.nitro-enclaves)?$")

_registry: dict[str, dict[str, Any]] = {}
_registry_lock = threading.Lock()
_REGISTRY_LIMIT = 1024  # attestations remembered per process (a long run re-attests on key rotation)


def chain_region(verified: VerifiedAttestation) -> str | None:
    """The AWS region named by a Nitro document's leaf certificate, or None (other TEEs, simulators)."""
    if verified.tee != TEE_NITRO:
        return None
    names = verified.leaf_certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    for name in names:
        match = _AWS_REGION.search(str(name.value))
        if match:
            return match.group(1)
    return None


def check_chain_region(verified: VerifiedAttestation, attested_region: Any) -> None:
    """For a real Nitro document: the attested region must be the one its certificate chain names."""
    if verified.tee != TEE_NITRO or verified.trusted_root_unsafe:
        return
    region = chain_region(verified)
    if region is None:
        raise AttestationError("region: the Nitro certificate chain names no AWS region")
    if attested_region != region:
        raise AttestationError(
            f"region: the service attests region {attested_region!r} but its Nitro certificate chain "
            f"was issued in {region!r}"
        )


def evidence_entry(verified: VerifiedAttestation, document: bytes, config: dict[str, Any]) -> dict[str, Any]:
    """The JSON entry that keeps one verified attestation (no record data: only what was attested)."""
    entry: dict[str, Any] = {
        "evidence_version": EVIDENCE_VERSION,
        "tee": verified.tee,
        "document_sha256": hashlib.sha256(document).hexdigest(),
        "document_b64": base64.b64encode(document).decode("ascii"),
        "document_timestamp": verified.timestamp.isoformat(),
        "verified_at": dt.datetime.now(dt.UTC).isoformat(),
        "measurements": {name: value.hex() for name, value in sorted(verified.measurements.items())},
        "config": config,
        "config_sha256": configuration_digest(config).hex(),
        "model_digest": config.get("model_digest"),
        "region": config.get("region"),
        "chain_region": chain_region(verified),
        "unsafe_root": verified.trusted_root_unsafe,
    }
    if verified.tee == TEE_NITRO:
        entry["module_id"] = verified.module_id
        entry["pcrs"] = {str(i): value.hex() for i, value in sorted(verified.pcrs.items())}
    return entry


def record(verified: VerifiedAttestation, document: bytes, config: dict[str, Any]) -> dict[str, Any]:
    """Remember a verified attestation in this process (the client's ``on_attested`` hook)."""
    entry = evidence_entry(verified, document, config)
    with _registry_lock:
        if len(_registry) >= _REGISTRY_LIMIT:
            _registry.pop(next(iter(_registry)))
        _registry[entry["document_sha256"]] = entry
    return entry


def recorded(document_sha256: str) -> dict[str, Any] | None:
    """The entry this process recorded for a document digest (hex), if any."""
    with _registry_lock:
        return _registry.get(document_sha256)


def merge_evidence(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per document digest (record counts added up), ordered by verification time."""
    merged: dict[str, dict[str, Any]] = {}
    for group in groups:
        for entry in group:
            digest = entry["document_sha256"]
            if digest in merged:
                kept = merged[digest]
                kept["records"] = kept.get("records", 0) + entry.get("records", 0)
                kept["roles"] = sorted(set(kept.get("roles", [])) | set(entry.get("roles", [])))
            else:
                merged[digest] = dict(entry)
    return sorted(merged.values(), key=lambda e: (e.get("verified_at") or "", e["document_sha256"]))


@dataclass(frozen=True)
class EvidenceCheck:
    """The outcome of re-verifying one manifest entry; ``reason`` is empty when it passed."""

    document_sha256: str
    tee: str
    verified_at: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def reverify(entry: dict[str, Any], options: Any) -> EvidenceCheck:
    """Re-verify one entry at the time it was verified (``options``: a ``VerifyOptions`` whose clock
    is replaced): signature, chain, measurements, the digest, the configuration binding, the model
    digest and the Nitro chain's region."""
    from .verify_any import verify_evidence  # the verifiers are heavy; the registry is not

    digest = str(entry.get("document_sha256", ""))
    tee = str(entry.get("tee", "?"))
    when = str(entry.get("verified_at") or "")
    try:
        if not entry.get("document_b64"):
            raise AttestationError("evidence: the manifest does not keep this document")
        document = base64.b64decode(entry["document_b64"], validate=True)
        if hashlib.sha256(document).hexdigest() != digest:
            raise AttestationError("evidence: the document does not hash to its recorded digest")
        at = dt.datetime.fromisoformat(when)
        verified = verify_evidence(
            document, _at(options, at), expected_nonce=None
        )
        config = entry.get("config")
        if not isinstance(config, dict):
            raise AttestationError("evidence: no attested configuration recorded")
        ExpectedUserData(configuration_digest(config)).verify(verified)
        if entry.get("model_digest") != config.get("model_digest"):
            raise AttestationError("evidence: the recorded model digest is not the attested one")
        check_chain_region(verified, config.get("region"))
    except AttestationError as exc:
        return EvidenceCheck(digest, tee, when, exc.reason)
    except (ValueError, TypeError, binascii.Error) as exc:
        return EvidenceCheck(digest, tee, when, f"evidence: malformed entry ({type(exc).__name__})")
    return EvidenceCheck(digest, verified.tee, when)


def _at(options: Any, when: dt.datetime) -> Any:
    import dataclasses

    moment = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return dataclasses.replace(options, clock=lambda: moment)
