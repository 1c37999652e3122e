"""The record contract shared by every source, sink and pipeline transform.

A source turns each unit of input into exactly one of:
  * ``Record``   - a parsed ``dict`` of the user's fields plus ``RecordMeta`` travelling beside it;
  * ``Rejected`` - input that could not be parsed, with a reason code, a PII-free detail and the raw
    bytes (the pipeline seals those before they touch disk; they are never logged).
Nothing is dropped silently: every line/row/item read leaves as one or the other.

Field values are JSON values (str, int, float, bool, None, list, dict). A source whose format has
richer types converts them with :func:`to_json_value`, the one conversion every source shares, so a
date or a decimal reads the same whether it came from PostgreSQL or Parquet.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

# Reason codes used for quarantine. Keep them stable: manifests and dashboards count by them.
PARSE_ERROR = "parse_error"
INVALID_UTF8 = "invalid_utf8"
OVERSIZE = "oversize"
UNCLOSED_QUOTE = "unclosed_quote"
FIELD_COUNT = "field_count"
ENGINE_ERROR = "engine_error"
ENGINE_TIMEOUT = "engine_timeout"  # detection ran past the policy's per-record time budget
SOURCE_ERROR = "source_error"
FIELD_NAME_PII = "field_name_pii"  # a field name holds PII and the policy says field_names: quarantine
TOO_DEEP = "too_deep"  # a record nested deeper than ``Limits.max_depth`` (checked before anything pickles)
SINK_TYPE_ERROR = "sink_type_error"  # a value the sink's output schema cannot hold (names the field)


@dataclass(frozen=True)
class RecordMeta:
    """Where a record came from. ``ref`` locates it for an operator (never contains field values).

    Examples: source="file:///data/in.csv", ref="line 12"; source="postgresql://host/db#public.users",
    ref="id=42"; source="http://127.0.0.1:8080/items", ref="page 3 item 4".
    """

    source: str
    ref: str
    jurisdiction: str | None = None


@dataclass(frozen=True)
class Record:
    fields: dict[str, Any]
    meta: RecordMeta


@dataclass(frozen=True)
class Rejected:
    reason: str  # one of the reason codes above
    # human-readable and PII-free: "unclosed quote", "5 fields, header has 4", "field 2 is 2097152 bytes"
    detail: str
    meta: RecordMeta
    raw: bytes = field(repr=False, default=b"")  # sealed by the quarantine writer, never printed


def redact_dsn(dsn: str) -> str:
    """A connection string safe for logs, errors and manifests: any password is replaced by '***'."""
    import re

    dsn = re.sub(r"(://[^:/@\s]+:)[^@\s]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", dsn, flags=re.IGNORECASE)


# --------------------------------------------------------------------------- values -> JSON


class UnsupportedValue(TypeError):
    """A value with no JSON form; the message names the Python type only, never the value."""


class BinaryValueError(ValueError):
    """A binary value that is not UTF-8 text (with ``binary="text"``)."""


Binary = Literal["text", "base64"]

_AS_STRING = (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network,
              ipaddress.IPv6Network, ipaddress.IPv4Interface, ipaddress.IPv6Interface)


def to_json_value(value: Any, *, binary: Binary = "text") -> Any:
    """One typed value (from a database driver, ``pyarrow``'s ``as_py``, ...) as a JSON value.

    * None, bool, int, str: kept; a finite float: kept; a non-finite number (NaN, +inf, -inf, a
      ``Decimal`` NaN or infinity) -> ``None`` (:data:`NON_FINITE`: strict JSON has no such numbers, and
      a string such as ``"NaN"`` would be inspected as text and could come out as ``<PERSON_1>``);
    * ``Decimal`` -> its exact string (``"12.50"``); ``timedelta`` -> seconds as a float;
    * datetime / date / time -> ISO 8601 (``"2024-05-06T07:08:09+00:00"``; the offset only when the
      value has a zone, never invented);
    * UUID and IP addresses / networks -> their string;
    * bytes: ``binary="text"`` (the default) -> the UTF-8 text, so the redactor inspects it, and
      :class:`BinaryValueError` when it is not UTF-8 (the source rejects the record: base64 would carry
      the bytes past the redactor uninspected); ``binary="base64"`` -> standard base64, for a source
      whose binary type is opaque data by contract (PostgreSQL ``bytea``);
    * dict -> dict with ``str`` keys; list / tuple -> list, except a list of ``(key, value)`` pairs with
      unique string keys (a map column) -> dict; converted all the way down.

    Anything else raises :class:`UnsupportedValue`: fail closed, never ``str()``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else NON_FINITE
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, _AS_STRING):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        if binary == "base64":
            return base64.b64encode(bytes(value)).decode("ascii")
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise BinaryValueError("binary value is not UTF-8 text") from None
    if isinstance(value, dict):
        return {str(k): to_json_value(v, binary=binary) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [to_json_value(v, binary=binary) for v in value]
        if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            keys = [k for k, _ in items]
            if all(isinstance(k, str) for k in keys) and len(set(keys)) == len(keys):
                return dict(items)
        return items
    raise UnsupportedValue(type(value).__name__)


# The one representation of a non-finite number (NaN, Infinity, -Infinity, or a literal such as
# 1e999999 that overflows to infinity) in every source and every sink: JSON null. Strict JSON has no
# such numbers, and the redaction engine passes null through untouched, so it is never inspected as
# text (a string "NaN" was redacted as a person's name).
NON_FINITE = None

# Integer literals longer than this many digits are kept as their exact decimal string: Python refuses
# to convert longer digit strings (``sys.int_info.default_max_str_digits``), in both directions.
MAX_INT_DIGITS = 4300


def json_constant(name: str) -> None:
    """``parse_constant`` for ``json.loads``: the non-standard ``NaN`` / ``Infinity`` / ``-Infinity``
    literals become :data:`NON_FINITE`, as :func:`to_json_value` makes non-finite floats."""
    return to_json_value(float(name))


def json_int(text: str) -> int | str:
    """``parse_int`` for ``json.loads``: an ``int``, or the exact digit string past :data:`MAX_INT_DIGITS`
    (instead of a ``ValueError`` that would end the whole file)."""
    digits = len(text) - (text[0] == "-")
    return int(text) if digits <= MAX_INT_DIGITS else text


def json_float(text: str) -> float | None:
    """``parse_float`` for ``json.loads``: a float; a literal that overflows (``1e999999``) is non-finite."""
    return to_json_value(float(text))


# The number hooks every JSON source passes to ``json.loads`` (JSONL files, HTTP APIs).
JSON_NUMBERS: dict[str, Any] = {
    "parse_constant": json_constant, "parse_int": json_int, "parse_float": json_float,
}
