"""Type-stable outputs: the types a run's sinks give each column, from the source's types and the policy.

Decided once on the driver, before the job starts (so every worker writes the same schema, whatever
values it sees), for the plain destination, whose outputs are the source's fields redacted:

* a column the policy keeps (``transforms.fields.<name>: keep``) keeps its source type: an integer,
  timestamp or numeric column stays one in Parquet and in PostgreSQL (:mod:`~redactline.connectors.
  source_schema` lists the types restored exactly; any other kept type is typed from the data);
* a column with any other rule (replace, pseudonym, mask, hash, ... from the policy or the column
  profile) becomes a string column, and so does a column that is inspected as text: detection may
  replace any value with text, and the type must not depend on what it finds (write ``keep`` for a
  numeric column to keep its type);
* a ``drop_field`` column is left out; columns keep their source order; columns the source does not
  declare (the ``_redactline`` lineage, a renamed field name) follow, typed from the data.

The Parquet file's key-value metadata carries the policy identity (``redactline.policy``: name,
version, meaning hash). A PostgreSQL sink's key columns (``--sink-key``) are checked here too: they
must exist in the source (when it declares columns) and be kept by the policy, or an upsert key could
be rewritten and two records collide; a failure is :class:`OutputTypeError` (exit 2).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from redactline.connectors.source_schema import Column, arrow_of_postgres, parquet_columns, postgres_columns

from . import uris

log = logging.getLogger(__name__)

POLICY_METADATA_KEY = "redactline.policy"


class OutputTypeError(ValueError):
    """The sinks cannot be typed as asked (a key column missing or not kept); names the flag."""


@dataclass(frozen=True)
class SinkTypes:
    """What the sinks take: Parquet columns (name, Arrow type or None = from the data) in source order,
    the Parquet key-value metadata, and PostgreSQL column types for the columns whose type is known."""

    parquet_columns: list[tuple[str, pa.DataType | None]] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    postgres_types: dict[str, str] = field(default_factory=dict)


def source_columns(source: uris.Endpoint) -> list[Column] | None:
    """The source's declared columns (Parquet, PostgreSQL), else None; never raises for a source the
    run itself will report (unreadable file, unreachable server: a warning, then typed from data)."""
    if source.kind == "file" and source.fmt == "parquet":
        return parquet_columns(source.uri)
    if source.kind == "postgres" and source.dsn and source.table:
        from redactline.connectors.postgres import PostgresError

        try:
            return postgres_columns(source.dsn, source.table)
        except PostgresError as exc:
            log.warning("output types from the data: %s", exc)
    return None


def _rule_kind(rules: dict[str, Any], name: str) -> str:
    rule = rules.get(name)
    return "inspect" if rule is None else str(rule.type)


def plan_types(columns: list[Column] | None, rules: dict[str, Any], identity: dict[str, Any]) -> SinkTypes:
    """The sinks' types for source ``columns`` under the effective field ``rules`` (policy + profile)."""
    policy = {k: identity[k] for k in ("name", "version", "sha256") if k in identity}
    metadata = {POLICY_METADATA_KEY: json.dumps(policy, sort_keys=True)}
    if columns is None:
        return SinkTypes(parquet_columns=None, metadata=metadata)
    out: list[tuple[str, pa.DataType | None]] = []
    pg: dict[str, str] = {}
    for column in columns:
        kind = _rule_kind(rules, column.name)
        if kind == "drop_field":
            continue
        if kind == "keep":
            out.append((column.name, column.arrow))
            if column.postgres is not None and arrow_of_postgres(column.postgres) is not None:
                pg[column.name] = column.postgres
            continue
        if column.arrow is None and kind == "inspect":
            out.append((column.name, None))  # nested or untyped: inspected values keep their shape
            continue
        out.append((column.name, pa.string()))
        pg[column.name] = "text"
    return SinkTypes(parquet_columns=out, metadata=metadata, postgres_types=pg)


def check_keys(flag: str, keys: list[str], columns: list[Column] | None, rules: dict[str, Any],
               source_safe: str) -> None:
    """A PostgreSQL sink's upsert ``keys`` exist in the source (when it declares columns) and are kept."""
    names = None if columns is None else {c.name for c in columns}
    for key in keys:
        if names is not None and key not in names:
            raise OutputTypeError(f"{flag} {key}: the source {source_safe} has no column {key!r} "
                                  "(name an existing key column with --sink-key)")
        kind = _rule_kind(rules, key)
        if kind != "keep":
            how = "inspected as text" if kind == "inspect" else f"transformed by {kind}"
            raise OutputTypeError(
                f"{flag} {key}: the policy does not keep the key column {key!r} (it is {how}, so its "
                f"values could change and rows collide); add '{key}: keep' under transforms.fields")


def effective_rules(document_json: str, profile: Any) -> dict[str, Any]:
    """The field rules the workers' engine applies: the policy's, plus the profile's whole-field rules
    for fields the policy does not name."""
    from redactline.policies.schema import PolicyDocument

    transforms = PolicyDocument.model_validate(json.loads(document_json)).transforms
    extra = profile.rules(transforms) if profile is not None else {}
    return {**extra, **transforms.fields}



def _plain(plan: Any) -> bool:
    from .destinations.plain import PlainSink

    return isinstance(plan.destination, PlainSink)


def _rules_of(plan: Any, with_profile: bool) -> dict[str, Any]:
    from .policy_ship import for_path

    shipped = for_path(plan.job.policy_path, plan.job.policy_sha256)
    profile = getattr(plan.job.engine_factory, "profile", None) if with_profile else None
    return effective_rules(shipped.document_json, profile)


def check_plan_keys(plan: Any) -> list[Column] | None:
    """Check the PostgreSQL sinks' ``--sink-key`` columns (before profiling: only the policy's own rules
    can keep a column); returns the source's declared columns for :func:`for_plan`."""
    if not _plain(plan):
        return None
    columns = source_columns(plan.source)
    if any(endpoint.kind == "postgres" for endpoint in (plan.sink, plan.held)):
        keys = [k.strip() for k in plan.opts.sink_key.split(",") if k.strip()]
        check_keys("--sink-key", keys, columns, _rules_of(plan, with_profile=False), plan.source.safe)
    return columns


def for_plan(plan: Any, columns: list[Column] | None) -> SinkTypes | None:
    """The sinks' types for a run's plan, after profiling (the profile's rules count); None for a
    destination whose outputs are not the source's fields."""
    if not _plain(plan):
        return None
    return plan_types(columns, _rules_of(plan, with_profile=True), plan.policy_identity)
