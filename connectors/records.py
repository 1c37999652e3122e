"""The record contract shared by every source, sink and pipeline transform.

A source turns each unit of input into exactly one of:
  * ``Record``   - a parsed ``dict`` of the user's fields plus ``RecordMeta`` travelling beside it;
  * ``Rejected`` - input that could not be parsed, with a reason code, a PII-free detail and the raw
    bytes (the pipeline seals those before they touch disk; they are never logged).
Nothing is dropped silently: every line/row/item read leaves as one or the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Reason codes used for quarantine. Keep them stable: manifests and dashboards count by them.
PARSE_ERROR = "parse_error"
INVALID_UTF8 = "invalid_utf8"
OVERSIZE = "oversize"
UNCLOSED_QUOTE = "unclosed_quote"
FIELD_COUNT = "field_count"
ENGINE_ERROR = "engine_error"
SOURCE_ERROR = "source_error"


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
