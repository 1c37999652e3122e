"""Unit tests for the JSONL and Parquet parsers (no Beam)."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from redactline.connectors.jsonl_io import parse_jsonl
from redactline.connectors.limits import Limits
from redactline.connectors.parquet_io import parse_parquet
from redactline.connectors.records import (
    INVALID_UTF8,
    OVERSIZE,
    PARSE_ERROR,
    SOURCE_ERROR,
    Record,
    Rejected,
)

SECRET = "SECRET-PII-jane@example.com"


def summary(items: list[Record | Rejected]) -> list[tuple[str, str]]:
    return [("record" if isinstance(i, Record) else i.reason, i.meta.ref) for i in items]


def jsonl(data: bytes, **limits: int) -> list[Record | Rejected]:
    return list(parse_jsonl(io.BytesIO(data), "file:///in.jsonl", jurisdiction="EU", limits=Limits(**limits)))


def test_jsonl_every_bad_line_kind_and_the_good_lines_around_them():
    lines = [
        b'{"name": "ann", "n": 1}',
        b"",
        f'{{"name": "{SECRET}"'.encode(),  # truncated JSON
        f'["{SECRET}"]'.encode(),  # not an object
        f'"{SECRET}"'.encode(),
        b'{"note": "caf\xe9"}',  # latin-1, not UTF-8
        f'{{"a": "{SECRET}", "a": 2}}'.encode(),  # repeated key
        b"   ",
        b'{"name": "bob", "nested": {"k": [1, 2]}}',
    ]
    items = jsonl(b"\n".join(lines) + b"\n")
    assert summary(items) == [
        ("record", "line 1"), (PARSE_ERROR, "line 3"), (PARSE_ERROR, "line 4"), (PARSE_ERROR, "line 5"),
        (INVALID_UTF8, "line 6"), (PARSE_ERROR, "line 7"), ("record", "line 9")]
    assert items[0].fields == {"name": "ann", "n": 1}
    assert items[-1].fields == {"name": "bob", "nested": {"k": [1, 2]}}
    assert items[0].meta.jurisdiction == "EU"
    assert items[2].detail == "JSON value is an array, not an object"
    assert items[4].raw == lines[5] + b"\n"
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert all(SECRET not in i.detail for i in rejected)
    # every non-blank line is accounted for exactly once
    assert len(items) == sum(1 for line in lines if line.strip())


def test_jsonl_oversize_line_and_oversize_field():
    big_line = json.dumps({"x": "y" * 5000}).encode()
    data = b'{"a": 1}\n' + big_line + b"\n" + json.dumps({"b": "z" * 300}).encode() + b'\n{"c": 3}'
    items = jsonl(data, max_field_bytes=200, max_record_bytes=1000)
    assert summary(items) == [
        ("record", "line 1"), (OVERSIZE, "line 2"), (OVERSIZE, "line 3"), ("record", "line 4")]
    assert len(items[1].raw) <= 1000
    assert items[2].detail == "field 1 is 300 bytes"
    assert items[3].fields == {"c": 3}


def test_jsonl_bom_and_crlf():
    items = jsonl(b'\xef\xbb\xbf{"a": 1}\r\n{"a": 2}\r\n')
    assert [i.fields for i in items] == [{"a": 1}, {"a": 2}]


def parquet_bytes(table: pa.Table, **kwargs) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    buf.seek(0)
    return buf


def test_parquet_typed_values_become_json_friendly():
    table = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "when": pa.array([dt.datetime(2024, 5, 6, 7, 8, 9)] * 2, pa.timestamp("us", tz="UTC")),
        "day": pa.array([dt.date(2024, 1, 2), None]),
        "amount": pa.array([Decimal("12.50"), Decimal("-0.01")], pa.decimal128(10, 2)),
        "text": pa.array([b"plain text", None], pa.binary()),
        "tags": pa.array([["a", "b"], []]),
        "attrs": pa.array([[("k", "v")], None], pa.map_(pa.string(), pa.string())),
        "point": pa.array([{"x": 1.5, "y": None}, None]),
    })
    items = list(parse_parquet(parquet_bytes(table), "file:///t.parquet"))
    assert summary(items) == [("record", "row 1"), ("record", "row 2")]
    assert items[0].fields == {
        "id": 1, "when": "2024-05-06T07:08:09+00:00", "day": "2024-01-02", "amount": "12.50",
        "text": "plain text", "tags": ["a", "b"], "attrs": {"k": "v"}, "point": {"x": 1.5, "y": None}}
    assert items[1].fields["amount"] == "-0.01"
    assert items[1].fields["day"] is None
    json.dumps([i.fields for i in items])  # JSON-friendly all the way down


def test_parquet_binary_that_is_not_text_is_rejected_with_the_row_kept():
    table = pa.table({"id": [1, 2, 3], "blob": pa.array([b"ok", b"\xff\xfe\x00", b"ok"], pa.binary())})
    items = list(parse_parquet(parquet_bytes(table), "file:///t.parquet"))
    assert summary(items) == [("record", "row 1"), (INVALID_UTF8, "row 2"), ("record", "row 3")]
    assert items[1].detail == "field 2 is binary, not UTF-8 text"
    kept = pa.ipc.open_stream(items[1].raw).read_all()
    assert kept.to_pylist() == [{"id": 2, "blob": b"\xff\xfe\x00"}]


def test_parquet_rows_are_numbered_across_batches_and_row_groups():
    table = pa.table({"n": list(range(2500))})
    items = list(parse_parquet(parquet_bytes(table, row_group_size=700), "file:///t.parquet", batch_size=300))
    assert [i.fields["n"] for i in items] == list(range(2500))
    assert [i.meta.ref for i in items[:2]] == ["row 1", "row 2"]
    assert items[-1].meta.ref == "row 2500"


def test_parquet_oversize_string():
    table = pa.table({"a": ["short", "x" * 300]})
    items = list(parse_parquet(parquet_bytes(table), "s", limits=Limits(max_field_bytes=100)))
    assert summary(items) == [("record", "row 1"), (OVERSIZE, "row 2")]


def test_corrupt_parquet_is_one_source_error_not_a_crash():
    items = list(parse_parquet(io.BytesIO(b"PAR1 this is not parquet PAR1"), "file:///bad.parquet"))
    assert [(i.reason, i.meta.ref) for i in items] == [(SOURCE_ERROR, "file")]


def test_parquet_damaged_in_the_middle_reports_where_reading_stopped():
    table = pa.table({"n": list(range(3000)), "s": [f"value {i}" for i in range(3000)]})
    good = parquet_bytes(table, row_group_size=1000, compression="none").getvalue()
    start = good.index(b"value 1500")
    damaged = good[:start] + b"\xff" * 4000 + good[start + 4000:]
    items = list(parse_parquet(io.BytesIO(damaged), "file:///t.parquet", batch_size=1000))
    records = [i for i in items if isinstance(i, Record)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(i.reason, i.meta.ref) for i in rejected] == [(SOURCE_ERROR, f"row {len(records) + 1}")]
    assert [r.fields["n"] for r in records] == list(range(len(records)))  # good rows before the damage
    assert len(records) < 3000
