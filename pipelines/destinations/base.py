"""The Destination interface: one object with a driver face (``preflight``) and a Beam face (``stage``).

Three implementations sit beside this module: :mod:`.plain` (redacted records to ``--sink``),
:mod:`.llm` (sanitized prompts to an external LLM API, answers re-identified locally) and
:mod:`.enclave` (redacted records sealed for an attested enclave). :func:`.resolve.resolve_destination`
turns ``--destination`` into one of them, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import apache_beam as beam

from redactline.policies.residency import ResidencyConfig

from ..redact import EngineFactory

# The outputs of every destination stage (a dict of PCollections with exactly these keys).
DELIVERED = "delivered"  # plain dicts for --sink: redacted records, LLM answers or enclave results
HELD = "held"  # redacted records held back, ``_redactline.held.reason`` says why
REJECTED = "rejected"  # Rejected records for the sealed quarantine
ENTITIES = "entities"  # (entity_type, n) pairs
DESTINATION = "destination"  # (key, n) counts for the manifest's destination section (empty for plain)
OUTPUTS = (DELIVERED, HELD, REJECTED, ENTITIES, DESTINATION)


class DestinationConfigError(ValueError):
    """Bad destination flags or settings (exit code 2); the message names the flag or file."""


class DestinationPreflightError(RuntimeError):
    """The destination could not be reached or verified (exit code 1); nothing was read or sent."""


@dataclass(frozen=True)
class JobContext:
    """What every destination stage takes from the run: picklable, free of key material."""

    run_id: str
    policy_path: str
    policy_sha256: str
    lineage: dict[str, Any]  # added to every output record under ``_redactline``
    residency: ResidencyConfig | None  # the policy's residency rules (None: no constraints)
    engine_factory: EngineFactory  # builds the redaction engine on the worker
    batch_size: int  # records per engine call


class Destination(Protocol):
    """Where redacted records go. ``preflight`` runs once on the driver, before ``stage`` is built."""

    def preflight(self) -> dict[str, Any] | None:
        """Verify, attest, check keys and regions; the result is the manifest's ``destination`` section.

        Raises :class:`DestinationConfigError` or :class:`DestinationPreflightError`.
        """
        ...

    def stage(self) -> beam.PTransform:
        """Prepared records in; a dict with the keys of :data:`OUTPUTS` out. Does no I/O when built."""
        ...
