"""The residency step: deliver a redacted record, or hold it with a reason.

``RouteByResidency`` splits ``PCollection[Redacted]`` into ``delivered`` and ``held`` (both plain dicts,
ready for a sink). A held record keeps its redacted fields; ``_redactline.held`` says why
(``unknown_jurisdiction``, ``no_rule``, ``region_not_allowed``), which jurisdiction, which region, and
the source reference, so an operator can find and re-run it once the policy allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from redactline.policies.lineage import LINEAGE_KEY, with_lineage
from redactline.policies.residency import ResidencyConfig

from .redact import Redacted

DELIVERED, HELD = "delivered", "held"


class _RouteDoFn(beam.DoFn):
    def __init__(self, residency: ResidencyConfig | None, region: str | None, keep_meta: bool) -> None:
        self._residency = residency
        self._region = region
        self._keep_meta = keep_meta

    def process(self, item: Redacted) -> Iterator[Any]:
        delivered = item if self._keep_meta else item.fields
        if self._residency is None:
            yield delivered  # the policy declares no residency constraints
            return
        assert self._region is not None  # checked when the run is configured
        # Jurisdiction was resolved from the raw fields before redaction (see redact.py).
        decision = self._residency.decide(item.meta.jurisdiction, self._region)
        if decision.allowed:
            yield delivered
            return
        held = {
            "reason": decision.reason,
            "jurisdiction": decision.jurisdiction,
            "region": self._region,
            "source": item.meta.source,
            "ref": item.meta.ref,
        }
        lineage = {**item.fields.get(LINEAGE_KEY, {}), "held": held}
        yield TaggedOutput(HELD, with_lineage(item.fields, lineage))


class RouteByResidency(beam.PTransform):
    """Split redacted records into ``delivered`` / ``held`` for a destination in ``region``.

    ``delivered`` holds plain dicts, or the :class:`Redacted` items themselves with ``keep_meta`` (a
    later stage such as the enclave sink needs the source reference).
    """

    def __init__(
        self, residency: ResidencyConfig | None, region: str | None, keep_meta: bool = False
    ) -> None:
        super().__init__()
        if residency is not None and region is None:
            raise ValueError("the policy has residency rules but the destination region is unknown")
        self._residency = residency
        self._region = region
        self._keep_meta = keep_meta

    def expand(self, redacted: beam.PCollection) -> dict[str, beam.PCollection]:
        route = _RouteDoFn(self._residency, self._region, self._keep_meta)
        out = redacted | "Route" >> beam.ParDo(route).with_outputs(
            HELD, main=DELIVERED
        )
        return {DELIVERED: out[DELIVERED], HELD: out[HELD]}
