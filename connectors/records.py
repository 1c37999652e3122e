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
SOURCE_ERROR = "source_error"
FIELD_NAME_PII = "field_name_pii"  # a field name holds PII and the policy says field_names: quarantine


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

    * None, bool, int, str: kept; a finite float: kept; NaN / +inf / -inf -> ``"NaN"`` / ``"Infinity"`` /
      ``"-Infinity"`` (strict JSON has no such numbers);
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
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return str(value)
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


def json_constant(name: str) -> str:
    """``parse_constant`` for ``json.loads``: the non-standard ``NaN`` / ``Infinity`` / ``-Infinity``
    literals become the strings :func:`to_json_value` gives non-finite floats."""
    return to_json_value(float(name))
