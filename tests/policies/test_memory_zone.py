"""spaCy's memory zone around each analysis: a long run's vocabulary does not grow with its input."""

from __future__ import annotations

from pathlib import Path

from redactline.policies import load_policy

POLICY = """
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: memory-zone-test, version: 1.0.0}
detection:
  use_predefined: false
  recognizers:
    - name: Ticket
      supported_entity: TICKET
      patterns: [{name: ticket, regex: 'TCK-\\d{6}', score: 0.9}]
transforms:
  default: replace
"""


def _texts(batch: int, size: int = 40) -> list[str]:
    # every text has tokens no earlier text had (as unique emails and phone numbers do in real input)
    return [
        f"Zorvath{batch}x{i} wrote from zq{batch}.{i}@example.com about TCK-{batch:03d}{i:03d}, "
        f"call +1 212-{batch:03d}-{i:04d}."
        for i in range(size)
    ]


def test_strings_of_unique_tokens_are_freed_after_each_batch(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY, encoding="utf-8")
    engine = load_policy(path).engine()
    nlp_engine = engine._analyzer.nlp_engine
    strings = nlp_engine.nlp["en"].vocab.strings
    list(engine.redact_texts(_texts(0)))  # the first call may add lasting strings (labels...)
    before = len(strings)
    for batch in range(1, 6):
        results = list(engine.redact_texts(_texts(batch)))
        # results are plain values, valid after the zone ended
        assert [r.text.count("<TICKET>") for r in results] == [1] * 40
        assert all(f"TCK-{batch:03d}" not in r.text for r in results)
        assert len(strings) == before  # 200 texts of new tokens, nothing kept
    records = [{"note": text} for text in _texts(9)]
    redacted = list(engine.redact_records(records, batch_size=16))
    assert all("<TICKET>" in r.record["note"] for r in redacted)
    assert len(strings) == before
    # an outer zone (the caller's) is not entered again: spaCy's zones do not nest; it frees at its end
    with nlp_engine.memory_zone():
        assert nlp_engine.nlp["en"].vocab.in_memory_zone
        assert engine.analyze_texts(_texts(10))[0]
    assert not nlp_engine.nlp["en"].vocab.in_memory_zone
    assert len(strings) == before
