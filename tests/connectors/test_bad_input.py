"""Issue 14, connector level: bad input is quarantined per line/row/file and reading goes on.

Each test reproduces one finding on the parser or sink alone (no Beam): the whole-run outcomes
(manifest counts, exit codes) are in ``tests/pipelines/test_no_silent_loss.py``.
"""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.connectors.compressed import CheckedDecompressor, CorruptStream, TruncatedStream
from redactline.connectors.file_sinks import (
    ColumnKinds,
    join_kinds,
    json_row,
    kind_of,
    parquet_misfit,
    parquet_row,
)
from redactline.connectors.http_api import Page, page_outputs
from redactline.connectors.jsonl_io import parse_jsonl
from redactline.connectors.limits import Limits, depth_of, json_text_too_deep
from redactline.connectors.parquet_io import parse_parquet
from redactline.connectors.records import (
    PARSE_ERROR,
    SINK_TYPE_ERROR,
    SOURCE_ERROR,
    TOO_DEEP,
    Record,
    Rejected,
)

BIG_INT = "9" * 4301  # one digit past Python's int/str conversion limit


def jsonl(data: bytes, **limits) -> list[Record | Rejected]:
    return list(parse_jsonl(io.BytesIO(data), "file:///in.jsonl", limits=Limits(**limits)))


def deep_line(levels: int) -> bytes:
    return b'{"a":' * levels + b'"x"' + b"}" * levels


# --------------------------------------------------------------------------- rows lost with a green check


def test_integer_past_the_digit_limit_is_kept_as_its_digits_and_reading_goes_on():
    # before: ValueError from int() ended the file at line 2 (rows 3 and 4 never read)
    big = BIG_INT.encode()
    data = b'{"n": 1}\n{"n": ' + big + b', "m": -' + big + b'}\n{"n": 3}\n{"n": 4}\n'
    items = jsonl(data)
    assert all(isinstance(i, Record) for i in items) and len(items) == 4
    assert items[1].fields == {"n": BIG_INT, "m": "-" + BIG_INT}  # exact, as text
    assert [i.fields["n"] for i in (items[0], items[2], items[3])] == [1, 3, 4]
    assert isinstance(jsonl(b'{"n": ' + b"9" * 4300 + b"}\n")[0].fields["n"], int)


def test_any_unparsable_line_is_quarantined_and_the_next_line_read():
    items = jsonl(b'{"a": 1}\n{"a": \n{"a": 1, "a": 2}\n{"b": 2}\n')
    assert [(type(i).__name__, i.meta.ref) for i in items] == [
        ("Record", "line 1"), ("Rejected", "line 2"), ("Rejected", "line 3"), ("Record", "line 4")]
    assert items[1].reason == items[2].reason == PARSE_ERROR
    assert items[2].detail == "JSON object repeats a key"  # last-wins would hide a value from review


def gz_csv(rows: int) -> bytes:
    text = "id,name\n" + "".join(f"{i},person number {i}\n" for i in range(rows))
    return gzip.compress(text.encode(), mtime=0)


def test_truncated_gzip_raises_with_the_position_and_never_yields_the_cut_off_line():
    # before: Beam's reader ended quietly at the cut and the fragment was a valid record
    data = gz_csv(2000)
    stream = CheckedDecompressor(io.BytesIO(data[: len(data) // 2]), "gzip")
    lines = []
    with pytest.raises(TruncatedStream) as caught:
        for line in iter(stream.readline, b""):
            lines.append(line)
    assert caught.value.compressed == len(data) // 2 and caught.value.decompressed > 0
    assert "compressed" in str(caught.value) and "person" not in str(caught.value)
    assert all(line.endswith(b"\n") for line in lines[:-1])
    whole = CheckedDecompressor(io.BytesIO(data + data), "gzip").read()  # concatenated members
    assert whole.count(b"\n") == 2 * 2001


def test_corrupt_compressed_data_is_an_error_not_a_short_file():
    data = bytearray(gz_csv(200))
    data[40:60] = b"\x00" * 20
    with pytest.raises(CorruptStream):
        CheckedDecompressor(io.BytesIO(bytes(data)), "gzip").read()


# --------------------------------------------------------------------------- one record kills the run


def test_deep_nesting_is_too_deep_per_record_and_parsing_never_recurses():
    # before: a 900-deep record parsed, then failed the whole job with RecursionError while Beam pickled
    lines = [b'{"ok": 1}', deep_line(900), deep_line(200_000), deep_line(64)]
    items = jsonl(b"\n".join(lines) + b"\n")
    assert [(i.meta.ref, getattr(i, "reason", "record")) for i in items] == [
        ("line 1", "record"), ("line 2", TOO_DEEP), ("line 3", TOO_DEEP), ("line 4", "record")]
    assert items[1].detail == "nested deeper than 64 levels"
    assert depth_of(items[3].fields, 64) == 64
    assert jsonl(deep_line(10) + b"\n", max_depth=5)[0].reason == TOO_DEEP


def test_brackets_inside_strings_do_not_count_as_depth():
    text = json.dumps({"s": "[" * 100 + '\\"{' * 100, "t": ["]" * 3]}).encode()
    assert not json_text_too_deep(text, 2)
    assert json_text_too_deep(b'{"a": [[["x"]]]}', 3) and not json_text_too_deep(b'{"a": [["x"]]}', 3)


def test_http_item_nested_too_deep_is_quarantined_alone():
    deep: dict = {}
    cursor = deep
    for _ in range(100):
        cursor["a"] = {}
        cursor = cursor["a"]
    out = list(page_outputs(Page(1, items=[{"ok": 1}, deep]), "http://127.0.0.1/items"))
    assert isinstance(out[0], Record) and (out[1].reason, out[1].meta.ref) == (TOO_DEEP, "page 1 item 2")
    assert json.loads(out[1].raw) == deep


def test_parquet_source_with_a_repeated_column_name_is_a_source_error(tmp_path):
    # before: the second "notes" column silently replaced the first
    table = pa.Table.from_arrays([pa.array(["1"]), pa.array(["first"]), pa.array(["second"])],
                                 names=["id", "notes", "notes"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with open(tmp_path / "dup.parquet", "rb") as stream:
        items = list(parse_parquet(stream, "file:///dup.parquet"))
    assert [(i.reason, i.meta.ref, i.detail) for i in items] == [
        (SOURCE_ERROR, "file", "column 3 repeats the name of column 2")]


def test_parquet_schema_widens_by_a_documented_order_free_rule():
    assert join_kinds("int", "float") == "float" and join_kinds("int", "string") == "string"
    assert join_kinds("null", "bool") == "bool" and join_kinds("bool", "int") == "string"
    # outside int64; Parquet has no empty struct
    assert kind_of(2**63) == "string" and kind_of({}) == "string"
    assert join_kinds(kind_of([1]), kind_of([1.5])) == pa.list_(pa.float64())
    assert join_kinds(kind_of({"a": 1}), kind_of({"a": "x"})) == "string"
    rows = [{"id": 1}, {"id": "A-7"}, {"id": None}, {"id": 2.5}]
    schemas = set()
    for order in (rows, rows[::-1], rows[1:] + rows[:1]):
        fn = ColumnKinds()
        accs = [fn.add_input(fn.create_accumulator(), r) for r in order]
        schemas.add(fn.extract_output(fn.merge_accumulators(accs)))
    assert schemas == {pa.schema([("id", pa.string())])}
    schema = pa.schema([("id", pa.string()), ("v", pa.int64())])
    assert parquet_row({"id": 1, "v": 2}, schema) == {"id": "1", "v": 2}
    assert parquet_misfit({"id": "x", "v": "not an int"}, schema) == "v"  # names the field


def test_sink_row_without_a_json_form_is_rejected_naming_the_field_not_the_value():
    bad = json_row({"ok": 1, "tags": {"Robert Whitfield"}}, "file:///out.jsonl")
    assert isinstance(bad, Rejected) and bad.reason == SINK_TYPE_ERROR and bad.meta.ref == "field tags"
    assert "Whitfield" not in bad.detail and "'tags'" in bad.detail


# --------------------------------------------------------------------------- JSON that is JSON


def test_non_finite_numbers_read_as_null_in_every_json_source():
    # before: NaN/Infinity became strings, the redactor saw "NaN" as a name; 1e999999 wrote Infinity
    items = jsonl(b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e999999, "e": -1e999999, "f": 1.5}\n')
    assert items[0].fields == {"a": None, "b": None, "c": None, "d": None, "e": None, "f": 1.5}
    assert json_row({"x": float("nan"), "y": [float("inf")]}, "s") == {"x": None, "y": [None]}
