"""A file cut into ranges (``file_ranges``) parses to exactly what the whole-file parser gives."""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.connectors.file_ranges import FileRange, parse_range, plan_ranges
from redactline.connectors.files import parse_stream
from redactline.connectors.limits import Limits
from redactline.connectors.records import INVALID_UTF8, PARSE_ERROR, SOURCE_ERROR, Record, Rejected

SRC = "file:///data/in"
TARGETS = (1, 37, 200, 10**9)
SMALL = Limits(max_field_bytes=12, max_record_bytes=40, max_record_lines=3)

CSV_CASES = {
    "quoted newlines": b'name,note\r\nann,"a, ""q""\r\nmulti"\r\nbob,plain\r\ncy,"x\n\ny"\n',
    "stray quote recovered": b'a,b\n1,2\n3,"never closed\n4,5\n6,7\n',
    "quote closes later into a bad record": b'a,b\n1,"stray\n2,x\n\n3,y\n"4",5\n6,7\n',
    "quote closes later into a good record": b'a,b\n1,"two\nlines"\n2,x\n',
    "record over max_record_lines": b'a,b\n1,"l1\nl2\nl3\nl4\nl5"\n5,6\n7,"8\n9"\n',
    "oversize lines": b'a,b\n1,ok\n2,' + b"z" * 90 + b'\n3,"' + b"q" * 70 + b'"\n4,"multi\nline"\n5,ok\n',
    "oversize line with an open quote": b'a,b\n1,"' + b"q" * 90 + b'\n2,x\n3,"y"\n',
    "field count": b"a,b,c\n1,2,3\n1,2\n1,2,3,4\n5,6,7\n",
    "invalid utf-8": b"a,b\n0,ok\n1,caf\xe9\n2,caf\xc3\xa9\n3,\"x\xff\ny\"\n",
    "bom and blank lines": b"\xef\xbb\xbfa,b\n\n1,2\n\r\n\n3,4\n\n",
    "blank lines everywhere": b"\n\na,b\n\n\n1,2\n\n3,\"x\n\n\ny\"\n\n\n",
    "crlf": b"a,b\r\n1,2\r\n3,\"4\r\n5\"\r\n6,7\r\n",
    "no trailing newline": b"a,b\n1,2\n3,4",
    "unclosed quote at the very end": b'a,b\n1,2\n3,"4',
    "malformed record": b'a,b\n1,"x"y\n2,3\n',
    "duplicate header": b"a,a\n1,2\n3,4\n",
    "empty header name": b"a,\n1,2\n",
    "header with an unclosed quote": b'a,"b\n1,2\n3,4\n',
    "header over the limits": b"a," + b"h" * 50 + b"\n1,2\n",
    "empty file": b"",
    "blank lines only": b"\n\r\n\n",
    "header only": b"a,b\n",
    "header only, no newline": b"a,b",
}

JSONL_CASES = {
    "good lines": b'{"a": 1}\n{"a": 2}\n{"a": "x\\ny"}\n',
    "bom, crlf and blank lines": b'\xef\xbb\xbf{"a": 1}\r\n\r\n\n{"a": 2}\r\n\n',
    "bom on a later line": b'{"a": 1}\n\xef\xbb\xbf{"a": 2}\n',
    "bad json and non-objects": b'{"a": 1}\n{"a": \n[1, 2]\n"text"\n{"a": 1, "a": 2}\n{"b": 3}\n',
    "invalid utf-8": b'{"a": "caf\xe9"}\n{"a": 2}\n',
    "oversize": b'{"a": 1}\n{"a": "' + b"z" * 90 + b'"}\n{"a": "' + b"y" * 20 + b'"}\n{"a": 4}\n',
    "no trailing newline": b'{"a": 1}\n{"a": 2}',
    "empty file": b"",
}


def whole(data: bytes, fmt: str, limits: Limits) -> list[Record | Rejected]:
    return list(parse_stream(io.BytesIO(data), fmt, SRC, jurisdiction="EU", limits=limits))


def plan(data: bytes, fmt: str, limits: Limits, target: int) -> list[FileRange]:
    return list(plan_ranges(io.BytesIO(data), "in", fmt, limits=limits, target_bytes=target))


def in_ranges(data: bytes, ranges: list[FileRange], limits: Limits) -> list[Record | Rejected]:
    # each range parsed from its own stream, as a worker opens the file for its range
    return [item for rng in ranges
            for item in parse_range(io.BytesIO(data), rng, SRC, jurisdiction="EU", limits=limits)]


def assert_contiguous(ranges: list[FileRange], size: int | None = None) -> None:
    assert ranges and ranges[0].start == 0
    for before, after in zip(ranges, ranges[1:], strict=False):
        assert before.end == after.start and before.start < before.end
    if size is not None:  # csv/jsonl: the last range runs to the end of the file
        assert ranges[-1].end is None and ranges[-1].start <= max(size - 1, 0)


def assert_same(data: bytes, fmt: str, limits: Limits) -> int:
    """The equality for every target size; returns the most ranges any target gave."""
    expected = whole(data, fmt, limits)
    most = 0
    for target in TARGETS:
        ranges = plan(data, fmt, limits, target)
        assert_contiguous(ranges, len(data) if fmt != "parquet" else None)
        assert in_ranges(data, ranges, limits) == expected, (fmt, target, ranges)
        most = max(most, len(ranges))
    return most


@pytest.mark.parametrize("name", sorted(CSV_CASES))
@pytest.mark.parametrize("limits", [Limits(), SMALL], ids=["default", "small"])
def test_csv_ranges_parse_like_the_whole_file(name, limits):
    assert_same(CSV_CASES[name], "csv", limits)


def test_csv_cuts_follow_records_not_bytes():
    data = CSV_CASES["quote closes later into a bad record"]
    ranges = plan(data, "csv", Limits(), 1)
    # the stray quote on line 2 runs to line 6, then sends lines 3..6 back to be read again: no cut there
    assert [r.first_line for r in ranges] == [1, 2, 7]
    assert all(r.header == ("a", "b") and r.header_line == 1 for r in ranges[1:])
    assert ranges[0].header is None


@pytest.mark.parametrize("name", ["duplicate header", "header with an unclosed quote", "empty file",
                                  "blank lines only", "header only"])
def test_csv_without_a_clean_point_is_one_range(name):
    assert plan(CSV_CASES[name], "csv", Limits(), 1) == [FileRange("in", "csv")]


def test_random_csv_ranges_parse_like_the_whole_file():
    rng = random.Random(7)
    tokens = [b"a", b"bb", b",", b",", b'"', b'""', b"\n", b"\n", b"\r\n", b"\xe9", b"\xef\xbb\xbf",
              b"z" * 15]
    most = 0
    for _ in range(150):
        body = b"".join(rng.choice(tokens) for _ in range(rng.randrange(40)))
        data = rng.choice([b"h,i\n", b"h,i\r\n", b""]) + body
        most = max(most, assert_same(data, "csv", SMALL))
    assert most > 5  # the inputs did get cut


@pytest.mark.parametrize("name", sorted(JSONL_CASES))
def test_jsonl_ranges_parse_like_the_whole_file(name):
    assert_same(JSONL_CASES[name], "jsonl", SMALL)


def parquet_file(table: pa.Table, **kwargs) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    return buf.getvalue()


def mixed_table(rows: int) -> pa.Table:
    return pa.table({
        "n": pa.array([None if i % 4 == 0 else i for i in range(rows)]),
        "s": [f"value {i}" * (i % 3) for i in range(rows)],
        "kind": pa.array([f"k{i % 3}" for i in range(rows)]).dictionary_encode(),
        "blob": pa.array([b"\xff\xfe" if i % 5 == 2 else b"ok" for i in range(rows)], pa.binary()),
        "when": pa.array([10**15 if i == 7 else i for i in range(rows)], pa.timestamp("ms")),
    })


def test_parquet_ranges_are_runs_of_row_groups_and_parse_like_the_whole_file():
    data = parquet_file(mixed_table(23), row_group_size=4)
    expected = whole(data, "parquet", Limits())
    assert {i.reason for i in expected if isinstance(i, Rejected)} == {INVALID_UTF8, PARSE_ERROR}
    assert assert_same(data, "parquet", Limits()) == 6  # one range per row group at the tiny targets
    ranges = plan(data, "parquet", Limits(), 1)
    assert [(r.start, r.end, r.first_line) for r in ranges] == [(g, g + 1, 4 * g + 1) for g in range(6)]
    assert plan(data, "parquet", Limits(), 10**9) == [FileRange("in", "parquet")]


REPEATED_NAMES = pa.table([[1, 2], [3, 4]], names=["a", "a"])


@pytest.mark.parametrize("data", [b"", b"PAR1 not parquet", parquet_file(REPEATED_NAMES, row_group_size=1)])
def test_parquet_rejected_as_a_whole_is_one_range(data):
    assert plan(data, "parquet", Limits(), 1) == [FileRange("in", "parquet")]
    assert in_ranges(data, [FileRange("in", "parquet")], Limits()) == whole(data, "parquet", Limits())
    assert [i.reason for i in whole(data, "parquet", Limits())] == [SOURCE_ERROR]


def test_parquet_damaged_row_group_gives_the_same_source_error():
    table = pa.table({"n": list(range(300)), "s": [f"value {i}" for i in range(300)]})
    good = parquet_file(table, row_group_size=100, compression="none")
    start = good.index(b"value 150")
    data = good[:start] + b"\xff" * 400 + good[start + 400:]
    expected = whole(data, "parquet", Limits())
    assert isinstance(expected[-1], Rejected) and expected[-1].reason == SOURCE_ERROR
    split = in_ranges(data, plan(data, "parquet", Limits(), 1), Limits())
    # the same items up to the failure; a later row group is still read on its own (module docstring)
    assert split[: len(expected)] == expected
    assert [i.meta.ref for i in split[len(expected):]] == [f"row {n}" for n in range(201, 301)]


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_whole_file_range_never_seeks(fmt):
    data = CSV_CASES["quoted newlines"] if fmt == "csv" else JSONL_CASES["bad json and non-objects"]
    items = list(parse_range(_Unseekable(data), FileRange("in", fmt), SRC, jurisdiction="EU"))
    assert items == whole(data, fmt, Limits())


class _Counting(io.BytesIO):
    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_planning_streams(fmt):
    line = b"1,2\n" if fmt == "csv" else b'{"a": 1}\n'
    stream = _Counting((b"a,b\n" if fmt == "csv" else b"") + line * 100_000)
    ranges = plan_ranges(stream, "in", fmt, target_bytes=1000)
    first = next(ranges)
    assert first.end is not None and 1000 <= first.end < 1100
    assert stream.read_bytes <= 2 * 64 * 1024  # a read chunk or so, not the file
