"""What the enclave service and its clients must agree on, in one module both import (no heavy imports,
nothing from ``server/``): wire paths and headers, and the digest of the attested configuration.

The service renders the attested part of its configuration as a plain JSON object (served in clear at
``GET /v1/config``, labelled :data:`CONFIG_DIGEST_LABEL`) and puts :func:`configuration_digest` of it
into the attestation document's ``user_data``; a client recomputes the digest from ``/v1/config`` and
so knows which model and policies the attested enclave will apply.
"""

from __future__ import annotations

import hashlib
import json
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
