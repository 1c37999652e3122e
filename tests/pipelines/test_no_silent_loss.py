"""Issue 14, whole runs: nothing is lost with a green check, and one record never kills the run.

Every case goes through ``redactline.pipelines.run.run`` on real files with the demo policy and the
real engine, and asserts the manifest counts, ``read == delivered + held + quarantined``, the exit code
(1 exactly when a source could not be read to its end) and that the planted value is nowhere in clear:
not in stdout/stderr, the log records, the quarantine file or the manifest.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.connectors.file_sinks import read_back
from redactline.pipelines.quarantine import read_entries
from redactline.pipelines.run import run
from tests.support.demo import DEMO_POLICY

KEY_HEX = "11" * 32
PLANTED = "Robert Whitfield"  # a name the demo policy redacts; must never appear in clear


def _raise(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def strict(line: str) -> Any:
    return json.loads(line, parse_constant=_raise)


class Outcome:
    def __init__(self, tmp_path: Path, code: int, text: str, sink: Path) -> None:
        out = sink.parent
        self.code = code
        self.manifest = json.loads((out / f"{sink.stem}.manifest.json").read_text())
        self.counts = self.manifest["counts"]
        self.by_reason = self.counts["quarantined"]["by_reason"]
        qfile = out / f"{sink.stem}.quarantine.jsonl"
        self.quarantine_bytes = qfile.read_bytes() if qfile.exists() else b""
        self.entries = list(read_entries(qfile, bytes.fromhex(KEY_HEX))) if qfile.exists() else []
        self.sink = sink
        self.text = text

    def delivered(self) -> list[dict]:
        return read_back(str(self.sink)) if self.sink.exists() else []

    def assert_accounted(self) -> None:
        c = self.counts
        assert c["read"] == c["delivered"] + c["held"]["total"] + c["quarantined"]["total"]
        assert self.manifest["check"]["accounted"] == c["read"]

    def assert_nothing_in_clear(self) -> None:
        for where in (self.text, self.quarantine_bytes.decode(), json.dumps(self.manifest)):
            assert PLANTED not in where
            assert PLANTED.split()[1] not in where


def run_case(tmp_path: Path, monkeypatch, capsys, caplog, source: Path,
             sink_name: str = "out.jsonl") -> Outcome:
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO)
    sink = tmp_path / "out" / sink_name
    code = run(["--policy", str(DEMO_POLICY), "--source", str(source), "--sink", str(sink),
                "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--jurisdiction", "DE"])
    captured = capsys.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    return Outcome(tmp_path, code, captured.out + captured.err + logs, sink)


def note(i: int) -> str:
    return f"ticket {i} from {PLANTED}"


# --------------------------------------------------------------------------- rows lost with a green check


def test_big_integer_line_is_read_and_the_rest_of_the_file_too(tmp_path, monkeypatch, capsys, caplog):
    # before: read=2 (one source_error), rows 3 and 4 gone, check OK, exit 0
    src = tmp_path / "in.jsonl"
    big = "7" * 4301
    src.write_text("\n".join([
        json.dumps({"id": 1, "note": note(1)}), f'{{"id": {big}, "note": "{note(2)}"}}',
        json.dumps({"id": 3, "note": note(3)}), json.dumps({"id": 4, "note": note(4)}),
    ]) + "\n")
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src)
    assert out.code == 0, out.text
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (4, 4, {})
    out.assert_accounted()
    assert out.manifest["check"]["holds"] and out.manifest["sources_incomplete"] == []
    ids = sorted(str(r["id"]) for r in out.delivered())
    assert ids == sorted(["1", big, "3", "4"])  # the big one kept exactly, as its digit string
    out.assert_nothing_in_clear()


@pytest.mark.slow
def test_truncated_gzip_fails_the_check_with_the_position_reached(tmp_path, monkeypatch, capsys, caplog):
    # before: read=998, nothing quarantined, exit 0: 1,002 rows lost, the cut-off fragment delivered
    rows = "".join(f"{i},{note(i)}\n" for i in range(2000))
    data = gzip.compress(("id,note\n" + rows).encode(), mtime=0)
    src = tmp_path / "in.csv.gz"
    src.write_bytes(data[: len(data) // 2])
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src)
    assert out.code == 1
    c = out.counts
    assert out.by_reason == {"source_error": 1}
    assert c["read"] == c["delivered"] + 1 and 0 < c["delivered"] < 2000
    out.assert_accounted()
    check = out.manifest["check"]
    assert not check["holds"] and "could not be read to the end" in check["error"]
    [incomplete] = out.manifest["sources_incomplete"]
    assert incomplete["source"].endswith("in.csv.gz")
    assert incomplete["position"] == f"after line {c['delivered'] + 1}"  # the header is line 1
    assert "compressed" in incomplete["detail"] and "decompressed bytes" in incomplete["detail"]
    ids = sorted(int(r["id"]) for r in out.delivered())
    assert ids == list(range(c["delivered"]))  # every delivered row whole; no cut-off fragment
    assert all(r["note"].startswith("ticket ") for r in out.delivered())
    assert "NOT READ TO THE END" in out.text
    out.assert_nothing_in_clear()


# --------------------------------------------------------------------------- one record kills the run


def test_deeply_nested_record_is_quarantined_alone(tmp_path, monkeypatch, capsys, caplog):
    # before: RecursionError while Beam pickled; the whole job failed, read 0, nothing delivered
    src = tmp_path / "in.jsonl"
    deep = '{"a":' * 900 + json.dumps(note(2)) + "}" * 900
    src.write_text("\n".join([json.dumps({"id": 1, "note": note(1)}), deep,
                              json.dumps({"id": 3, "note": note(3)})]) + "\n")
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src)
    assert out.code == 0, out.text
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (3, 2, {"too_deep": 1})
    out.assert_accounted()
    [entry] = out.entries
    assert (entry["reason"], entry["ref"]) == ("too_deep", "line 2") and PLANTED.encode() in entry["raw"]
    out.assert_nothing_in_clear()


def test_parquet_sink_widens_a_column_of_mixed_types(tmp_path, monkeypatch, capsys, caplog):
    # before: "pipeline error: ValueError (details at DEBUG log level)", the column never named, exit 1
    src = tmp_path / "in.jsonl"
    rows = [{"id": 1, "note": note(1)}, {"id": "A-2", "note": note(2)}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src, "out.parquet")
    assert out.code == 0, out.text
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (2, 2, {})
    out.assert_accounted()
    assert pq.read_schema(out.sink).field("id").type == pa.string()
    assert sorted(r["id"] for r in out.delivered()) == ["1", "A-2"]
    out.assert_nothing_in_clear()


def test_record_the_sink_cannot_hold_is_quarantined_not_delivered(tmp_path, monkeypatch, capsys, caplog):
    """A value with no JSON form reaching the sink (here from a source transform that yields one):
    ``sink_type_error`` naming the field, counted as quarantined, never as delivered."""
    import apache_beam as beam

    from redactline.connectors.records import Record, RecordMeta

    class OddSource(beam.PTransform):
        def expand(self, pbegin):
            meta = RecordMeta("test://odd", "item 1", "DE")
            records = pbegin | "Records" >> beam.Create([
                Record({"id": "1", "tags": {"x", "y"}}, meta), Record({"id": "2", "tags": ["x"]}, meta)])
            return {"records": records, "rejected": pbegin | "None" >> beam.Create([])}

    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    sink = tmp_path / "out" / "out.jsonl"
    code = run(["--policy", str(DEMO_POLICY), "--source", "unused.jsonl", "--sink", str(sink),
                "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--no-profile"], source=OddSource())
    capsys.readouterr()
    out = Outcome(tmp_path, code, "", sink)
    assert out.code == 0
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (2, 1, {"sink_type_error": 1})
    out.assert_accounted()
    [entry] = out.entries
    assert entry["detail"] == "field 'tags': UnsupportedValue has no JSON form"
    assert (entry["reason"], entry["ref"]) == ("sink_type_error", "field tags")
    assert [r["id"] for r in out.delivered()] == ["2"]


def test_parquet_source_with_a_repeated_column_is_a_source_error(tmp_path, monkeypatch, capsys, caplog):
    # before: one "notes" column silently dropped, exit 0
    table = pa.Table.from_arrays([pa.array(["1"]), pa.array([note(1)]), pa.array([note(2)])],
                                 names=["id", "notes", "notes"])
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src)
    assert out.code == 1
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (1, 0, {"source_error": 1})
    out.assert_accounted()
    [incomplete] = out.manifest["sources_incomplete"]
    assert (incomplete["position"], incomplete["detail"]) == ("file", "column 3 repeats the name of column 2")
    out.assert_nothing_in_clear()


def test_duplicate_json_key_is_a_parse_error_for_that_record(tmp_path, monkeypatch, capsys, caplog):
    src = tmp_path / "in.jsonl"
    src.write_text(f'{{"id": 1, "note": "{note(1)}", "note": "fine"}}\n' + json.dumps({"id": 2}) + "\n")
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src)
    assert out.code == 0
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (2, 1, {"parse_error": 1})
    out.assert_accounted()
    out.assert_nothing_in_clear()


# --------------------------------------------------------------------------- JSON that is JSON


@pytest.mark.parametrize("sink_name", ["out.jsonl", "out.csv", "out.parquet"])
def test_non_finite_numbers_are_null_and_never_redacted(tmp_path, monkeypatch, capsys, caplog, sink_name):
    # before: Infinity / 1e999999 wrote invalid JSON lines, NaN came out as "<PERSON_1>"
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "a": NaN, "b": Infinity, "c": -Infinity, "d": 1e999999, "e": 2.5}\n'
                   + json.dumps({"id": 2, "a": 0.5, "b": 1, "c": 2, "d": 3, "e": 4, "note": note(2)}) + "\n")
    out = run_case(tmp_path, monkeypatch, capsys, caplog, src, sink_name)
    assert out.code == 0, out.text
    assert (out.counts["read"], out.counts["delivered"], out.by_reason) == (2, 2, {})
    out.assert_accounted()
    if sink_name.endswith(".jsonl"):
        rows = [strict(line) for line in out.sink.read_text().splitlines()]  # strict JSON, every line
    else:
        rows = out.delivered()
    first = next(r for r in rows if str(r["id"]) == "1")
    empty = "" if sink_name.endswith(".csv") else None
    assert [first[k] for k in "abcd"] == [empty] * 4
    assert "PERSON" not in json.dumps(first)
    out.assert_nothing_in_clear()
