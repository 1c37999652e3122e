"""ReadRecords / WriteRecords in real Beam pipelines on the test runner (the in-process FnApiRunner)."""

from __future__ import annotations

import gzip
import json
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from redactline.connectors.files import ReadRecords, WriteRecords, infer_format, read_back, source_uri
from redactline.connectors.records import FIELD_COUNT, PARSE_ERROR, SOURCE_ERROR, UNCLOSED_QUOTE
from tests.support.beam import pipeline


def make_inputs(folder) -> None:
    (folder / "a.csv").write_bytes(b'id,name\n1,ann\n2,"bo\nb"\n3,"stray\n4,dan\n5,eve,extra\n')
    with gzip.open(folder / "b.csv.gz", "wb") as out:
        out.write(b"id,name\n6,fay\n")
    (folder / "c.jsonl").write_bytes(b'{"id": "7", "name": "gus"}\n\n[1]\n{"id": "8", "name": "hal"}\n')
    pq.write_table(pa.table({"id": ["9", "10"], "name": ["ivy", "jon"]}), folder / "d.parquet")
    (folder / "e.txt").write_bytes(b"what format is this?\n")


EXPECTED_RECORDS = [
    ("a.csv", "line 2", {"id": "1", "name": "ann"}),
    ("a.csv", "line 3", {"id": "2", "name": "bo\nb"}),
    ("a.csv", "line 6", {"id": "4", "name": "dan"}),
    ("b.csv.gz", "line 2", {"id": "6", "name": "fay"}),
    ("c.jsonl", "line 1", {"id": "7", "name": "gus"}),
    ("c.jsonl", "line 4", {"id": "8", "name": "hal"}),
    ("d.parquet", "row 1", {"id": "9", "name": "ivy"}),
    ("d.parquet", "row 2", {"id": "10", "name": "jon"}),
]
EXPECTED_REJECTED = [
    ("a.csv", "line 5", UNCLOSED_QUOTE),
    ("a.csv", "line 7", FIELD_COUNT),
    ("c.jsonl", "line 3", PARSE_ERROR),
    ("e.txt", "file", SOURCE_ERROR),
]


def test_infer_format_and_source_uri(tmp_path):
    assert [infer_format(p) for p in ("x.CSV", "x.csv.gz", "x.ndjson", "x.jsonl", "x.parquet", "x.txt")] == [
        "csv", "csv", "jsonl", "jsonl", "parquet", None]
    assert source_uri(str(tmp_path / "x.csv")) == "file://" + str(tmp_path / "x.csv")
    assert source_uri("gs://bucket/x.csv") == "gs://bucket/x.csv"


def test_read_a_glob_of_mixed_formats(tmp_path, beam_pipeline):
    make_inputs(tmp_path)
    base = "file://" + str(tmp_path) + "/"
    with beam_pipeline() as p:
        out = p | ReadRecords(str(tmp_path / "*"), jurisdiction="EU")
        records = out["records"] | "R" >> beam.Map(
            lambda r: (r.meta.source.removeprefix(base), r.meta.ref, r.fields, r.meta.jurisdiction))
        rejected = out["rejected"] | "J" >> beam.Map(
            lambda r: (r.meta.source.removeprefix(base), r.meta.ref, r.reason))
        assert_that(records, equal_to([(*e, "EU") for e in EXPECTED_RECORDS]), label="records")
        assert_that(rejected, equal_to(EXPECTED_REJECTED), label="rejected")


def test_explicit_format_overrides_the_extension(tmp_path, beam_pipeline):
    (tmp_path / "data.txt").write_bytes(b'{"k": "v"}\n')
    with beam_pipeline() as p:
        out = p | ReadRecords(str(tmp_path / "data.txt"), fmt="jsonl")
        assert_that(out["records"] | beam.Map(lambda r: r.fields), equal_to([{"k": "v"}]))


def test_undecodable_compressed_file_is_one_source_error(tmp_path, beam_pipeline):
    (tmp_path / "x.csv.gz").write_bytes(b"this is not gzip data")
    (tmp_path / "y.csv").write_bytes(b"a\n1\n")
    with beam_pipeline() as p:
        out = p | ReadRecords(str(tmp_path / "*"))
        assert_that(out["records"] | "R" >> beam.Map(lambda r: r.fields), equal_to([{"a": "1"}]), label="ok")
        why = out["rejected"] | "J" >> beam.Map(lambda r: (r.reason, r.meta.ref, r.detail))
        expected = ("reading failed (at the start): corrupt compressed data (error) after 21 compressed / "
                    "0 decompressed bytes")
        assert_that(why, equal_to([(SOURCE_ERROR, "file", expected)]), label="bad")


def test_a_file_read_in_many_ranges_gives_the_whole_files_items(tmp_path, beam_pipeline):
    """Pass 1 cuts the file at clean boundaries (tiny ranges force a cut at nearly every record), pass 2
    parses each range: together they give exactly what one parse of the whole file gives."""
    from redactline.connectors.file_ranges import plan_ranges
    from redactline.connectors.files import parse_stream

    body = "".join(f'{i},"two\nlines {i}"\n' if i % 3 else f"{i},plain {i}\n" for i in range(120))
    path = tmp_path / "big.csv"
    path.write_bytes(b"id,note\n" + body.encode() + b'120,"stray\n121,after\n122,x,extra\n')
    source = source_uri(str(path))
    with open(path, "rb") as stream:
        whole = list(parse_stream(stream, "csv", source))
    with open(path, "rb") as stream:
        assert len(list(plan_ranges(stream, str(path), "csv", target_bytes=64))) > 10
    expected = [(item.meta.ref, getattr(item, "fields", None) or item.reason) for item in whole]
    with beam_pipeline() as p:
        out = p | ReadRecords(str(path), range_bytes=64)
        items = ((out["records"] | "R" >> beam.Map(lambda r: (r.meta.ref, r.fields)),
                  out["rejected"] | "J" >> beam.Map(lambda r: (r.meta.ref, r.reason))) | beam.Flatten())
        assert_that(items, equal_to(expected))


def test_no_match_names_the_pattern(tmp_path, beam_pipeline):
    pattern = str(tmp_path / "nothing-*.csv")
    p = beam_pipeline()
    with pytest.raises(FileNotFoundError, match="nothing-"):
        _ = p | ReadRecords(pattern)
    with pytest.raises(ValueError, match="unknown format"):
        ReadRecords(pattern, fmt="xml")


ROWS = [
    {"id": i, "name": f"person {i}", "score": i / 4, "ok": i % 2 == 0, "tags": ["a", str(i)],
     "address": {"city": "Zürich", "zip": str(8000 + i)}, **({"extra": "only some"} if i % 5 == 0 else {})}
    for i in range(40)
]


def write(rows, prefix: str, fmt: str, num_shards: int = 0) -> list[str]:
    """Run the sink; assert that the PCollection it returns names exactly the files on disk."""
    folder = os.path.dirname(prefix)
    with pipeline() as p:
        files = p | beam.Create(rows) | WriteRecords(prefix, fmt, num_shards)
        on_disk = _ListDir(folder)
        assert_that(files | beam.combiners.ToList() | beam.Map(sorted), equal_to_listing(on_disk))
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


class _ListDir:
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        return sorted(os.path.join(self.folder, n) for n in os.listdir(self.folder))


def equal_to_listing(listing: _ListDir):
    def check(actual):
        assert actual == [listing.names()], (actual, listing.names())
    return check


def key(row: dict) -> str:
    return json.dumps(row, sort_keys=True)


def test_jsonl_sink_round_trip_with_shards(tmp_path):
    files = write(ROWS, str(tmp_path / "out" / "part"), "jsonl", num_shards=3)
    assert [os.path.basename(f) for f in files] == [f"part-0000{i}-of-00003.jsonl" for i in range(3)]
    assert sorted(read_back(str(tmp_path / "out" / "part-*")), key=key) == sorted(ROWS, key=key)
    first = (tmp_path / "out" / "part-00000-of-00003.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert ": " not in first and json.loads(first)  # compact, one object per line


def test_csv_sink_round_trip_header_is_sorted_union(tmp_path):
    write(ROWS, str(tmp_path / "rows.csv"), "csv")
    header = (tmp_path / "rows.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "address,extra,id,name,ok,score,tags"
    back = read_back(str(tmp_path / "rows.csv"))

    def as_csv(row: dict) -> dict:
        cells = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                 for k, v in row.items()}
        return {"extra": "", **cells}

    assert sorted(back, key=key) == sorted((as_csv(r) for r in ROWS), key=key)


def test_parquet_sink_round_trip_infers_a_union_schema(tmp_path):
    files = write(ROWS, str(tmp_path / "pq" / "rows"), "parquet", num_shards=2)
    assert len(files) == 2
    schema = pq.read_schema(files[0])
    assert schema.names == sorted(schema.names)
    assert schema.field("score").type == pa.float64()
    back = read_back(str(tmp_path / "pq" / "*.parquet"))
    expected = [{"extra": None, **row} for row in ROWS]
    assert sorted(back, key=key) == sorted(expected, key=key)


def test_parquet_sink_widens_columns_with_incompatible_types_to_string(tmp_path):
    # issue 14: int + str no longer fails the job; the column is a string column (non-strings as JSON text)
    write([{"v": 1}, {"v": "text"}, {"v": None}], str(tmp_path / "mixed.parquet"), "parquet")
    assert pq.read_schema(tmp_path / "mixed.parquet").field("v").type == pa.string()
    assert sorted(read_back(str(tmp_path / "mixed.parquet")), key=key) == sorted(
        [{"v": "1"}, {"v": "text"}, {"v": None}], key=key)


def run_read_write(inputs: str, out: str, extra: list[str]) -> None:
    with pipeline(*extra) as p:
        read = p | ReadRecords(inputs)
        fields = read["records"] | "Fields" >> beam.Map(
            lambda r: {"src": r.meta.source, "ref": r.meta.ref, **r.fields})
        fields | "WriteRecords" >> WriteRecords(out + "/records", "jsonl", num_shards=2)
        why = read["rejected"] | "Why" >> beam.Map(
            lambda r: {"src": r.meta.source, "ref": r.meta.ref, "reason": r.reason})
        why | "WriteRejected" >> WriteRecords(out + "/rejected", "jsonl", num_shards=1)


@pytest.mark.slow
def test_multiprocess_runner_gives_identical_outputs(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    make_inputs(inputs)
    for i in range(6):
        (inputs / f"more{i}.csv").write_text("id,name\n" + "".join(f"{i}{j},n{j}\n" for j in range(200)))
    run_read_write(str(inputs / "*"), str(tmp_path / "one"), [])
    run_read_write(str(inputs / "*"), str(tmp_path / "two"),
                   ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    for kind in ("records", "rejected"):
        one = sorted(os.listdir(tmp_path / "one"))
        assert one == sorted(os.listdir(tmp_path / "two"))
        for name in (n for n in one if n.startswith(kind)):
            # same rows in the same shard files; the order inside a shard is the runner's
            lines = [sorted((tmp_path / run / name).read_text().splitlines()) for run in ("one", "two")]
            assert lines[0] == lines[1]
    assert len(read_back(str(tmp_path / "two" / "records-*"))) == len(EXPECTED_RECORDS) + 6 * 200
    assert len(read_back(str(tmp_path / "two" / "rejected-*"))) == len(EXPECTED_REJECTED)
