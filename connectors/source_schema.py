"""The column types a source declares, read on the driver before a run, for type-stable outputs.

Only sources that declare types have them: a Parquet file (its Arrow schema, the first file of a glob in
path order) and a PostgreSQL table (its columns, in table order). CSV, JSONL and HTTP sources declare no
types; their outputs are typed from the data (see :mod:`redactline.connectors.file_sinks`).

Values travel through the pipeline in the sources' one JSON form
(:func:`~redactline.connectors.records.to_json_value`); :func:`from_json_form` turns a kept value back
into what its source column held (an ISO 8601 string into a timestamp, a decimal string into a
``Decimal``), so a sink can write it with the source's type.

Types map both ways between PostgreSQL and Arrow for the scalar types a sink can restore exactly; any
other type maps to None (the sink types that column from its values, as for an untyped source).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    """One source column: its name, its Arrow type and its PostgreSQL type (None: typed from data)."""

    name: str
    arrow: pa.DataType | None
    postgres: str | None


# --------------------------------------------------------------------------- Arrow <-> PostgreSQL

_PG_TO_ARROW: dict[str, pa.DataType] = {
    "smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64(), "real": pa.float32(),
    "double precision": pa.float64(), "boolean": pa.bool_(), "text": pa.string(), "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "uuid": pa.string(),
}
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
_TEXTUAL = re.compile(r"^(character varying|character)(\(\d+\))?$")


def arrow_of_postgres(pg_type: str) -> pa.DataType | None:
    """The Arrow type a PostgreSQL column's values are restored to (``format_type`` spelling)."""
    if pg_type in _PG_TO_ARROW:
        return _PG_TO_ARROW[pg_type]
    numeric = _NUMERIC.match(pg_type)
    if numeric and 0 < int(numeric.group(1)) <= 38:
        return pa.decimal128(int(numeric.group(1)), int(numeric.group(2)))
    if _TEXTUAL.match(pg_type):
        return pa.string()
    return None


def postgres_of_arrow(kind: pa.DataType) -> str | None:
    """The PostgreSQL column type for an Arrow type a sink can restore exactly, else None."""
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_int8(kind) or pa.types.is_int16(kind) or pa.types.is_uint8(kind):
        return "smallint"
    if pa.types.is_int32(kind) or pa.types.is_uint16(kind):
        return "integer"
    if pa.types.is_int64(kind) or pa.types.is_uint32(kind):
        return "bigint"
    if pa.types.is_float32(kind):
        return "real"
    if pa.types.is_float64(kind):
        return "double precision"
    if pa.types.is_decimal(kind):
        return f"numeric({kind.precision},{kind.scale})"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamp with time zone" if kind.tz else "timestamp without time zone"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    return None


def _restorable(kind: pa.DataType) -> pa.DataType | None:
    """The Arrow type a Parquet column keeps in an output (None: typed from the data)."""
    if pa.types.is_large_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pa.string()  # binary values travel as their UTF-8 text
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        return pa.timestamp("us", tz=kind.tz)  # Python datetimes carry microseconds
    if pa.types.is_date64(kind):
        return pa.date32()
    if pa.types.is_time(kind):
        return kind
    return kind if postgres_of_arrow(kind) is not None else None


# --------------------------------------------------------------------------- readers


def parquet_columns(uri: str) -> list[Column] | None:
    """The columns of the first Parquet file matching ``uri`` (any Beam filesystem), or None when
    nothing matches or the file cannot be read (the run reports that file itself)."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    try:
        matched = sorted(m.path for m in FileSystems.match([uri])[0].metadata_list)
        if not matched:
            return None
        with FileSystems.open(matched[0], compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            schema = pq.read_schema(stream)
    except Exception:  # noqa: BLE001 - an unreadable source is the run's to report, with its reason
        return None
    columns = []
    for field in schema:
        arrow = _restorable(field.type)
        columns.append(Column(field.name, arrow, postgres_of_arrow(arrow) if arrow is not None else None))
    return columns


def postgres_columns(dsn: str, table: str) -> list[Column] | None:
    """The columns of PostgreSQL ``table`` (``schema.name`` or ``name``) in table order, or None when it
    does not exist; a connection failure raises ``PostgresError`` (no DSN or values in it)."""
    import psycopg

    from redactline.connectors.postgres import PostgresError, _connect, _describe, _Dsn

    wrapped = _Dsn(dsn)
    rows: list[Any] | None = None
    failure = ""
    with _connect(wrapped, read_only=True) as conn:
        try:
            rows = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum",
                [_quoted(table)]).fetchall()
        except psycopg.Error as exc:
            failure = _describe(exc, wrapped)
    if failure:
        raise PostgresError(f"reading the columns of {wrapped.safe}#{table}: {failure}")
    if not rows:
        return None
    return [Column(name, arrow_of_postgres(pg_type), pg_type) for name, pg_type in rows]


def _quoted(table: str) -> str:
    parts = table.split(".", 1)
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


# --------------------------------------------------------------------------- values


def from_json_form(value: Any, kind: pa.DataType) -> Any:
    """``value`` (a JSON form) as a column of Arrow type ``kind`` takes it; unchanged when it is not that
    type's JSON form (the sink then refuses the row, naming the field)."""
    if not isinstance(value, str):
        if pa.types.is_decimal(kind) and isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        return value
    try:
        if pa.types.is_timestamp(kind):
            return dt.datetime.fromisoformat(value)
        if pa.types.is_date(kind):
            return dt.date.fromisoformat(value)
        if pa.types.is_time(kind):
            return dt.time.fromisoformat(value)
        if pa.types.is_decimal(kind):
            return Decimal(value)
    except (ValueError, InvalidOperation):
        return value
    return value
