"""The external-LLM destination (``--destination llm:NAME``): the policy's ``external_api`` destination.

Stage: :class:`~redactline.pipelines.llm_stage.SendToLlm` (redact, residency, egress controls, prompt,
send, re-identify, in one DoFn); its answers are the delivered records and its usage counts the
manifest's ``destination.counts``. Preflight checks on the driver that the API key variable is set
(the key itself is read again on the workers, never pickled); it contacts nothing.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from redactline.connectors.llm import LlmConfigError, settings_from_destination

from .. import llm_stage
from .base import DELIVERED, DESTINATION, ENTITIES, HELD, REJECTED, DestinationConfigError, JobContext

PREFIX = "llm:"


class ExternalLlm:
    """Send sanitized prompts to the policy's ``external_api`` destination ``name`` in ``region``."""

    def __init__(self, job: JobContext, flag: str, name: str, config: Any, region: str) -> None:
        self.job = job
        self.flag = flag  # the --destination value, for messages
        self.name = name
        self.config = config  # the policy's DestinationConfig (kind external_api)
        self.region = region  # checked; --sink-region overrides the destination's own

    def preflight(self) -> dict[str, Any] | None:
        try:
            settings_from_destination(self.config, self.name)  # names the variable if the key is unset
        except LlmConfigError as exc:
            raise DestinationConfigError(f"--destination {self.flag}: {exc}") from None
        config = self.config
        return {"kind": "external_api", "name": self.name, "provider": config.provider,
                "model": config.model, "url": config.url, "region": config.region}

    def stage(self) -> beam.PTransform:
        return _LlmStage(self.job, self.name, self.region)


class _LlmStage(beam.PTransform):
    def __init__(self, job: JobContext, name: str, region: str) -> None:
        super().__init__()
        self._send = llm_stage.SendToLlm(job.engine_factory, job.policy_path, job.policy_sha256, name,
                                         job.lineage, job.residency, region, job.batch_size)

    def expand(self, prepared: beam.PCollection) -> dict[str, beam.PCollection]:
        out = prepared | "ExternalLlm" >> self._send
        return {
            DELIVERED: out[llm_stage.RESULTS],
            HELD: out[llm_stage.HELD],
            REJECTED: out[llm_stage.REJECTED],
            ENTITIES: out[llm_stage.ENTITIES],
            DESTINATION: out[llm_stage.USAGE],
        }
