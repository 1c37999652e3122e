"""Wire constants shared by the enclave service and its clients (no heavy imports on either side)."""

from __future__ import annotations

ATTESTATION_HEADER = "x-redactline-attestation"  # hex SHA-256 of the document a batch was sealed against
CONFIG_DIGEST_HEADER = "X-Redactline-Config-Sha256"

CONFIG_PATH = "/v1/config"
ATTESTATION_PATH = "/v1/attestation"
BATCHES_PATH = "/v1/batches"
HEALTH_PATH = "/healthz"
