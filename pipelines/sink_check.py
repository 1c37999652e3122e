"""The delivery step of a run: write rows with a sink and keep what the sink could not take.

A sink never fails the run on one record: a file sink returns the rows it rejected
(``sink_type_error``, see :mod:`redactline.connectors.file_sinks`), and :class:`Deliver` hands them to
the run's quarantine. Only the rows the sink accepted count as delivered (or held), so
``read == delivered + held + quarantined`` still holds when the sink refuses a record.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

DELIVERED, REJECTED = "delivered", "rejected"


class Deliver(beam.PTransform):
    """Apply ``sink`` to rows; returns ``{"delivered": rows accepted, "rejected": Rejected}``.

    A sink that reports (returns a dict with ``delivered`` and ``rejected``) is taken at its word; any
    other sink (PostgreSQL) is taken to accept every row it does not fail on.
    """

    def __init__(self, sink: beam.PTransform) -> None:
        super().__init__()
        self._sink = sink

    def expand(self, rows: beam.PCollection) -> dict[str, Any]:
        result = rows | "Write" >> self._sink
        if isinstance(result, dict) and DELIVERED in result and REJECTED in result:
            return {DELIVERED: result[DELIVERED], REJECTED: result[REJECTED]}
        return {DELIVERED: rows, REJECTED: rows.pipeline | "NoRejected" >> beam.Create([])}
