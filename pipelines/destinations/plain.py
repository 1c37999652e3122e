"""The plain destination: redacted records go to ``--sink`` in the clear (no enclave, no external API).

Stage: redact -> residency route (records whose jurisdiction may not reach ``region`` are held) ->
delivered. Nothing to verify on the driver, so ``preflight`` returns None (the manifest's
``destination`` is null).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from .. import redact, route
from .base import DELIVERED, DESTINATION, ENTITIES, HELD, REJECTED, JobContext


class PlainSink:
    """Deliver redacted records to the run's sink; ``region`` is the sink's (for residency), if known."""

    def __init__(self, job: JobContext, region: str | None) -> None:
        if job.residency is not None and region is None:
            raise ValueError("the policy has residency rules but the destination region is unknown")
        self.job = job
        self.region = region

    def preflight(self) -> dict[str, Any] | None:
        return None

    def stage(self) -> beam.PTransform:
        return _PlainStage(self.job, self.region)


class _PlainStage(beam.PTransform):
    def __init__(self, job: JobContext, region: str | None) -> None:
        super().__init__()
        self._job = job
        self._region = region

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        job = self._job
        red = prepared | "Redact" >> redact.RedactRecords(job.engine_factory, job.lineage, job.batch_size)
        routed = red[redact.REDACTED] | "Residency" >> route.RouteByResidency(job.residency, self._region)
        return {
            DELIVERED: routed[route.DELIVERED],
            HELD: routed[route.HELD],
            REJECTED: red[redact.REJECTED],
            ENTITIES: red[redact.ENTITIES],
            DESTINATION: prepared.pipeline | "NoDestinationCounts" >> beam.Create([]),
        }
