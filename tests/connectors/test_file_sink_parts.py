"""A shard larger than ``ROWS_PER_PART`` is written in parts on the workers and joined into one file:
the same rows (CSV header once, Parquet schema and metadata kept), no part file left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.connectors import file_sinks
from redactline.connectors.file_sinks import WriteRecords, read_back
from tests.support.beam import pipeline

ROWS = [{"id": i, "name": f"person {i}", "score": i / 4} for i in range(60)]


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_single_file_is_joined_from_parts(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(file_sinks, "ROWS_PER_PART", 7)  # 60 rows -> 9 parts (in-process runner)
    assert file_sinks.parts_per_shard(len(ROWS), 1) == 9
    path = str(tmp_path / f"out.{fmt}")
    meta = {"policy": "p@1"}
    with pipeline() as p:
        p | beam.Create(ROWS) | WriteRecords(path, fmt, metadata=meta if fmt == "parquet" else None)
    assert os.listdir(tmp_path) == [f"out.{fmt}"]  # the parts and the temporary name are gone
    got = read_back(path)
    if fmt == "csv":
        expected = [{k: str(v) for k, v in r.items()} for r in ROWS]
        assert Path(path).read_text().count("id,name,score") == 1
    else:
        expected = ROWS
    assert sorted(map(_key, got)) == sorted(map(_key, expected))
    if fmt == "parquet":
        schema = pq.read_schema(path)
        assert schema.field("id").type == pa.int64() and schema.metadata == {b"policy": b"p@1"}


def test_shards_are_joined_from_their_own_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(file_sinks, "ROWS_PER_PART", 5)
    prefix = str(tmp_path / "rows")
    with pipeline() as p:
        p | beam.Create(ROWS) | WriteRecords(prefix, "jsonl", num_shards=3)
    names = sorted(os.listdir(tmp_path))
    assert names == [f"rows-0000{i}-of-00003.jsonl" for i in range(3)]
    for i, name in enumerate(names):
        rows = read_back(str(tmp_path / name))
        assert rows and all(file_sinks.shard_of(r, 3) == i for r in rows)
    assert sorted(map(_key, read_back(prefix + "-*"))) == sorted(map(_key, ROWS))


def test_jsonl_with_a_known_shard_count_writes_parts_where_the_rows_are(tmp_path, monkeypatch):
    # no step groups the rows (nor waits for their count): each bundle streams them into its own parts
    monkeypatch.setattr(file_sinks, "ROWS_PER_PART", 7)
    path = str(tmp_path / "out.jsonl")
    p = beam.Pipeline()
    p | beam.Create(ROWS) | WriteRecords(path, "jsonl")
    labels = {t.unique_name.rsplit("/", 1)[-1] for t in p.to_runner_api().components.transforms.values()}
    assert "WriteParts" in labels and not {"GroupShards", "CountRows", "AssignShard"} & labels
    p.run().wait_until_finish()
    assert os.listdir(tmp_path) == ["out.jsonl"]
    assert sorted(map(_key, read_back(path))) == sorted(map(_key, ROWS))
