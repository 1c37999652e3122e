"""The lineage key: where a record's run metadata travels beside the user's fields.

Pipelines add ``{"_redactline": {policy, version, sha256, run_id, ...}}`` to each output record; every
consumer that needs the user's fields alone (prompts, the enclave payload, policy tests) strips it here.
An input that already uses the key is refused by the pipeline (reason ``reserved_field``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The reserved top-level field holding lineage metadata; never a user field.
LINEAGE_KEY = "_redactline"


def strip_lineage(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's user fields: a copy without the lineage key."""
    return {k: v for k, v in record.items() if k != LINEAGE_KEY}


def with_lineage(fields: Mapping[str, Any], lineage: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``fields`` carrying ``lineage`` (a fresh dict) under the lineage key."""
    out = dict(fields)
    out[LINEAGE_KEY] = dict(lineage)
    return out


def held_reason(record: Mapping[str, Any]) -> str:
    """The reason code a held record carries in its lineage (for counting)."""
    return record[LINEAGE_KEY]["held"]["reason"]
