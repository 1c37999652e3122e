"""The redact, residency and counting transforms on in-memory PCollections with the real engine."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from redactline.connectors.records import ENGINE_ERROR, OVERSIZE, Record, RecordMeta
from redactline.pipelines.manifest import CountOutcomes, check, read_counts
from redactline.pipelines.redact import (
    ENTITIES,
    PREPARED,
    REDACTED,
    REJECTED,
    RESERVED_FIELD,
    PolicyEngineFactory,
    PrepareRecords,
    RedactRecords,
)
from redactline.pipelines.route import DELIVERED, HELD, RouteByResidency
from redactline.policies.lineage import LINEAGE_KEY
from tests.support.beam import pipeline
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record, pii_values

LINEAGE = {"policy": "demo", "version": "1.0.0", "sha256": "x", "run_id": "r1"}


def factory(policy) -> PolicyEngineFactory:
    return PolicyEngineFactory(str(DEMO_POLICY.resolve()), policy.identity.sha256)


class ExplodingEngineFactory:
    """The real engine, plus a fault: any record with a field ``explode`` raises inside the engine."""

    def __init__(self, inner: PolicyEngineFactory) -> None:
        self._inner = inner

    def __call__(self):
        return _Exploding(self._inner())


class _Exploding:
    def __init__(self, engine) -> None:
        self._engine = engine

    def redact_records(self, records, batch_size=64):
        for r in records:
            yield self.redact_record(r)

    def redact_record(self, record):
        if "explode" in record:
            raise ValueError(f"cannot handle {record['name']}")  # quotes PII on purpose
        return self._engine.redact_record(record)


def rec(i: int, country: str = "DE", **extra) -> Record:
    return Record({**person_record(i, country), **extra}, RecordMeta("mem://test", f"item {i}"))


# Collected outputs. A module-level function is pickled by reference, so the in-process runner's
# copy of the DoFn writes into this very dict.
_OUT: dict[str, list] = {}


def _store(items, tag):
    _OUT[tag] = list(items)


def collect(pcoll, tag):
    pcoll | f"List{tag}" >> beam.combiners.ToList() | f"Out{tag}" >> beam.Map(_store, tag)


def prepare_and_redact(records, engine_factory, residency=None, max_bytes=4 << 20, batch_size=64):
    """The run's prepare step, then redaction; rejected = both steps' (as ``redactline run`` counts them)."""
    prepared = records | PrepareRecords(max_bytes, residency)
    res = dict(prepared[PREPARED] | RedactRecords(engine_factory, LINEAGE, batch_size))
    res[REJECTED] = (prepared[REJECTED], res[REJECTED]) | "AllRejected" >> beam.Flatten()
    return res


def run_redact(records, engine_factory, residency=None, max_bytes=4 << 20):
    _OUT.clear()
    with pipeline() as p:
        res = prepare_and_redact(p | beam.Create(records), engine_factory, residency, max_bytes, 3)
        for tag in (REDACTED, REJECTED, ENTITIES):
            collect(res[tag], tag)
    return dict(_OUT)


def test_redacts_every_record_with_lineage_and_entity_counts(demo_policy):
    records = [rec(i) for i in range(8)]
    out = run_redact(records, factory(demo_policy))
    assert len(out[REDACTED]) == 8 and out[REJECTED] == []
    dumped = json.dumps([r.fields for r in out[REDACTED]])
    assert [v for v in pii_values() if v in dumped] == []
    assert all(r.fields[LINEAGE_KEY] == LINEAGE for r in out[REDACTED])
    assert sorted(r.fields["id"] for r in out[REDACTED]) == sorted(str(i) for i in range(8))
    totals: dict[str, int] = {}
    for entity, n in out[ENTITIES]:
        totals[entity] = totals.get(entity, 0) + n
    assert totals["EMAIL_ADDRESS"] == 8  # one per notes text (the email column is replaced whole)
    assert totals.get("PERSON", 0) >= 8


def test_engine_error_quarantines_only_the_failing_record(demo_policy):
    records = [rec(i) for i in range(6)] + [rec(6, explode="1")]
    out = run_redact(records, ExplodingEngineFactory(factory(demo_policy)))
    assert len(out[REDACTED]) == 6
    [bad] = out[REJECTED]
    assert bad.reason == ENGINE_ERROR and bad.meta.ref == "item 6"
    assert bad.detail == "engine raised ValueError"  # type only: the message quoted a name
    assert b"Sullivan" in bad.raw or b"Whitfield" in bad.raw or b"Moreau" in bad.raw  # raw kept for sealing


def test_oversize_and_reserved_field_are_quarantined_before_the_engine(demo_policy):
    records = [rec(0), rec(1, notes="x" * 5000), rec(2, **{LINEAGE_KEY: "spoof"})]
    out = run_redact(records, factory(demo_policy), max_bytes=4000)
    reasons = sorted(r.reason for r in out[REJECTED])
    assert reasons == sorted([OVERSIZE, RESERVED_FIELD])
    assert [r.fields["id"] for r in out[REDACTED]] == ["0"]
    oversize = next(r for r in out[REJECTED] if r.reason == OVERSIZE)
    assert "limit 4000" in oversize.detail and "x" * 20 not in oversize.detail


UNROUTABLE = {"BR": "no_rule", "XX": "unknown_jurisdiction", "": "unknown_jurisdiction"}


@pytest.mark.parametrize(
    ("region", "delivered", "held"),
    [
        pytest.param("eu-central-1", ["DE", "FR", "US"], UNROUTABLE, id="eu-central-1"),
        # EU data may not leave the EU; US data may go to the US
        pytest.param("us-east-1", ["US"],
                     {"DE": "region_not_allowed", "FR": "region_not_allowed", **UNROUTABLE}, id="us-east-1"),
    ],
)
def test_residency_routes_on_the_raw_jurisdiction(demo_policy, beam_pipeline, region, delivered, held):
    countries = ["DE", "FR", "US", "BR", "XX", ""]
    records = [rec(i, c) for i, c in enumerate(countries)]
    with beam_pipeline() as p:
        red = prepare_and_redact(p | beam.Create(records), factory(demo_policy), demo_policy.residency)
        routed = red[REDACTED] | RouteByResidency(demo_policy.residency, region)
        countries_out = routed[DELIVERED] | "Delivered" >> beam.Map(lambda r: r["country"])
        assert_that(countries_out, equal_to(delivered), label="delivered")
        why = routed[HELD] | "Held" >> beam.Map(
            lambda r: (r["country"], r[LINEAGE_KEY]["held"]["reason"], r[LINEAGE_KEY]["held"]["source"]))
        assert_that(why, equal_to([(c, reason, "mem://test") for c, reason in held.items()]), label="held")


def test_route_without_region_for_residency_policy_is_refused(demo_policy):
    with pytest.raises(ValueError, match="region"):
        RouteByResidency(demo_policy.residency, None)


def test_count_outcomes_adds_up(tmp_path, beam_pipeline):
    from redactline.connectors.records import Rejected

    path = str(tmp_path / "counts.json")
    meta = RecordMeta("s", "r")
    held = {"a": 1, LINEAGE_KEY: {"held": {"reason": "no_rule"}}}
    with beam_pipeline() as p:
        read = p | "R" >> beam.Create(list(range(6)))
        pcolls = {
            "read": read,
            "delivered": p | "D" >> beam.Create([{"a": 1}, {"a": 2}, {"a": 3}]),
            "held": p | "H" >> beam.Create([held]),
            "quarantined": p | "Q" >> beam.Create(
                [Rejected("oversize", "d", meta), Rejected("parse_error", "d", meta)]
            ),
            "entities": p | "E" >> beam.Create([("PERSON", 2), ("PERSON", 3), ("EMAIL_ADDRESS", 1)]),
            "destination": p | "Dest" >> beam.Create([("sealed_batches", 1), ("sealed_batches", 1)]),
        }
        pcolls | CountOutcomes(path)
    counts = read_counts(path)
    assert counts == {"read": 6, "delivered": 3, "held": {"no_rule": 1},
                      "quarantined": {"oversize": 1, "parse_error": 1},
                      "entities": {"EMAIL_ADDRESS": 1, "PERSON": 5}, "destination": {"sealed_batches": 2}}
    assert check(counts)["holds"]
    counts["delivered"] = 2
    assert not check(counts)["holds"]
