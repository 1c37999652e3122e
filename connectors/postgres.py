"""PostgreSQL source and sink for Beam.

``ReadPostgres`` reads a table or a query with server-side (named) cursors, so memory stays bounded by
``fetch_size`` rows per worker, optionally split into integer key ranges read in parallel. Every row
leaves as a ``Record`` or, when a value cannot be made JSON-friendly, a ``Rejected`` naming the table
and column (never the value); the read goes on with the next row.

``json``/``jsonb`` values are fetched as text (the read's connection has its own loaders for them, so
psycopg's ``json.loads`` never runs inside a fetch, where one bad value failed the whole read) and
decoded per row by :func:`decode_json`: a document over ``max_field_bytes`` -> ``oversize``, nested
deeper than ``max_depth`` -> ``too_deep`` (decided on the text, nothing recurses), an object repeating a
key (``json`` keeps duplicates) or any other undecodable text -> ``parse_error``. Numbers follow the
JSON sources' rules (``records.JSON_NUMBERS``): an integer of more than 4300 digits is kept as its exact
digit string, as JSONL files and HTTP APIs keep it; a non-finite number is null.

Date/time values Python cannot represent are kept as their exact PostgreSQL text (delivered, not
quarantined, as a huge integer is kept as its digits): ``infinity``/``-infinity`` (legitimate values:
"no end date"), a year past 9999 (``10000-01-01``), a BC date (``0044-03-15 BC``), ``24:00:00`` (a valid
``time``/``timetz``), a timestamptz that leaves years 1..9999 in the session time zone. psycopg raised
``DataError`` inside the fetch for each of these, which failed the whole read; the read's connection
instead loads ``date``, ``timestamp``, ``timestamptz``, ``time`` and ``timetz`` (and, through psycopg's
array and range loaders, their arrays and ranges) with :class:`_TemporalLoader`: psycopg's value when
there is one, else the text. The text travels as a string, as every date/time already does in the JSON
form (ISO 8601), so the redactor inspects it like any other; a sink column typed ``date``/``timestamp``
(a kept column) takes it in PostgreSQL, which parses the same text, while a Parquet date/timestamp
column cannot hold it and the sink rejects that row (``sink_type_error`` naming the field, counted as
quarantined). The read's session pins ``DateStyle`` ISO and ``IntervalStyle`` postgres (output formats
only; the day/month order of a query's literals stays the server's), so the kept text has one form
whatever the server's defaults. An ``interval`` travels as its seconds (a float), so one past
``timedelta``'s range stays a number (:func:`interval_seconds`, not text that would mix str into a
numeric column) and an infinite one (PostgreSQL 17) is null like any non-finite number; psycopg's C
loader is skipped for a wide interval (a years, months or days field of 7+ digits): it wraps around on
one (``178000000 years`` came out as 545490560 days) instead of failing.

``WritePostgres`` upserts records by key (``INSERT ... ON CONFLICT (key) DO UPDATE``) in batches, so a
re-run does not duplicate rows.

Secrets: the connection string is held in a ``_Dsn`` wrapper whose ``repr`` hides it; every message
(logs, exceptions, ``RecordMeta.source``) is built from host, port and database only. psycopg errors
are re-raised as ``PostgresError`` *outside* the ``except`` block, so the psycopg exception is neither
the ``__cause__`` nor the ``__context__`` of ours: psycopg's own messages can quote the connection
string (a conninfo parse error echoes a password) or field values (``invalid input syntax ...``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from redactline.connectors.limits import MIB, Limits, json_text_too_deep
from redactline.connectors.records import (
    JSON_NUMBERS,
    OVERSIZE,
    PARSE_ERROR,
    TOO_DEEP,
    Record,
    RecordMeta,
    Rejected,
    UnsupportedValue,
    to_json_value,
)

log = logging.getLogger(__name__)

DEFAULT_DSN_ENV = "REDACTLINE_PG_DSN"
CONNECT_TIMEOUT_S = 10


class PostgresError(RuntimeError):
    """A PostgreSQL failure described without the DSN, password or field values."""


# --------------------------------------------------------------------------- connection helpers


class _Dsn:
    """A connection string that never shows itself in ``repr``/``str`` (Beam may print DoFn state)."""

    __slots__ = ("_value", "safe")

    def __init__(self, value: str) -> None:
        self._value = value
        self.safe = _safe_location(value)

    def reveal(self) -> str:
        return self._value

    def password(self) -> str | None:
        try:
            return conninfo_to_dict(self._value).get("password") or None
        except psycopg.Error:
            return None

    def __repr__(self) -> str:
        return f"_Dsn({self.safe!r})"

    __str__ = __repr__


def _safe_location(dsn: str) -> str:
    """``postgresql://host:port/db`` from a DSN (URL or key=value form), without user or password."""
    parts: dict[str, Any] | None = None
    # The parse error message may quote the password: say nothing about the DSN's content.
    with contextlib.suppress(psycopg.Error):
        parts = conninfo_to_dict(dsn)
    if parts is None:
        raise PostgresError("the PostgreSQL connection string could not be parsed")
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    db = str(parts.get("dbname") or parts.get("user") or "")
    return f"postgresql://{host}:{port}/{db}"


def resolve_dsn(dsn: str | None, dsn_env: str = DEFAULT_DSN_ENV) -> str:
    """The DSN given, else the value of environment variable ``dsn_env``; an error names only the variable."""
    if dsn:
        return dsn
    value = os.environ.get(dsn_env)
    if not value:
        raise PostgresError(f"no PostgreSQL DSN given and environment variable {dsn_env} is not set")
    return value


def _describe(exc: BaseException, dsn: _Dsn) -> str:
    """A PII- and secret-free description of a psycopg error.

    Connection and SQL-programming errors keep their primary message (they name hosts, tables and
    columns, not data); data and integrity errors keep only their class and SQLSTATE because their
    messages quote values. Any occurrence of the password is masked as a last line of defence.
    """
    name = type(exc).__name__
    state = getattr(exc, "sqlstate", None)
    head = f"{name}" + (f" [{state}]" if state else "")
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return head
    if isinstance(exc, psycopg.OperationalError | psycopg.ProgrammingError):
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag is not None else None
        text = primary or str(exc).strip()
        password = dsn.password()
        if password:
            text = text.replace(password, "***")
        return f"{head}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    return head


def _connect(dsn: _Dsn, *, read_only: bool = False) -> psycopg.Connection:
    conn: psycopg.Connection | None = None
    failure = ""
    try:
        conn = psycopg.connect(dsn.reveal(), connect_timeout=CONNECT_TIMEOUT_S, application_name="redactline")
    except psycopg.Error as exc:
        failure = _describe(exc, dsn)
    if conn is None:
        raise PostgresError(f"cannot connect to {dsn.safe}: {failure}")
    if read_only:
        conn.read_only = True
    return conn


# --------------------------------------------------------------------------- value conversion


def to_jsonable(value: Any) -> Any:
    """A value loaded by psycopg as JSON: the sources' one conversion
    (:func:`~redactline.connectors.records.to_json_value`), with ``bytea`` as base64 (opaque binary by
    contract). Anything it has no form for (e.g. range types) raises ``UnsupportedValue``: fail closed,
    never ``str()``."""
    return to_json_value(value, binary="base64")


class JsonText:
    """A ``json``/``jsonb`` value as the server sent it (UTF-8 text), decoded by :func:`decode_json`."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:  # never the value: Beam or a traceback may print it
        return f"JsonText({len(self.data)} bytes)"


class _JsonTextLoader(Loader):
    """Text-format loader for ``json`` and ``jsonb`` (and, through psycopg's array loaders, their
    arrays): keeps the bytes, so nothing can fail while rows are fetched."""

    def load(self, data: Buffer) -> JsonText:
        return JsonText(bytes(data))


class _TemporalLoader(Loader):
    """Text-format loader for the date/time types: psycopg's own loader's value, or, when that raises
    ``DataError`` (a value Python's types cannot hold: infinity, year 10000, BC, 24:00), the value's
    PostgreSQL text. Wraps the loader rather than subclassing it: psycopg's C loaders are not
    subclassable, and a Python class named like one is swapped for it when registered."""

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        base = psycopg.postgres.adapters.get_loader(oid, Format.TEXT)
        assert base is not None  # registered for built-in types only
        self._load = base(oid, context).load

    def load(self, data: Buffer) -> Any:
        try:
            return self._load(data)
        except psycopg.DataError:  # its message quotes the value: never shown
            return bytes(data).decode("utf-8", "replace")


# A years, months or days field of 7+ digits: psycopg's C interval loader adds them up as days in a
# 32-bit int (5883516 years wraps around); six digits each stay below 2**31 days.
_WIDE_INTERVAL = re.compile(rb"\d{7} [ymd]")
# An interval as IntervalStyle postgres writes it: "-1 years 2 mons 3 days +04:05:06.789".
_INTERVAL_TEXT = re.compile(
    rb"(?:([-+]?\d+) years? ?)?(?:([-+]?\d+) mons? ?)?(?:([-+]?\d+) days? ?)?"
    rb"(?:([-+])?(\d+):(\d+):(\d+)(?:\.(\d{1,6}))?)?")


def interval_seconds(data: bytes) -> float | None:
    """An interval's seconds as a float, reckoned as psycopg reckons a ``timedelta`` (a month is 30
    days, a year 365) but with Python's integers, so no range limit; ``infinity`` (PostgreSQL 17) ->
    ``inf``; None for any other text."""
    if data in (b"infinity", b"-infinity"):
        return float(data)
    match = _INTERVAL_TEXT.fullmatch(data)
    if match is None or not data:
        return None
    years, months, days, sign, hours, minutes, secs, frac = match.groups()
    total_days = 365 * int(years or 0) + 30 * int(months or 0) + int(days or 0)
    micros = (int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0)) * 10**6
    micros += int((frac or b"").ljust(6, b"0"))
    return (total_days * 86_400 * 10**6 + (-micros if sign == b"-" else micros)) / 10**6


class _IntervalLoader(_TemporalLoader):
    """``interval``: psycopg's ``timedelta`` when it has one (the JSON form is its seconds), else the
    seconds as a float from :func:`interval_seconds`, so the column stays numeric (the text would mix
    str into a float column, which a sink typed from the data cannot take). A wide value skips the C
    loader, which wraps around on it instead of failing."""

    def load(self, data: Buffer) -> Any:
        if _WIDE_INTERVAL.search(data) is None:
            with contextlib.suppress(psycopg.DataError):  # its message quotes the value: never shown
                return self._load(data)
        seconds = interval_seconds(bytes(data))
        return bytes(data).decode("utf-8", "replace") if seconds is None else seconds


_TEMPORAL_LOADERS: dict[str, type[Loader]] = {
    "date": _TemporalLoader, "timestamp": _TemporalLoader, "timestamptz": _TemporalLoader,
    "time": _TemporalLoader, "timetz": _TemporalLoader, "interval": _IntervalLoader,
}


def _register_loaders(conn: psycopg.Connection) -> None:
    """json/jsonb as :class:`JsonText`, the date/time types through :class:`_TemporalLoader`; in the
    connection's own adapters map: the process-wide psycopg defaults stay as they are."""
    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, _JsonTextLoader)
    for name, loader in _TEMPORAL_LOADERS.items():
        conn.adapters.register_loader(name, loader)


def _prepare_read(conn: psycopg.Connection) -> None:
    """The loaders, and the session output styles psycopg parses (and the kept text is written in)."""
    _register_loaders(conn)
    conn.execute("SELECT set_config('DateStyle', 'ISO', false), "
                 "set_config('IntervalStyle', 'postgres', false)")
    conn.commit()  # a session setting made in a rolled-back transaction would be undone


class JsonRejected(ValueError):
    """A ``json``/``jsonb`` value the source quarantines: ``reason`` is a records reason code and the
    message says why without quoting the value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # last-wins would hide a value from review
        raise _DuplicateKey
    return result


def decode_json(doc: JsonText, limits: Limits, above: int = 1) -> Any:
    """The decoded value of ``doc``, or :class:`JsonRejected`.

    ``above`` is how many nesting levels hold the document (1: a column of the record, which is level 1
    itself; one more per array dimension), so the record as a whole stays within ``limits.max_depth``.
    """
    data = doc.data
    if len(data) > limits.max_field_bytes:
        raise JsonRejected(OVERSIZE, f"json document is {len(data)} bytes, limit {limits.max_field_bytes}")
    if json_text_too_deep(data, limits.max_depth - above):
        raise JsonRejected(TOO_DEEP, f"nested deeper than {limits.max_depth} levels")
    try:
        return json.loads(data, object_pairs_hook=_object_without_duplicates, **JSON_NUMBERS)
    except _DuplicateKey:
        raise JsonRejected(PARSE_ERROR, "json object repeats a key") from None
    except json.JSONDecodeError as exc:  # msg and position only: str(exc) is safe, but stay terse
        raise JsonRejected(PARSE_ERROR, f"invalid json at char {exc.pos}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # never the message: it may quote the value
        raise JsonRejected(PARSE_ERROR, f"json cannot be decoded ({type(exc).__name__})") from None


def _holds_json(value: list[Any]) -> bool:
    """True for a (possibly multi-dimensional) array of json/jsonb (its elements share one type)."""
    for item in value:
        if item is not None:
            return isinstance(item, JsonText) or (isinstance(item, list) and _holds_json(item))
    return False


def _decode_array(value: list[Any], limits: Limits, above: int) -> list[Any]:
    return [
        decode_json(v, limits, above) if isinstance(v, JsonText)
        else _decode_array(v, limits, above + 1) if isinstance(v, list) else v
        for v in value
    ]


def column_value(value: Any, limits: Limits) -> Any:
    """One fetched column value as JSON: json/jsonb (and arrays of them) by :func:`decode_json`,
    anything else by :func:`to_jsonable`."""
    if isinstance(value, JsonText):
        return decode_json(value, limits)
    if isinstance(value, list) and _holds_json(value):
        return _decode_array(value, limits, 2)
    return to_jsonable(value)


def _raw_row(names: Sequence[str], row: Sequence[Any], limits: Limits) -> bytes:
    """Best-effort bytes of a row for the quarantine (sealed by the pipeline; never logged). A json
    document keeps its first ``max_field_bytes`` bytes (all of it unless it is the oversize one)."""

    def raw(value: Any) -> Any:
        if isinstance(value, JsonText):
            return value.data[: limits.max_field_bytes].decode("utf-8", "replace")
        return repr(value)

    return json.dumps(dict(zip(names, row, strict=True)), default=raw).encode("utf-8")


# --------------------------------------------------------------------------- source


# A partition is (kind, lo, hi): ("all", None, None) | ("range", lo, hi) half-open | ("null", None, None)
Partition = tuple[str, int | None, int | None]


def split_range(lo: int, hi: int, partitions: int) -> list[tuple[int, int]]:
    """Split the inclusive integer interval [lo, hi] into at most ``partitions`` half-open ranges."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    if hi < lo:
        return []
    span = hi - lo + 1
    step = -(-span // partitions)  # ceiling division
    return [(start, min(start + step, hi + 1)) for start in range(lo, hi + 1, step)]


class _ReadSpec:
    """What to read (picklable, no connection)."""

    def __init__(
        self, dsn: _Dsn, table: str | None, query: str | None, key: str | None, partitions: int,
        fetch_size: int, jurisdiction: str | None, limits: Limits = Limits(),  # noqa: B008 - frozen
    ) -> None:
        self.dsn = dsn
        self.schema, self.table = _split_table(table) if table else (None, None)
        self.query = query
        self.key = key
        self.partitions = partitions
        self.fetch_size = fetch_size
        self.jurisdiction = jurisdiction
        self.limits = limits

    def relation(self, schema: str | None) -> sql.Composable:
        if self.query is not None:
            return sql.SQL("({}) AS {}").format(sql.SQL(self.query), sql.Identifier("_redactline_q"))
        assert self.table is not None
        return sql.Identifier(schema, self.table) if schema else sql.Identifier(self.table)

    def source(self, schema: str | None) -> str:
        what = f"{schema}.{self.table}" if self.table else "query"
        return f"{self.dsn.safe}#{what}"


def _split_table(table: str) -> tuple[str | None, str]:
    if "." in table:
        schema, name = table.split(".", 1)
        return schema, name
    return None, table


class _PlanPartitions(beam.DoFn):
    """Resolve the schema and, for a key, the min/max of the key; emit partitions (runs once)."""

    def __init__(self, spec: _ReadSpec) -> None:
        self.spec = spec

    def process(self, _: Any) -> Iterator[tuple[str | None, Partition]]:
        spec = self.spec
        failure = ""
        with _connect(spec.dsn, read_only=True) as conn:
            _register_loaders(conn)  # a non-integer key is refused below, not by a DataError in the fetch
            try:
                schema = spec.schema
                if spec.table is not None and schema is None:
                    schema = conn.execute("SELECT current_schema()").fetchone()[0]
                if spec.key is None:
                    yield schema, ("all", None, None)
                    return
                key = sql.Identifier(spec.key)
                row = conn.execute(
                    sql.SQL("SELECT min({k}), max({k}) FROM {r}").format(k=key, r=spec.relation(schema))
                ).fetchone()
            except psycopg.Error as exc:
                failure = _describe(exc, spec.dsn)
        if failure:
            raise PostgresError(f"planning read of {spec.source(spec.schema)}: {failure}")
        lo, hi = row
        if lo is not None and not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
            raise PostgresError(f"key column {spec.key!r} of {spec.source(schema)} is not an integer column")
        ranges = split_range(lo, hi, spec.partitions) if lo is not None else []
        log.info("reading %s in %d key range(s) plus NULL keys", spec.source(schema), len(ranges))
        for a, b in ranges:
            yield schema, ("range", a, b)
        yield schema, ("null", None, None)


class _ReadPartition(beam.DoFn):
    """Read one partition through a named (server-side) cursor, ``fetch_size`` rows at a time."""

    def __init__(self, spec: _ReadSpec) -> None:
        self.spec = spec

    def process(self, element: tuple[str | None, Partition]) -> Iterator[Any]:
        schema, (kind, lo, hi) = element
        spec = self.spec
        source = spec.source(schema)
        query = self._statement(schema, kind, lo, hi)
        n = 0
        failure = ""
        with _connect(spec.dsn, read_only=True) as conn:
            try:
                _prepare_read(conn)
                with conn.transaction(), conn.cursor(name=f"redactline_{os.getpid()}_{id(self)}") as cur:
                    cur.itersize = spec.fetch_size
                    cur.execute(query)
                    names = [c.name for c in cur.description or []]
                    dupes = sorted({c for c in names if names.count(c) > 1})
                    if dupes:
                        raise PostgresError(f"{source}: duplicate column names {dupes}; alias them")
                    key_idx = names.index(spec.key) if spec.key in names else None
                    while rows := cur.fetchmany(spec.fetch_size):
                        for row in rows:
                            n += 1
                            yield self._convert(names, row, source, self._ref(kind, key_idx, row, n))
            except psycopg.Error as exc:
                failure = _describe(exc, spec.dsn)
        if failure:
            raise PostgresError(f"reading {source}: {failure}")
        log.debug("read %d row(s) from %s partition %s", n, source, kind)

    def _statement(
        self, schema: str | None, kind: str, lo: int | None, hi: int | None
    ) -> sql.Composed:
        # Bounds are integers composed as literals, so no client-side placeholders are parsed and a '%'
        # inside a user query stays as it is.
        base = sql.SQL("SELECT * FROM {}").format(self.spec.relation(schema))
        if kind == "all":
            return base
        key = sql.Identifier(self.spec.key)
        if kind == "null":
            return sql.SQL("{} WHERE {} IS NULL").format(base, key)
        return sql.SQL("{} WHERE {k} >= {lo} AND {k} < {hi}").format(
            base, k=key, lo=sql.Literal(int(lo)), hi=sql.Literal(int(hi))
        )

    def _ref(self, kind: str, key_idx: int | None, row: Sequence[Any], n: int) -> str:
        if kind == "range" and key_idx is not None:
            return f"{self.spec.key}={row[key_idx]}"
        if kind == "null":
            return f"{self.spec.key} IS NULL row {n}"
        return f"row {n}"

    def _convert(self, names: list[str], row: Sequence[Any], source: str, ref: str) -> Any:
        meta = RecordMeta(source=source, ref=ref, jurisdiction=self.spec.jurisdiction)
        fields: dict[str, Any] = {}
        limits = self.spec.limits
        for name, value in zip(names, row, strict=True):
            try:
                fields[name] = column_value(value, limits)
            except (UnsupportedValue, JsonRejected) as exc:
                reason, why = (exc.reason, str(exc)) if isinstance(exc, JsonRejected) else (
                    PARSE_ERROR, f"unsupported type {exc}")
                rejected = Rejected(reason, f"column {name!r}: {why}", meta, _raw_row(names, row, limits))
                return beam.pvalue.TaggedOutput("rejected", rejected)
        return Record(fields=fields, meta=meta)


class ReadPostgres(beam.PTransform):
    """Read a PostgreSQL table or query; ``expand`` returns ``{"records": ..., "rejected": ...}``.

    Exactly one of ``table`` (``"name"`` or ``"schema.name"``) and ``query`` is required. With an integer
    ``key`` column, min/max are looked up when the pipeline runs and ``[min, max]`` is split into
    ``partitions`` half-open ranges read in parallel (after a ``Reshuffle``), plus one partition for rows
    whose key is NULL, so every row is read exactly once. Partitions read in separate transactions (no
    shared snapshot): rows changed during the read may be seen in either state.

    The DSN comes from ``dsn`` or the environment variable ``dsn_env``. ``RecordMeta.source`` is
    ``postgresql://host:port/db#schema.table`` (``#query`` for a query); ``ref`` is ``key=value`` for a
    keyed read, else ``row N`` (1-based within the read). Values are converted by ``to_jsonable``; a row
    with an unsupported value becomes ``Rejected(parse_error)`` naming the column and type only.
    ``json``/``jsonb`` values are decoded by :func:`decode_json` under ``max_field_bytes`` (a document's
    size) and ``max_depth``; a row with a value past them is ``Rejected(oversize | too_deep |
    parse_error)``, whose detail names the column and the limit, never the value. A date/time Python
    cannot represent (``infinity``, year 10000, BC, ``24:00``) is kept as its PostgreSQL text.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        table: str | None = None,
        query: str | None = None,
        key: str | None = None,
        partitions: int = 1,
        fetch_size: int = 1000,
        dsn_env: str = DEFAULT_DSN_ENV,
        jurisdiction: str | None = None,
        max_field_bytes: int = MIB,
    ) -> None:
        super().__init__()
        if (table is None) == (query is None):
            raise ValueError("give exactly one of table= or query=")
        if partitions < 1 or fetch_size < 1:
            raise ValueError("partitions and fetch_size must be >= 1")
        if partitions > 1 and key is None:
            raise ValueError("partitions > 1 needs an integer key column (key=)")
        self._spec = _ReadSpec(
            _Dsn(resolve_dsn(dsn, dsn_env)), table, query, key, partitions, fetch_size, jurisdiction,
            Limits(max_field_bytes),
        )

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        parts = (
            pbegin
            | "Seed" >> beam.Create([None])
            | "PlanPartitions" >> beam.ParDo(_PlanPartitions(self._spec))
            | "Distribute" >> beam.Reshuffle()
        )
        out = parts | "ReadPartitions" >> beam.ParDo(_ReadPartition(self._spec)).with_outputs(
            "rejected", main="records"
        )
        return {"records": out.records, "rejected": out.rejected}


# --------------------------------------------------------------------------- sink

#: Column type chosen for a new column from the first non-null value seen in a batch.
TYPE_MAP: dict[type, str] = {bool: "boolean", int: "bigint", float: "double precision", str: "text",
                             dict: "jsonb", list: "jsonb"}


def infer_pg_type(values: Iterable[Any]) -> str:
    """bool -> boolean, int -> bigint, float -> double precision, str -> text, dict/list -> jsonb.

    The first non-null value decides; all-null or any other type -> text.
    """
    for v in values:
        if v is not None:
            return TYPE_MAP.get(type(v), "text")
    return "text"


def _adapt(value: Any, pg_type: str) -> Any:
    """A Python value ready for a column of ``pg_type`` (json/jsonb get ``Jsonb``; text gets str)."""
    if value is None:
        return None
    if pg_type in ("json", "jsonb"):
        return Jsonb(value)
    if pg_type in ("text", "character varying", "character"):
        return value if isinstance(value, str) else json.dumps(value, default=to_jsonable)
    if isinstance(value, dict | list):
        return Jsonb(value)
    return value


class _UpsertBatches(beam.DoFn):
    """Upsert lists of records, one transaction per batch."""

    def __init__(self, dsn: _Dsn, table: str, keys: list[str], create: bool,
                 column_types: dict[str, str] | None = None) -> None:
        self.dsn = dsn
        self.schema, self.table = _split_table(table)
        self.keys = keys
        self.create = create
        self.column_types = dict(column_types or {})
        self._conn: psycopg.Connection | None = None
        self._columns: dict[str, str] = {}

    @property
    def _ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)

    def setup(self) -> None:
        self._conn = _connect(self.dsn)

    def teardown(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def process(self, batch: list[Any]) -> Iterator[int]:
        assert self._conn is not None
        rows = [self._fields(el) for el in batch]
        failure = ""
        try:
            with self._conn.transaction():
                self._ensure_columns(rows)
                columns = sorted({c for r in rows for c in r})
                self._conn.cursor().executemany(
                    self._upsert_sql(columns),
                    [[_adapt(r.get(c), self._columns[c]) for c in columns] for r in rows],
                )
        except psycopg.Error as exc:
            failure = _describe(exc, self.dsn)
            self._columns = {}  # DDL of the failed transaction was rolled back: look the columns up again
        if failure:
            raise PostgresError(f"upserting into {self.dsn.safe}#{self.table}: {failure}")
        yield len(rows)

    def _fields(self, element: Any) -> dict[str, Any]:
        fields, where = (element.fields, f" ({element.meta.source} {element.meta.ref})") \
            if isinstance(element, Record) else (element, "")
        if not isinstance(fields, dict):
            raise TypeError(f"WritePostgres expects Record or dict, got {type(element).__name__}")
        missing = [k for k in self.keys if fields.get(k) is None]
        if missing:
            raise PostgresError(f"record{where} has no value for key column(s) {missing}")
        return fields

    def _ensure_columns(self, rows: list[dict[str, Any]]) -> None:
        typed = self.column_types
        wanted = {c: typed.get(c) or infer_pg_type(r.get(c) for r in rows) for r in rows for c in r}
        if not self._columns:
            self._columns = self._existing_columns()
        missing = [c for c in wanted if c not in self._columns]
        if not missing:
            return
        if not self.create:
            raise PostgresError(f"table {self.table!r} has no column(s) {sorted(missing)} and create=False")
        conn = self._conn
        assert conn is not None
        # Serialise DDL across parallel workers writing the same table.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"redactline:{self.schema}.{self.table}"])
        cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(wanted[c])) for c in wanted]
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                self._ident, sql.SQL(", ").join(cols), sql.SQL(", ").join(map(sql.Identifier, self.keys))
            )
        )
        for c in missing:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    self._ident, sql.Identifier(c), sql.SQL(wanted[c])
                )
            )
        self._columns = self._existing_columns()

    def _existing_columns(self) -> dict[str, str]:
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            [self._ident.as_string(self._conn)],
        ).fetchall()
        return dict(rows)

    def _upsert_sql(self, columns: list[str]) -> sql.Composed:
        updates = [c for c in columns if c not in self.keys]
        action = (
            sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates)
            )
            if updates
            else sql.SQL("DO NOTHING")
        )
        return sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT ({keys}) {action}").format(
            t=self._ident,
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            keys=sql.SQL(", ").join(map(sql.Identifier, self.keys)),
            action=action,
        )


class WritePostgres(beam.PTransform):
    """Upsert ``Record``s (or plain dicts) into a table by ``key``; returns a PCollection of batch sizes.

    Each batch (up to ``batch_size`` records) is one transaction of ``INSERT ... ON CONFLICT (key) DO
    UPDATE`` statements sent with ``executemany`` (pipelined), so re-running a pipeline updates rows
    instead of duplicating them. A record is the whole row: within a batch, a column that a record lacks
    is written as NULL. Every record must carry a non-null value for each key column.

    With ``create=True`` the table is created if absent (``PRIMARY KEY (key)``) and missing columns are
    added, typed from the first non-null value seen (``infer_pg_type``: bool -> boolean, int -> bigint,
    float -> double precision, str -> text, dict/list -> jsonb, anything else or all-null -> text).
    Nested values (dict/list) are stored as jsonb. ``column_types`` (column -> PostgreSQL type, e.g. the
    source's ``timestamp with time zone`` or ``numeric(10,2)`` for a column the policy keeps) replaces
    that inference for the columns it names; a value such a column cannot take fails its batch
    (``DataError``, no value quoted). With ``create=False`` the table must exist and have a unique
    constraint on ``key``.
    """

    def __init__(
        self,
        dsn: str | None,
        table: str,
        key: str | list[str],
        create: bool = True,
        *,
        batch_size: int = 500,
        dsn_env: str = DEFAULT_DSN_ENV,
        column_types: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        keys = [key] if isinstance(key, str) else list(key)
        if not keys:
            raise ValueError("key must name at least one column")
        self._dofn = _UpsertBatches(_Dsn(resolve_dsn(dsn, dsn_env)), table, keys, create, column_types)
        self._batch_size = batch_size

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._batch_size)
            | "Upsert" >> beam.ParDo(self._dofn)
        )
