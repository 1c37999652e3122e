"""The run manifest: what went in, what came out, and the check that the two add up.

Counts come from the pipeline's own outputs: :class:`CountOutcomes` counts the very PCollections that
feed the sinks, the held writer and the quarantine, sums them with a combine, and writes one JSON
object. After the pipeline finishes the driver merges that object with the run's identity into the
manifest (:func:`build_manifest`) and checks ``read == delivered + held + quarantined``.

A source that could not be read to its end (every ``source_error``: a truncated or corrupt compressed
file, an unreadable Parquet file or row group, a duplicate column, an HTTP page that is not JSON) is
listed under ``sources_incomplete`` (source, position reached, detail; no values) and fails the check:
the rows it still held were never read, so no count can account for them.

The driver adds the run's final OpenLineage event (``openlineage``: COMPLETE, FAIL or ABORT, the very
event a configured transport sends; see :mod:`.run_lineage`). The manifest never contains field values:
only names, counts, reason codes and URIs with passwords masked.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from redactline.connectors.records import SOURCE_ERROR
from redactline.policies.lineage import held_reason

_READ, _DELIVERED, _HELD, _QUARANTINED, _ENTITY = "read", "delivered", "held:", "quarantined:", "entity:"
_DESTINATION = "destination:"  # counters of the destination stage (enclave batches, LLM tokens, ...)
_INCOMPLETE = "incomplete:"  # + JSON [source, position, detail] of a source not read to its end


def _to_counts(pairs: Iterable[tuple[str, int]]) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "read": 0, "delivered": 0, "held": {}, "quarantined": {}, "entities": {}, "destination": {},
        "sources_incomplete": [],
    }
    for key, value in pairs:
        if key in (_READ, _DELIVERED):
            counts[key] += value
        elif key.startswith(_HELD):
            counts["held"][key[len(_HELD):]] = value
        elif key.startswith(_QUARANTINED):
            counts["quarantined"][key[len(_QUARANTINED):]] = value
        elif key.startswith(_ENTITY):
            counts["entities"][key[len(_ENTITY):]] = value
        elif key.startswith(_DESTINATION):
            counts["destination"][key[len(_DESTINATION):]] = value
        elif key.startswith(_INCOMPLETE):
            source, position, detail = json.loads(key[len(_INCOMPLETE):])
            counts["sources_incomplete"].append({"source": source, "position": position, "detail": detail})
    counts["sources_incomplete"].sort(key=lambda e: (e["source"], e["position"], e["detail"]))
    if not counts["sources_incomplete"]:
        del counts["sources_incomplete"]  # present only when a source was not read to its end
    for section in ("held", "quarantined", "entities", "destination"):
        counts[section] = dict(sorted(counts[section].items()))
    return counts


class _CountByKey(beam.DoFn):
    """Counts a bundle's elements under the keys ``keys(element)`` gives and emits one ``(key, n)`` per key
    when the bundle ends. A ``(key, 1)`` pair per element used to cross to the combine's stage: on the
    FnApiRunner every record read travelled to the driver for it (100k records: +96 MiB in the driver,
    +45 MiB in each worker)."""

    def __init__(self, keys: Callable[[Any], Iterable[tuple[str, int]]]) -> None:
        self._keys = keys
        self._counts: Counter[str] = Counter()

    def start_bundle(self) -> None:
        self._counts = Counter()

    def process(self, element: Any) -> None:
        for key, n in self._keys(element):
            self._counts[key] += n

    def finish_bundle(self) -> Iterator[Any]:
        counts, self._counts = self._counts, Counter()
        for key, n in counts.items():
            yield GlobalWindows.windowed_value((key, n))


class CountOutcomes(beam.PTransform):
    """Count the run's PCollections into one JSON object written at ``path`` (single file).

    Input: a dict with ``read`` (the source's records and rejected: one PCollection or a tuple of them),
    ``delivered``, ``held``, ``quarantined`` (a PCollection of ``Rejected``), ``entities`` (``(type, n)``
    pairs) and optionally ``destination`` (``(name, n)`` pairs counted by the destination stage). Each is
    counted per bundle where it is produced (:class:`_CountByKey`); only those partial counts are combined.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, pcolls: dict[str, Any]) -> beam.PCollection:
        read = pcolls["read"] if isinstance(pcolls["read"], tuple) else (pcolls["read"],)
        counted: list[tuple[str, Any, Callable[[Any], Iterable[tuple[str, int]]]]] = [
            *((f"Read{i or ''}", pcoll, lambda _: [(_READ, 1)]) for i, pcoll in enumerate(read)),
            ("Delivered", pcolls["delivered"], lambda _: [(_DELIVERED, 1)]),
            ("Held", pcolls["held"], lambda f: [(_HELD + held_reason(f), 1)]),
            ("Quarantined", pcolls["quarantined"],
             lambda r: [(_QUARANTINED + r.reason, 1), *_incomplete(r)]),
            ("Entities", pcolls["entities"], lambda kv: [(_ENTITY + kv[0], kv[1])]),
        ]
        if "destination" in pcolls:
            counted.append(("Destination", pcolls["destination"], lambda kv: [(_DESTINATION + kv[0], kv[1])]))
        keyed = [pcoll | label >> beam.ParDo(_CountByKey(keys)) for label, pcoll, keys in counted]
        return (
            keyed
            | "All" >> beam.Flatten()
            | "Sum" >> beam.CombinePerKey(sum)
            | "Gather" >> beam.combiners.ToList()
            | "AsJson" >> beam.Map(lambda pairs: json.dumps(_to_counts(pairs), sort_keys=True))
            | "Write" >> beam.io.WriteToText(self._path, num_shards=1, shard_name_template="")
        )


def _incomplete(rejected: Any) -> list[tuple[str, int]]:
    """A ``source_error`` names a source not read to its end (its meta and detail carry no values)."""
    if rejected.reason != SOURCE_ERROR:
        return []
    where = json.dumps([rejected.meta.source, rejected.meta.ref, rejected.detail])
    return [(_INCOMPLETE + where, 1)]


def read_counts(path: str) -> dict[str, Any]:
    """Read the counts object written by :class:`CountOutcomes` (any Beam filesystem)."""
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def check(counts: dict[str, Any]) -> dict[str, Any]:
    """The conservation check: every record read left as exactly one of delivered / held / quarantined."""
    held = sum(counts["held"].values())
    quarantined = sum(counts["quarantined"].values())
    total = counts["delivered"] + held + quarantined
    incomplete = counts.get("sources_incomplete") or []
    result = {
        "expression": "read == delivered + held + quarantined",
        "read": counts["read"],
        "accounted": total,
        "holds": counts["read"] == total and not incomplete,
    }
    if incomplete:
        result["error"] = f"{len(incomplete)} source(s) could not be read to the end (see sources_incomplete)"
    return result


def build_manifest(
    *,
    run_id: str,
    started_at: str,
    ended_at: str,
    runner: str,
    state: str,
    policy: dict[str, Any],
    source: str,
    sinks: dict[str, str],
    counts: dict[str, Any],
    destination: dict[str, Any] | None = None,
    quarantine_key_id: str = "",
    profile: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest document (see the module docstring).

    ``quarantine_key_id`` is the fingerprint of the key the quarantine is sealed under, so an operator
    knows which key opens it; the key's location is never written.

    ``destination`` describes where delivered records went (e.g. the attested enclave); its counters
    from the pipeline (``counts["destination"]``) are added under ``destination.counts``.

    ``profile`` is the column profile the run applied (field -> decision, inferred type, share of
    sampled values that matched, header hint; never a value), or why there was none.
    """
    held_total = sum(counts["held"].values())
    quarantined_total = sum(counts["quarantined"].values())
    checked = check(counts)
    return {
        "manifest_version": 1,
        "run_id": run_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "runner": runner,
        "state": state,
        "policy": policy,
        "source": source,
        "sinks": sinks,
        "quarantine_key_id": quarantine_key_id,
        "counts": {
            "read": counts["read"],
            "delivered": counts["delivered"],
            "held": {"total": held_total, "by_reason": counts["held"]},
            "quarantined": {"total": quarantined_total, "by_reason": counts["quarantined"]},
        },
        "entities": counts["entities"],
        "destination": None if destination is None else _destination_section(
            destination, counts.get("destination", {})
        ),
        "profile": profile,
        "sources_incomplete": list(counts.get("sources_incomplete") or []),
        "check": checked,
    }


_EVIDENCE = "evidence:"  # destination counters whose key carries an attestation evidence entry (JSON)


def _destination_section(destination: dict[str, Any], stage_counts: dict[str, int]) -> dict[str, Any]:
    """The destination with its stage counters; attestation evidence (the driver's from preflight and
    each worker's, keyed by document) becomes one ``evidence`` list, one entry per attestation."""
    from redactline.enclave_sink.evidence_log import merge_evidence

    plain = {k: v for k, v in stage_counts.items() if not k.startswith(_EVIDENCE)}
    workers = [{**json.loads(k[len(_EVIDENCE):]), "records": n}
               for k, n in stage_counts.items() if k.startswith(_EVIDENCE)]
    section = {**destination, "counts": plain}
    if workers or "evidence" in destination:
        section["evidence"] = merge_evidence(list(destination.get("evidence") or []), workers)
    return section


def write_manifest(manifest: dict[str, Any], path: str) -> None:
    """Write the manifest as indented JSON (any Beam filesystem)."""
    with FileSystems.create(path) as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8") + b"\n")


def summary_lines(manifest: dict[str, Any]) -> list[str]:
    """A short human summary of a manifest (no field values)."""
    counts = manifest["counts"]

    def by_reason(section: dict[str, Any]) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in section["by_reason"].items())
        return f"{section['total']}" + (f" ({parts})" if parts else "")

    entities = defaultdict(int, manifest["entities"])
    top = ", ".join(f"{k}={v}" for k, v in sorted(entities.items(), key=lambda kv: -kv[1])[:8])
    status = "OK" if manifest["check"]["holds"] else "FAILED"
    lines = [
        f"read {counts['read']}, delivered {counts['delivered']}, held {by_reason(counts['held'])}, "
        f"quarantined {by_reason(counts['quarantined'])}",
        f"entities: {top or 'none'}",
    ]
    profile = manifest.get("profile")
    if profile and profile.get("enabled"):
        rules = profile["whole_field_rules"]
        fields = profile["fields"]
        listed = ", ".join(f"{f} {fields[f]['entity_type']}" for f in rules)
        lines.append(f"profile: {profile['records_sampled']} record(s) sampled; whole-field rules: "
                     f"{listed or 'none'}")
    elif profile:
        lines.append(profile["note"])
    destination = manifest.get("destination")
    if destination:
        stage = ", ".join(f"{k} {v}" for k, v in destination["counts"].items())
        lines.append(f"{destination.get('kind', 'destination')}: {stage or 'nothing sent'}")
    for entry in manifest.get("sources_incomplete") or []:
        lines.append(f"NOT READ TO THE END: {entry['source']} ({entry['position']}): {entry['detail']}")
    lines.append(f"check {manifest['check']['expression']}: {status}")
    return lines
