"""The sources' one value -> JSON conversion: one result per type, whatever the source."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import uuid
from decimal import Decimal

import pytest

from redactline.connectors.records import BinaryValueError, UnsupportedValue, json_constant, to_json_value

PLUS2 = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (True, True), (7, 7), ("text", "text"), (0.5, 0.5),
    # non-finite numbers are null (issue 14: a string "NaN" was redacted as a person's name)
    (float("nan"), None), (float("inf"), None), (float("-inf"), None),
    (Decimal("12.50"), "12.50"), (Decimal("-0.01"), "-0.01"), (Decimal("NaN"), None),
    (Decimal("-Infinity"), None),
    (dt.date(2024, 2, 29), "2024-02-29"),
    (dt.datetime(2024, 5, 6, 7, 8, 9), "2024-05-06T07:08:09"),  # naive stays naive: no offset invented
    (dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "2024-05-06T07:08:09+00:00"),
    (dt.datetime(2024, 5, 6, 7, 8, 9, 500, tzinfo=PLUS2), "2024-05-06T07:08:09.000500+02:00"),
    (dt.time(1, 2), "01:02:00"), (dt.time(1, 2, tzinfo=PLUS2), "01:02:00+02:00"),
    (dt.timedelta(days=1, seconds=1, microseconds=500_000), 86401.5), (dt.timedelta(seconds=-3), -3.0),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    (ipaddress.ip_address("10.0.0.1"), "10.0.0.1"), (ipaddress.ip_network("10.0.0.0/8"), "10.0.0.0/8"),
    (b"plain text", "plain text"), (bytearray("Grüße".encode()), "Grüße"),
])
def test_one_result_per_type(value, expected):
    assert to_json_value(value) == expected


def test_nested_lists_maps_and_structs():
    value = {"a": [dt.time(1, 2), (1, Decimal("2"))], 3: {"when": dt.date(2024, 1, 2)}}
    assert to_json_value(value) == {"a": ["01:02:00", [1, "2"]], "3": {"when": "2024-01-02"}}
    # a map column (list of key/value pairs): a dict when the keys are unique strings, else pairs
    assert to_json_value([("k", "v"), ("n", float("nan"))]) == {"k": "v", "n": None}
    assert to_json_value([(1, "a"), (2, "b")]) == [[1, "a"], [2, "b"]]
    assert to_json_value([("k", 1), ("k", 2)]) == [["k", 1], ["k", 2]]
    assert to_json_value([]) == []


def test_binary_is_text_or_refused_unless_base64_is_asked_for():
    with pytest.raises(BinaryValueError):
        to_json_value(b"\xff\xfe\x00")
    with pytest.raises(BinaryValueError):
        to_json_value({"nested": [b"\xff"]})
    assert to_json_value(b"\x00\xff", binary="base64") == base64.b64encode(b"\x00\xff").decode()
    assert to_json_value({"b": [memoryview(b"ok")]}, binary="base64") == {"b": ["b2s="]}


def test_unknown_types_fail_closed_naming_only_the_type():
    class Secretive:
        def __str__(self) -> str:
            return "Jane Roe"

    with pytest.raises(UnsupportedValue) as info:
        to_json_value({"x": Secretive()})
    assert str(info.value) == "Secretive"
    with pytest.raises(UnsupportedValue):
        to_json_value({1, 2})


def test_output_is_strict_json():
    value = {"f": [float("nan"), float("inf")], "d": Decimal("1E+2"), "t": dt.datetime(2024, 1, 1)}
    text = json.dumps(to_json_value(value), allow_nan=False)
    assert json.loads(text) == {"f": [None, None], "d": "1E+2", "t": "2024-01-01T00:00:00"}


def test_json_literals_for_non_finite_numbers_read_the_same():
    assert json.loads('{"a": NaN, "b": [Infinity, -Infinity]}', parse_constant=json_constant) == {
        "a": None, "b": [None, None]}
