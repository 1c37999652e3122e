"""OpenLineage run events of a ``redactline run``, built with the ``openlineage-python`` client's classes.

A run has one START event (before the pipeline runs) and one final event: COMPLETE when the run finished
and its manifest check holds, ABORT when SIGINT/SIGTERM stopped it, FAIL otherwise. Both carry:

* the job (namespace ``$OPENLINEAGE_NAMESPACE`` or ``redactline``; name ``--lineage-job`` or
  ``redact.<policy name>``) with a ``jobType`` facet (BATCH, integration REDACTLINE);
* run facets ``redactline_policy`` (policy name, version, meaning hash, document hash, key ids; schema
  ``tests/vectors/openlineage/redactline/RedactionPolicyRunFacet.json``) and ``processing_engine``;
* the input dataset and the outputs (delivered sink, held sink, quarantine) named per
  :mod:`.lineage_naming`; delivered and held outputs carry ``schema`` and ``columnLineage`` facets saying,
  per column, whether it was kept, inspected as text, or replaced whole by which operator (from the
  policy's field rules and the column profile: names and operator types only, never a value).

The final event adds ``inputStatistics``/``outputStatistics`` row counts (when the counts are complete)
and, unless COMPLETE, an ``errorMessage`` run facet holding the manifest's state (an exception type, never
its message). The manifest embeds the final event as ``openlineage``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    column_lineage_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from .lineage_naming import DatasetName

SCHEMA_BASE = "https://redactline.dev/spec/facets"
POLICY_FACET_SCHEMA = f"{SCHEMA_BASE}/1-0-0/RedactionPolicyRunFacet.json#/$defs/RedactionPolicyRunFacet"
DEFAULT_JOB_NAMESPACE = "redactline"
LINEAGE_FIELD = "_redactline"  # the delivered records' lineage key (policies/lineage.py)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


PRODUCER = f"https://redactline.dev/producer/redactline/{_version('redactline')}"


@attr.define
class RedactionPolicyRunFacet(RunFacet):
    """The policy a run applied: identity only (hashes, key fingerprints), never key material."""

    name: str
    version: str
    meaningHash: str  # noqa: N815 - OpenLineage facet fields are camelCase
    documentHash: str | None = attr.field(default=None)  # noqa: N815
    keyIds: list[str] = attr.field(factory=list)  # noqa: N815
    gitRevision: str | None = attr.field(default=None)  # noqa: N815
    runId: str | None = attr.field(default=None)  # noqa: N815 - redactline's own run id (--run-id)

    @staticmethod
    def _get_schema() -> str:
        return POLICY_FACET_SCHEMA


@dataclass(frozen=True)
class ColumnRule:
    """How one output column was produced from the input column of the same name."""

    field: str
    operator: str  # keep | inspect | redact | replace | mask | hash | tokenize | pseudonym | ...
    origin: str  # policy (a field rule) | profile (a whole-field rule from profiling) | text (inspected)
    entity_type: str | None = None


@dataclass(frozen=True)
class RunDescription:
    """What the events say about a run, gathered on the driver before it starts (no values)."""

    run_id: str
    job_namespace: str
    job_name: str
    policy: dict[str, Any]
    runner: str
    source: DatasetName
    outputs: dict[str, DatasetName]  # role (delivered, held, quarantine) -> dataset
    columns: tuple[ColumnRule, ...] = ()
    redacted_roles: tuple[str, ...] = ("delivered", "held")  # outputs holding the redacted records
    extra: dict[str, Any] = field(default_factory=dict)


def column_rules(policy_fields: dict[str, Any], profile: dict[str, Any] | None) -> tuple[ColumnRule, ...]:
    """Per column: the policy's field rule, else the profile's whole-field rule, else inspected as text.

    ``policy_fields`` is the resolved policy's ``transforms.fields`` (path -> operator spec as JSON);
    ``profile`` the manifest's ``profile`` section. A ``drop_field`` column is not in the output."""
    rules: dict[str, ColumnRule] = {}
    for path, spec in policy_fields.items():
        op = spec.get("type") if isinstance(spec, dict) else str(spec)
        rules[path] = ColumnRule(path, str(op), "policy")
    if profile and profile.get("enabled"):
        fields = profile.get("fields") or {}
        for path, op in (profile.get("whole_field_rules") or {}).items():
            if path not in rules:
                entity = (fields.get(path) or {}).get("entity_type")
                rules[path] = ColumnRule(path, str(op), "profile", entity)
        for path in fields:
            rules.setdefault(path, ColumnRule(path, "inspect", "text"))
    return tuple(rules[p] for p in sorted(rules) if rules[p].operator != "drop_field")


def run_uuid(run_id: str) -> str:
    """OpenLineage run ids are UUIDs: ``run_id`` itself when it is one, else a UUID derived from it."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://redactline.dev/run/{run_id}"))


def job_namespace() -> str:
    """``$OPENLINEAGE_NAMESPACE`` (the convention of OpenLineage integrations), else ``redactline``."""
    return os.environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_JOB_NAMESPACE


def start_event(run: RunDescription, event_time: str) -> RunEvent:
    """The START event."""
    return _event(run, RunState.START, event_time, manifest=None)


def final_event(run: RunDescription, manifest: dict[str, Any]) -> RunEvent:
    """COMPLETE, ABORT or FAIL, from the finished run's manifest (state, check, counts)."""
    ok = manifest["check"]["holds"] and str(manifest["state"]).endswith("DONE")
    state = RunState.COMPLETE if ok else RunState.ABORT if manifest.get("interrupted") else RunState.FAIL
    return _event(run, state, manifest["ended_at"], manifest=manifest)


def as_json(event: RunEvent) -> dict[str, Any]:
    """The event as the transports serialise it (nulls left out)."""
    return json.loads(Serde.to_json(event))


def _event(run: RunDescription, state: RunState, event_time: str,
           manifest: dict[str, Any] | None) -> RunEvent:
    policy = run.policy
    run_facets: dict[str, RunFacet] = {
        "redactline_policy": RedactionPolicyRunFacet(
            name=str(policy.get("name")), version=str(policy.get("version")),
            meaningHash=str(policy.get("sha256")), documentHash=policy.get("document_sha256"),
            keyIds=[str(k) for k in policy.get("key_ids") or []], gitRevision=policy.get("git_revision"),
            runId=run.run_id, producer=PRODUCER),
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=_version("apache-beam"), name="Apache Beam",
            openlineageAdapterVersion=_version("redactline"), producer=PRODUCER),
    }
    if manifest is not None and state != RunState.COMPLETE:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=_failure(manifest), programmingLanguage="python", producer=PRODUCER)
    counts = manifest["counts"] if manifest and manifest.get("counts_status") == "complete" else None
    job = Job(namespace=run.job_namespace, name=run.job_name, facets={
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="REDACTLINE",
                                                jobType="JOB", producer=PRODUCER)})
    return RunEvent(
        eventType=state, eventTime=event_time, producer=PRODUCER,
        run=Run(runId=run_uuid(run.run_id), facets=run_facets), job=job,
        inputs=[_input(run, counts)], outputs=[_output(run, role, counts) for role in run.outputs],
    )


def _failure(manifest: dict[str, Any]) -> str:
    """Why the run did not complete: its state (exception types only) and the check's error."""
    parts = [str(manifest["state"])]
    check = manifest["check"]
    if not check.get("holds"):
        parts.append(check.get("error") or f"check {check['expression']} does not hold")
    return "; ".join(parts)


def _input(run: RunDescription, counts: dict[str, Any] | None) -> InputDataset:
    facets: dict[str, Any] = {}
    schema = _schema(run.columns, with_lineage_field=False)
    if schema is not None:
        facets["schema"] = schema
    input_facets = {}
    if counts is not None:
        input_facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=int(counts["read"]), producer=PRODUCER)
    return InputDataset(namespace=run.source.namespace, name=run.source.name, facets=facets,
                        inputFacets=input_facets)


_ROW_COUNTS = {"delivered": lambda c: c["delivered"], "held": lambda c: c["held"]["total"],
               "quarantine": lambda c: c["quarantined"]["total"]}


def _output(run: RunDescription, role: str, counts: dict[str, Any] | None) -> OutputDataset:
    target = run.outputs[role]
    facets: dict[str, Any] = {}
    if role in run.redacted_roles and run.columns:
        facets["schema"] = _schema(run.columns, with_lineage_field=True)
        facets["columnLineage"] = _column_lineage(run)
    output_facets = {}
    if counts is not None and role in _ROW_COUNTS:
        stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
        output_facets["outputStatistics"] = stats(rowCount=int(_ROW_COUNTS[role](counts)), producer=PRODUCER)
    return OutputDataset(namespace=target.namespace, name=target.name, facets=facets,
                         outputFacets=output_facets)


def _schema(columns: tuple[ColumnRule, ...], *, with_lineage_field: bool) -> Any:
    """Top-level columns only (a nested path such as ``items[*].name`` is not a column of the schema)."""
    names = [c.field for c in columns if "." not in c.field and "[" not in c.field]
    if not names:
        return None
    fields = [schema_dataset.SchemaDatasetFacetFields(name=n) for n in names]
    if with_lineage_field:
        fields.append(schema_dataset.SchemaDatasetFacetFields(
            name=LINEAGE_FIELD, type="STRUCT",
            description="redactline run lineage: policy name, version, meaning hash, run id"))
    return schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)


def _column_lineage(run: RunDescription) -> Any:
    cl = column_lineage_dataset
    out: dict[str, Any] = {}
    for rule in run.columns:
        description, masking = _describe(rule)
        transformation = cl.Transformation(
            type="DIRECT", subtype="IDENTITY" if rule.operator == "keep" else "TRANSFORMATION",
            description=description, masking=masking)
        out[rule.field] = cl.Fields(
            inputFields=[cl.InputField(namespace=run.source.namespace, name=run.source.name, field=rule.field,
                                       transformations=[transformation])],
            transformationDescription=description,  # the deprecated pair, for consumers that read only it
            transformationType="MASKED" if masking else "IDENTITY",
        )
    return cl.ColumnLineageDatasetFacet(fields=out, producer=PRODUCER)


def _describe(rule: ColumnRule) -> tuple[str, bool]:
    """A human description and whether the column's values are masked (no original value survives in
    what the operator replaced)."""
    if rule.operator == "keep":
        return "kept as is (policy field rule)", False
    if rule.operator == "inspect" or rule.origin == "text":
        return "inspected as text: each PII value found is replaced by its entity type's operator", True
    if rule.origin == "profile":
        return (f"whole value replaced by '{rule.operator}' (column profiled as {rule.entity_type})", True)
    return f"whole value replaced by '{rule.operator}' (policy field rule)", True
