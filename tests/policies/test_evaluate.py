"""evaluate(): span-overlap precision/recall, character leak rate and fail-under thresholds, on a tiny
hand-made corpus whose expected figures are worked out by hand below."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from redactline.policies.engine import Finding, TextResult
from redactline.policies.evaluate import (
    CorpusError,
    Document,
    EvalReport,
    Span,
    evaluate,
    load_corpus,
    missed_spans,
    parse_threshold,
    score_document,
)

CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")


class CapitalisedWordsEngine:
    """Stand-in engine: every capitalised word is a PERSON finding."""

    policy = SimpleNamespace(name="capitalised-words")

    def redact_texts(self, texts, batch_size=128):
        for text in texts:
            matches = CAPITALISED.finditer(text)
            findings = tuple(Finding("PERSON", m.start(), m.end(), 0.9, "fake", "replace") for m in matches)
            yield TextResult(text, findings)


def _span(text: str, value: str, type_: str) -> dict:
    start = text.index(value)
    return {"start": start, "end": start + len(value), "type": type_, "value": value}


def _write_corpus(path: Path) -> Path:
    a = "Alice met Bob in Paris today"
    b = "call 555 1234 now, Zed"
    c = "nothing here But Caps"
    lines = [
        {
            "text": a,
            "spans": [_span(a, "Alice", "PERSON"), _span(a, "Bob", "PERSON"), _span(a, "Paris", "GPE")],
        },
        {"text": b, "spans": [_span(b, "555 1234", "PHONE_NUMBER"), _span(b, "Zed", "PERSON")]},
        {"text": c, "spans": []},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def report(tmp_path: Path) -> EvalReport:
    return evaluate(CapitalisedWordsEngine(), _write_corpus(tmp_path / "tiny.jsonl"))


def test_any_type_scores(report: EvalReport) -> None:
    # gold spans: Alice, Bob, Paris, "555 1234", Zed = 5; overlapped by a finding: all but the phone = 4
    assert report.any_type.gold == 5
    assert report.recall == pytest.approx(4 / 5)
    # findings: Alice, Bob, Paris | Zed | But, Caps = 6; overlapping gold: 4
    assert report.any_type.pred == 6
    assert report.precision == pytest.approx(4 / 6)
    p, r = 4 / 6, 4 / 5
    assert report.f1 == pytest.approx(2 * p * r / (p + r))
    assert report.documents == 3


def test_leak_rate_counts_uncovered_gold_characters(report: EvalReport) -> None:
    # gold characters: 5 + 3 + 5 + 8 + 3 = 24; uncovered: the 8 of "555 1234"
    assert report.gold_chars == 24
    assert report.leaked_chars == 8
    assert report.leak_rate == pytest.approx(8 / 24)


def test_per_family_scores_need_a_matching_family(report: EvalReport) -> None:
    person = report.per_type["PERSON"]
    assert (person.gold, person.gold_found) == (3, 3)
    # Paris is a PERSON finding on a GPE (LOCATION family) span: a true positive for any-type only.
    assert (person.pred, person.pred_true) == (6, 3)
    location = report.per_type["LOCATION"]
    assert (location.gold, location.gold_found, location.pred) == (1, 0, 0)
    assert report.gold_types["GPE"].gold_found == 1  # found by a finding of some type


def test_partial_overlap_finds_the_span_but_leaks_the_rest() -> None:
    report = EvalReport("p", "c")
    score_document(report, [Span(0, 10, "STREET_ADDRESS")], [(0, 4, "LOCATION"), (20, 25, "PERSON")])
    assert report.recall == 1.0
    assert report.precision == pytest.approx(1 / 2)
    assert report.leak_rate == pytest.approx(6 / 10)
    assert report.per_type["LOCATION"].recall == 1.0


def test_overlapping_gold_spans_count_characters_once() -> None:
    report = EvalReport("p", "c")
    score_document(report, [Span(0, 6, "PERSON"), Span(3, 9, "PERSON")], [])
    assert report.gold_chars == 9
    assert report.leak_rate == 1.0


def test_fail_under_thresholds(report: EvalReport) -> None:
    assert report.check_fail_under("recall=0.8") == []
    assert len(report.check_fail_under("recall=0.81")) == 1
    assert report.check_fail_under("precision=0.6") == []
    assert len(report.check_fail_under("f1=0.9")) == 1
    # leak_rate is a ceiling: 8/24 = 0.333...
    assert report.check_fail_under("leak_rate=0.34") == []
    assert "above" in report.check_fail_under("leak_rate=0.3")[0]
    assert report.check_fail_under("PERSON.recall=1.0") == []
    assert len(report.check_fail_under("LOCATION.recall=0.5")) == 1
    assert len(report.check_all(["recall=0.9", "leak_rate=0.1", "precision=0.5"])) == 2


@pytest.mark.parametrize("spec", ["recall", "recall=", "=0.5", "recall=abc", "recall=1.5", "recall=-0.1"])
def test_malformed_threshold_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_threshold(spec)


def test_unknown_metric_is_refused(report: EvalReport) -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        report.check_fail_under("accuracy=0.5")
    with pytest.raises(ValueError, match="no entity family"):
        report.check_fail_under("NOPE.recall=0.5")


def test_parse_threshold_value() -> None:
    assert parse_threshold(" leak_rate = 0.25") == ("leak_rate", 0.25)


def test_reports_render_without_text(report: EvalReport) -> None:
    data = json.loads(report.to_json())
    assert data["any_type"]["gold"] == 5
    assert data["leak_rate"] == round(8 / 24, 4)
    rendered = report.to_text() + report.to_json()
    for value in ("Alice", "Paris", "555 1234", "Zed"):
        assert value not in rendered


def test_corpus_with_a_span_outside_the_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "abc", "spans": [{"start": 1, "end": 9, "type": "PERSON"}]}) + "\n")
    with pytest.raises(CorpusError, match="bad.jsonl:1"):
        list(load_corpus(path))


def test_corpus_limit(tmp_path: Path) -> None:
    assert len(list(load_corpus(_write_corpus(tmp_path / "c.jsonl"), limit=2))) == 2


# --- presidio-evaluator's shape, JSON arrays, per-type leak, misses ----------------------------------


def _evaluator_record(text: str, values: list[tuple[str, str]]) -> dict:
    """A document as presidio-evaluator writes it (InputSample.to_dict)."""
    spans = []
    for value, type_ in values:
        start = text.index(value)
        end = start + len(value)
        span = {"entity_type": type_, "entity_value": value, "start_position": start, "end_position": end}
        spans.append(span)
    return {"full_text": text, "masked": None, "spans": spans, "template_id": 3, "metadata": {}}


def _evaluator_docs() -> list[dict]:
    a = "Alice met Bob in Paris today"
    b = "call 555 1234 now, Zed"
    return [
        _evaluator_record(a, [("Alice", "PERSON"), ("Bob", "PERSON"), ("Paris", "GPE")]),
        _evaluator_record(b, [("555 1234", "PHONE_NUMBER"), ("Zed", "PERSON")]),
        _evaluator_record("nothing here But Caps", []),
    ]


@pytest.mark.parametrize("shape", ["jsonl", "array"])
def test_presidio_evaluator_shape_scores_like_the_projects_own(
    tmp_path: Path, report: EvalReport, shape: str
) -> None:
    path = tmp_path / f"evaluator.{shape}"
    docs = _evaluator_docs()
    if shape == "array":
        path.write_text("  \n" + json.dumps(docs, indent=1), encoding="utf-8")
    else:
        path.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    theirs = evaluate(CapitalisedWordsEngine(), path)
    assert theirs.as_dict() | {"seconds": 0, "docs_per_second": 0, "corpus": ""} == report.as_dict() | {
        "seconds": 0,
        "docs_per_second": 0,
        "corpus": "",
    }
    assert len(list(load_corpus(path, limit=1))) == 1


def test_project_shape_in_a_json_array(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text(json.dumps([{"text": "Hi Bob", "spans": [{"start": 3, "end": 6, "type": "PERSON"}]}]))
    assert list(load_corpus(path)) == [Document("Hi Bob", (Span(3, 6, "PERSON"),))]


def test_bad_evaluator_span_names_the_document(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    docs = [_evaluator_record("Hi Bob", [("Bob", "PERSON")])]
    docs[0]["spans"][0]["end_position"] = 99
    path.write_text(json.dumps(docs))
    with pytest.raises(CorpusError, match=r"bad.json\[0\]: span 3-99 outside"):
        list(load_corpus(path))
    path.write_text("[{")
    with pytest.raises(CorpusError, match="not a JSON array"):
        list(load_corpus(path))


def test_leak_by_type(report: EvalReport) -> None:
    # PERSON: Alice, Bob, Zed = 11 characters, all covered; GPE: Paris covered; PHONE_NUMBER: 8 leaked
    assert report.leak_by_type["PERSON"].gold_chars == 11
    assert report.leak_by_type["PERSON"].leaked_chars == 0
    assert report.leak_by_type["PHONE_NUMBER"].leak_rate == 1.0
    data = json.loads(report.to_json())["leak_by_type"]
    assert data["PHONE_NUMBER"] == {"gold_chars": 8, "leaked_chars": 8, "leak_rate": 1.0}
    assert "char leak" in report.to_text()


def test_partial_leak_by_type() -> None:
    report = EvalReport("p", "c")
    score_document(report, [Span(0, 10, "STREET_ADDRESS"), Span(12, 15, "PERSON")], [(0, 4, "LOCATION")])
    street = report.leak_by_type["STREET_ADDRESS"]
    assert (street.gold_chars, street.leaked_chars) == (10, 6)
    assert report.leak_by_type["PERSON"].leak_rate == 1.0


def test_misses_file_has_each_leaking_span_with_its_context(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path / "tiny.jsonl")
    out = tmp_path / "misses.jsonl"
    evaluate(CapitalisedWordsEngine(), corpus, misses=out, context=5)
    misses = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(misses) == 1
    miss = misses[0]
    assert miss["document"] == 1 and miss["type"] == "PHONE_NUMBER" and miss["value"] == "555 1234"
    assert (miss["start"], miss["end"], miss["leaked_chars"], miss["missed"]) == (5, 13, 8, True)
    assert miss["context"] == "call 555 1234 now,"
    assert miss["nearby_findings"] == []


def test_misses_lists_partial_leaks_and_nearby_findings() -> None:
    doc = Document("at 10 Main Street now", (Span(3, 17, "STREET_ADDRESS"),))
    (miss,) = missed_spans([doc], [[(6, 10, "LOCATION")]], context=3)
    assert miss["missed"] is False and miss["leaked_chars"] == 10
    assert miss["nearby_findings"] == [{"type": "LOCATION", "start": 6, "end": 10}]
    assert not list(missed_spans([doc], [[(0, 21, "LOCATION")]]))


def test_eval_cli_writes_misses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from redactline.pipelines.cli import main

    corpus = tmp_path / "c.json"
    corpus.write_text(json.dumps(_evaluator_docs()[:1]))
    policy = Path(__file__).resolve().parents[2] / "policies" / "library" / "general-pii.yaml"
    out = tmp_path / "m.jsonl"
    args = ["eval", "--policy", str(policy), "--corpus", str(corpus), "--misses", str(out)]
    assert main([*args, "--format", "json"]) == 0
    assert "leak_by_type" in json.loads(capsys.readouterr().out)
    assert out.exists()
