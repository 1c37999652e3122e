"""What the enclave service and its clients must agree on, in one module both import (no heavy imports,
nothing from ``server/``): wire paths and headers, and the digest of the attested configuration.

The service renders the attested part of its configuration as a plain JSON object (served in clear at
``GET /v1/config``, labelled :data:`CONFIG_DIGEST_LABEL`) and puts :func:`configuration_digest` of it
into the attestation document's ``user_data``; a client recomputes the digest from ``/v1/config`` and
so knows which model and policies the attested enclave will apply. Its ``model_digest`` is
``sha256:`` + 64 hex over the weight and tokenizer files the service loaded (:func:`model_digest_pin`
reads a client's pin of it).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

ATTESTATION_HEADER = "x-redactline-attestation"  # hex SHA-256 of the document a batch was sealed against
CONFIG_DIGEST_HEADER = "X-Redactline-Config-Sha256"

CONFIG_PATH = "/v1/config"
ATTESTATION_PATH = "/v1/attestation"
BATCHES_PATH = "/v1/batches"
HEALTH_PATH = "/healthz"

CONFIG_DIGEST_LABEL = "redactline/enclave-service-config/v1"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: one byte form per JSON value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def configuration_digest(attested: dict[str, Any]) -> bytes:
    """SHA-256 of :func:`canonical_json` of the attested configuration (what goes into ``user_data``)."""
    return hashlib.sha256(canonical_json(attested)).digest()


_MODEL_DIGEST = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


def model_digest_pin(text: str) -> str:
    """A pinned model digest in the attested form ``sha256:<64 hex>`` (the prefix may be left out)."""
    match = _MODEL_DIGEST.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError("a model digest is sha256:<64 hex digits> (as /v1/config publishes it)")
    return "sha256:" + match.group(1)
