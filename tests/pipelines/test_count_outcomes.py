"""The manifest's counts: summed per bundle where each outcome is produced, then combined."""

from __future__ import annotations

import apache_beam as beam

from redactline.connectors.records import FIELD_COUNT, SOURCE_ERROR, Record, RecordMeta, Rejected
from redactline.pipelines.manifest import CountOutcomes, _CountByKey, read_counts
from redactline.policies.lineage import LINEAGE_KEY
from tests.support.beam import pipeline


def test_a_bundle_sends_one_count_per_key_not_one_pair_per_element():
    """One ``(key, 1)`` pair per record used to cross to the combine's stage (the FnApiRunner's driver
    held every record read to count it)."""
    fn = _CountByKey(lambda n: [("even" if n % 2 == 0 else "odd", 1)])
    fn.start_bundle()
    for n in range(1000):
        assert fn.process(n) is None  # nothing leaves while the bundle runs
    sent = [wv.value for wv in fn.finish_bundle()]
    assert sorted(sent) == [("even", 500), ("odd", 500)]
    fn.start_bundle()
    assert list(fn.finish_bundle()) == []  # an empty bundle sends nothing; counts never carry over


def test_counts_of_every_outcome_add_up(tmp_path):
    meta = RecordMeta("file:///in.csv", "line 2", None)
    records = [Record({"id": str(i)}, meta) for i in range(7)]
    failed = "reading failed (after line 9): OSError"
    rejected = [Rejected(FIELD_COUNT, "3 fields, header has 2", meta, b"x"),
                Rejected(SOURCE_ERROR, failed, RecordMeta("file:///in.csv", "after line 9", None))]
    path = str(tmp_path / "counts.json")
    with pipeline() as p:
        read = (p | "Records" >> beam.Create(records), p | "Rejected" >> beam.Create(rejected))
        quarantined = p | "Quarantined" >> beam.Create(rejected)
        outcomes = {
            "read": read,
            "delivered": p | "Delivered" >> beam.Create(records[:5]),
            "held": p | "Held" >> beam.Create([{"id": str(i), LINEAGE_KEY: {"held": {"reason": "no_rule"}}}
                                               for i in (5, 6)]),
            "quarantined": quarantined,
            "entities": p | "Entities" >> beam.Create([("PERSON", 3), ("EMAIL_ADDRESS", 1), ("PERSON", 2)]),
        }
        outcomes | CountOutcomes(path)
    counts = read_counts(path)
    assert counts["read"] == 9 and counts["delivered"] == 5
    assert counts["held"] == {"no_rule": 2}
    assert counts["quarantined"] == {FIELD_COUNT: 1, SOURCE_ERROR: 1}
    assert counts["entities"] == {"EMAIL_ADDRESS": 1, "PERSON": 5}
    assert counts["sources_incomplete"] == [
        {"source": "file:///in.csv", "position": "after line 9", "detail": failed}]
