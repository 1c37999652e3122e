"""A run's OpenLineage events, from the driver: START before the pipeline, the final event after it.

:class:`RunLineage` gathers what the events say (:mod:`.lineage_events`) from the prepared run, sends
them through the configured transport (:mod:`.lineage_emit`; none: nothing is sent) and puts the final
event into the manifest (``openlineage``), so the manifest and what a lineage backend received agree.
"""

from __future__ import annotations

import json
from typing import Any

from . import lineage_events as le
from . import policy_ship
from .lineage_emit import Emitter
from .lineage_naming import for_uri


class RunLineage:
    """START and final events of one run (see the module docstring)."""

    def __init__(self, prepared: Any, runner: str, emitter: Emitter | None) -> None:
        plan = prepared.plan
        self.emitter = emitter
        self.sent: list[str] = []
        self.failed: list[str] = []
        outputs = {"delivered": plan.sink, "held": plan.held}
        self.run = le.RunDescription(
            run_id=plan.run_id,
            job_namespace=le.job_namespace(),
            job_name=plan.opts.lineage_job or f"redact.{plan.policy_identity.get('name')}",
            policy=plan.policy_identity,
            runner=runner,
            source=for_uri(plan.source.uri, plan.source.table),
            outputs={**{role: for_uri(ep.uri, ep.table) for role, ep in outputs.items()},
                     "quarantine": for_uri(plan.quarantine_path)},
            columns=le.column_rules(_policy_fields(plan), prepared.profile_info),
            # with an enclave or LLM destination the sink holds what the destination answered
            redacted_roles=("delivered", "held") if prepared.destination_info is None else ("held",),
        )

    def start(self, event_time: str) -> None:
        """Send the START event (when a transport is configured)."""
        self._send(le.start_event(self.run, event_time))

    def finish(self, manifest: dict[str, Any]) -> None:
        """Put the final event into ``manifest`` (``openlineage``), send it and close the transport."""
        event = le.final_event(self.run, manifest)
        self._send(event)  # first: the client adds its facets (tags) to the event it sends
        manifest["openlineage"] = le.as_json(event)
        if self.emitter is not None:
            self.emitter.close()
            manifest["openlineage_transport"] = {"target": self.emitter.target, "sent": self.sent,
                                                 "not_sent": self.failed}

    def abandon(self, event_time: str, reason: str) -> None:
        """End a run that stopped without a manifest (``reason``: an exception type) with a FAIL event."""
        self.finish({"state": f"FAILED ({reason})", "ended_at": event_time, "counts_status": "unavailable",
                     "check": {"holds": False, "error": "the run stopped before its manifest was written"}})

    def _send(self, event: Any) -> None:
        if self.emitter is None:
            return
        name = event.eventType.value
        (self.sent if self.emitter.emit(event) else self.failed).append(name)


def _policy_fields(plan: Any) -> dict[str, Any]:
    """The resolved policy's ``transforms.fields`` (path -> operator spec), from the shipped document."""
    shipped = policy_ship.for_path(plan.job.policy_path, plan.job.policy_sha256)
    document = json.loads(shipped.document_json)
    return dict((document.get("transforms") or {}).get("fields") or {})
