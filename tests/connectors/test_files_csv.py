"""Unit tests for the streaming CSV parser and the bounded line reader (no Beam)."""

from __future__ import annotations

import csv
import io
import random
import tracemalloc

import pytest

from redactline.connectors.csv_io import parse_csv
from redactline.connectors.limits import Limits
from redactline.connectors.lines import iter_lines
from redactline.connectors.records import (
    FIELD_COUNT,
    INVALID_UTF8,
    OVERSIZE,
    PARSE_ERROR,
    UNCLOSED_QUOTE,
    Record,
    Rejected,
)

SRC = "file:///data/in.csv"
SECRET = "SECRET-PII-4111111111111111"


def parse(data: bytes, **limits: int) -> list[Record | Rejected]:
    return list(parse_csv(io.BytesIO(data), SRC, limits=Limits(**limits)))


def summary(items: list[Record | Rejected]) -> list[tuple[str, str]]:
    return [("record" if isinstance(i, Record) else i.reason, i.meta.ref) for i in items]


def lines_covered(item: Record | Rejected) -> int:
    """Physical lines an item accounts for (only valid when nothing was truncated)."""
    if isinstance(item, Record):
        return 1 + sum(value.count("\n") for value in item.fields.values())
    return item.raw.count(b"\n") + (0 if item.raw.endswith(b"\n") else 1)


def assert_accounted(data: bytes, items: list[Record | Rejected]) -> None:
    """Every non-blank physical line after the header is covered by exactly one item."""
    physical = data.split(b"\n")
    if physical[-1] == b"":
        physical.pop()
    blank = sum(1 for line in physical[1:] if line in (b"", b"\r"))
    assert sum(lines_covered(i) for i in items) + blank == len(physical) - 1


def test_good_rows_with_quoting_are_parsed_like_the_csv_module():
    data = b'name,note\r\nann,"a, ""quoted""\r\nmultiline"\r\nbob,plain\r\n'
    items = parse(data)
    assert summary(items) == [("record", "line 2"), ("record", "line 4")]
    assert items[0].fields == {"name": "ann", "note": 'a, "quoted"\r\nmultiline'}
    assert items[1].fields == {"name": "bob", "note": "plain"}
    assert items[0].meta.source == SRC
    assert_accounted(data, items)


def test_unclosed_quote_at_eof_does_not_swallow_following_rows():
    data = b'a,b\n1,2\n3,"never closed\n4,5\n6,7\n'
    items = parse(data)
    assert summary(items) == [("record", "line 2"), (UNCLOSED_QUOTE, "line 3"), ("record", "line 4"),
                              ("record", "line 5")]
    assert items[1].raw == b'3,"never closed\n'
    assert [i.fields for i in items if isinstance(i, Record)] == [
        {"a": "1", "b": "2"}, {"a": "4", "b": "5"}, {"a": "6", "b": "7"}]
    assert_accounted(data, items)


def test_unclosed_quote_past_line_bound_recovers_rows_and_later_quotes():
    rows = b"".join(b"%d,x\n" % i for i in range(20))
    data = b'a,b\n1,"stray\n' + rows + b'9,"fine, quoted"\n'
    items = parse(data, max_record_lines=5)
    assert summary(items)[0] == (UNCLOSED_QUOTE, "line 2")
    assert "5 lines" in items[0].detail
    records = [i for i in items if isinstance(i, Record)]
    assert len(records) == 21
    assert records[-1].fields == {"a": "9", "b": "fine, quoted"}
    assert_accounted(data, items)


def test_unclosed_quote_past_byte_bound():
    data = b'a,b\n1,"stray\n' + b"2,yyyyyyyyyy\n" * 30
    items = parse(data, max_field_bytes=10, max_record_bytes=100)
    assert summary(items)[0] == (UNCLOSED_QUOTE, "line 2")
    assert "100 bytes" in items[0].detail
    assert sum(isinstance(i, Record) for i in items) == 30
    assert_accounted(data, items)


def test_stray_quote_closed_by_a_later_one_does_not_swallow_rows_between():
    data = b'a,b\n1,"stray\n2,x\n3,y\n"4",5\n'
    items = parse(data)
    assert summary(items) == [(UNCLOSED_QUOTE, "line 2"), ("record", "line 3"), ("record", "line 4"),
                              ("record", "line 5")]
    assert items[-1].fields == {"a": "4", "b": "5"}
    assert_accounted(data, items)


def test_field_count_both_ways():
    data = f"a,b,c,d\n1,2,3,4\n1,2,3,4,{SECRET}\n{SECRET},2\n5,6,7,8\n".encode()
    items = parse(data)
    assert summary(items) == [("record", "line 2"), (FIELD_COUNT, "line 3"), (FIELD_COUNT, "line 4"),
                              ("record", "line 5")]
    assert items[1].detail == "5 fields, header has 4"
    assert items[2].detail == "2 fields, header has 4"
    assert items[1].raw == f"1,2,3,4,{SECRET}\n".encode()
    assert all(SECRET not in i.detail for i in items if isinstance(i, Rejected))
    assert_accounted(data, items)


def test_invalid_utf8_is_rejected_per_record_with_its_raw_bytes():
    bad = b"1,caf\xe9\n"
    data = b"a,b\n0,ok\n" + bad + "2,caf\u00e9\n".encode()
    items = parse(data)
    assert summary(items) == [("record", "line 2"), (INVALID_UTF8, "line 3"), ("record", "line 4")]
    assert items[1].raw == bad
    assert items[2].fields["b"] == "caf\u00e9"
    assert_accounted(data, items)


def test_two_megabyte_field_is_oversize_and_later_rows_survive():
    big = b"x" * (2 * 1024 * 1024)
    data = b"a,b\n1," + big + b"\n2,small\n"
    items = parse(data)
    assert summary(items) == [(OVERSIZE, "line 2"), ("record", "line 3")]
    assert items[0].detail == "field 2 is 2097152 bytes"
    assert_accounted(data, items)


def test_line_over_record_limit_is_skipped_in_bounded_memory():
    data = b"a,b\n1,ok\n2," + b"z" * 5000 + b"\n3,ok\n"
    items = parse(data, max_field_bytes=100, max_record_bytes=1000)
    assert summary(items) == [("record", "line 2"), (OVERSIZE, "line 3"), ("record", "line 4")]
    assert len(items[1].raw) <= 1000
    assert "5003 bytes" in items[1].detail


def test_oversize_line_with_quotes_closed_inside_it_stays_one_record():
    data = b'a,b\n1,"' + b"q" * 3000 + b'"\n2,"multi\nline"\n'
    items = parse(data, max_field_bytes=100, max_record_bytes=1000)
    assert summary(items) == [(OVERSIZE, "line 2"), ("record", "line 3")]
    assert items[1].fields["b"] == "multi\nline"


def test_header_with_duplicate_names_quarantines_the_whole_file():
    data = f"id,name,id\n1,{SECRET},3\n4,5,6\n\n7,\"8\n9\",10\n".encode()
    items = parse(data)
    assert not any(isinstance(i, Record) for i in items)
    assert [(i.reason, i.meta.ref) for i in items] == [(PARSE_ERROR, "line 1"), (PARSE_ERROR, "line 2"),
                                                       (PARSE_ERROR, "line 3"), (PARSE_ERROR, "line 5")]
    assert items[0].detail == "header: column 3 repeats the name of column 1"
    assert items[1].raw == f"1,{SECRET},3\n".encode()
    assert all(SECRET not in i.detail for i in items)
    assert sum(lines_covered(i) for i in items[1:]) == 4


def test_header_with_empty_name_is_a_file_level_error():
    items = parse(b"a,,c\n1,2,3\n")
    assert [(i.reason, i.meta.ref) for i in items] == [(PARSE_ERROR, "line 1"), (PARSE_ERROR, "line 2")]
    assert "column 2 has an empty name" in items[0].detail


def test_header_with_unclosed_quote_quarantines_the_file():
    items = parse(b'a,"b\n1,2\n3,4\n')
    assert [i.reason for i in items] == [UNCLOSED_QUOTE, PARSE_ERROR, PARSE_ERROR]
    assert items[0].detail.startswith("header: ")


def test_bom_is_stripped_from_the_header_and_blank_lines_are_skipped():
    items = parse(b"\xef\xbb\xbfa,b\n\n1,2\n\r\n3,4")
    assert [i.fields for i in items] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert [i.meta.ref for i in items] == ["line 3", "line 5"]


def test_random_valid_csv_matches_dictreader():
    rng = random.Random(7)
    alphabet = ['a', 'b', ',', '"', '\n', ' ', '\u00e9', '\u4e2d', 'z', '\r\n']
    header = ["h1", "h2", "h3"]
    rows = [["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in header]
            for _ in range(400)]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    data = text.getvalue().encode("utf-8")
    expected = list(csv.DictReader(io.StringIO(text.getvalue(), newline="")))
    items = parse(data)
    assert all(isinstance(i, Record) for i in items)
    assert [i.fields for i in items] == expected


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_line_reader_matches_splitlines_at_any_chunk_size(chunk):
    rng = random.Random(chunk)
    data = b"".join(b"x" * rng.randrange(0, 30) + b"\n" for _ in range(200)) + b"tail"
    lines = list(iter_lines(io.BytesIO(data), limit=1000, chunk_bytes=chunk))
    assert [line.data for line in lines] == data.splitlines(keepends=True)
    assert [line.no for line in lines] == list(range(1, len(lines) + 1))


def test_line_reader_truncates_long_lines_and_folds_the_rest():
    data = b"short\n" + b"L" * 100 + b"\nafter"
    fold = lambda acc, c: (acc or 0) + len(c)  # noqa: E731
    lines = list(iter_lines(io.BytesIO(data), limit=10, chunk_bytes=8, fold=fold))
    assert [(line.data, line.size, line.oversize) for line in lines] == [
        (b"short\n", 6, False), (b"L" * 10, 101, True), (b"after", 5, False)]
    assert lines[1].folded == 101


def test_a_large_csv_streams_in_bounded_memory(tmp_path):
    # 3 MiB is enough to tell streaming from reading whole (tracemalloc makes parsing slow: ~10 s here)
    path = tmp_path / "big.csv"
    row = b'1234,"Jane Doe, Jr.",jane@example.com,"12 Main St\nSpringfield",note\n'
    count = (3 * 1024 * 1024) // len(row) + 1
    with path.open("wb") as out:
        out.write(b"id,name,email,address,note\n")
        for _ in range(count):
            out.write(row)
    size = path.stat().st_size
    assert size > 3 * 1024 * 1024
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            seen = sum(1 for item in parse_csv(stream, SRC) if isinstance(item, Record))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    # a fixed budget (read buffers, one row at a time): a file held whole would need over 3 MiB
    assert peak < 512 * 1024, f"peak {peak} bytes for a {size}-byte file"
