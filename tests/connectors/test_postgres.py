"""ReadPostgres / WritePostgres against the real PostgreSQL server on 127.0.0.1:5432."""

from __future__ import annotations

import base64
import logging
import os
import threading
import traceback
import uuid
from collections import Counter
from typing import Any

import apache_beam as beam
import pytest

from redactline.connectors.postgres import (
    PostgresError,
    ReadPostgres,
    WritePostgres,
    infer_pg_type,
    split_range,
    to_jsonable,
)
from redactline.connectors.records import PARSE_ERROR, Record, RecordMeta, Rejected
from tests.support.beam import pipeline

pytestmark = pytest.mark.postgres

SECRET = "Sup3r-s3cret-PW"
URL_DSN = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test"  # trust auth: the password is ignored

# The test runner (the in-process FnApiRunner) runs bundles in this process; DoFns pickled from this
# importable module refer to this dict by reference, so outputs land here.
_OUT: dict[str, list[Any]] = {}
_LOCK = threading.Lock()


def _collect(element: Any, key: str) -> None:
    with _LOCK:
        _OUT.setdefault(key, []).append(element)


def run_read(**kwargs: Any) -> tuple[list[Record], list[Rejected]]:
    """Run ReadPostgres on the test runner and return (records, rejected)."""
    run = uuid.uuid4().hex
    with pipeline() as p:
        out = p | ReadPostgres(**kwargs)
        out["records"] | "CollectRecords" >> beam.Map(_collect, f"{run}:records")
        out["rejected"] | "CollectRejected" >> beam.Map(_collect, f"{run}:rejected")
    return _OUT.pop(f"{run}:records", []), _OUT.pop(f"{run}:rejected", [])


def run_write(rows: list[Any], **kwargs: Any) -> None:
    with pipeline() as p:
        _ = p | beam.Create(rows) | WritePostgres(**kwargs)


def _people(pg: Any, n: int, *, nulls: int = 0) -> str:
    table = pg.table("people")
    pg.conn.execute(f"CREATE TABLE {table} (id bigint, name text, score double precision)")
    pg.conn.execute(f"INSERT INTO {table} SELECT g, 'name' || g, g / 2.0 FROM generate_series(1, %s) g", [n])
    for _ in range(nulls):
        pg.conn.execute(f"INSERT INTO {table} VALUES (NULL, 'nokey', 0)")
    return table


# --------------------------------------------------------------------------- pure helpers


def test_split_range_covers_interval_exactly_once() -> None:
    for lo, hi, parts in [(1, 100, 3), (5, 5, 4), (-7, 13, 5), (0, 9, 10), (0, 2, 7)]:
        ranges = split_range(lo, hi, parts)
        covered = [v for a, b in ranges for v in range(a, b)]
        assert covered == list(range(lo, hi + 1))
        assert 1 <= len(ranges) <= parts
    assert split_range(3, 2, 4) == []


def test_to_jsonable_types() -> None:
    import datetime as dt
    import decimal

    assert to_jsonable(decimal.Decimal("12.50")) == "12.50"
    assert to_jsonable(dt.date(2024, 2, 29)) == "2024-02-29"
    assert to_jsonable(b"\x00\xff") == base64.b64encode(b"\x00\xff").decode()
    assert to_jsonable(float("nan")) is None  # non-finite -> null (issue 14: "NaN" was redacted as a name)
    assert to_jsonable({"a": [dt.time(1, 2)]}) == {"a": ["01:02:00"]}


def test_infer_pg_type_mapping() -> None:
    assert infer_pg_type([None, True]) == "boolean"
    assert infer_pg_type([3]) == "bigint"
    assert infer_pg_type([1.5]) == "double precision"
    assert infer_pg_type(["x"]) == "text"
    assert infer_pg_type([{"a": 1}]) == "jsonb"
    assert infer_pg_type([[1]]) == "jsonb"
    assert infer_pg_type([None]) == "text"


# --------------------------------------------------------------------------- source


def test_table_source_without_key(pg: Any) -> None:
    table = _people(pg, 5)
    records, rejected = run_read(dsn=pg.dsn, table=table, fetch_size=2, jurisdiction="EU")
    assert rejected == []
    assert sorted(r.fields["id"] for r in records) == [1, 2, 3, 4, 5]
    assert sorted(r.meta.ref for r in records) == [f"row {i}" for i in range(1, 6)]
    assert {r.meta.source for r in records} == {f"postgresql://127.0.0.1:5432/test#{table}"}
    assert {r.meta.jurisdiction for r in records} == {"EU"}
    one = next(r for r in records if r.fields["id"] == 3)
    assert one.fields == {"id": 3, "name": "name3", "score": 1.5}


def test_unqualified_table_resolves_current_schema(pg: Any) -> None:
    _people(pg, 2)
    dsn = f"{pg.dsn} options='-c search_path={pg.name}'"
    records, _ = run_read(dsn=dsn, table="people")
    assert {r.meta.source for r in records} == {f"postgresql://127.0.0.1:5432/test#{pg.name}.people"}
    assert len(records) == 2


@pytest.mark.parametrize("partitions", [1, 4, 7])
def test_partitioned_read_gives_every_row_exactly_once(pg: Any, partitions: int) -> None:
    table = _people(pg, 103, nulls=2)
    pg.conn.execute(f"DELETE FROM {table} WHERE id BETWEEN 40 AND 60")  # a gap in the key space
    records, rejected = run_read(dsn=pg.dsn, table=table, key="id", partitions=partitions, fetch_size=10)
    assert rejected == []
    ids = Counter(r.fields["id"] for r in records)
    assert ids == Counter([*[i for i in range(1, 104) if not 40 <= i <= 60], None, None])
    keyed = [r for r in records if r.fields["id"] is not None]
    assert all(r.meta.ref == f"id={r.fields['id']}" for r in keyed)
    null_refs = sorted(r.meta.ref for r in records if r.fields["id"] is None)
    assert null_refs == ["id IS NULL row 1", "id IS NULL row 2"]


def test_reads_through_a_server_side_cursor_in_fetch_size_steps(pg: Any) -> None:
    """While a partition is being read, the server shows the reader FETCHing ``fetch_size`` rows."""
    from redactline.connectors.postgres import _ReadPartition

    table = _people(pg, 50)
    spec = ReadPostgres(pg.dsn, table=table, fetch_size=7)._spec
    reader = _ReadPartition(spec)
    rows = reader.process((pg.name, ("all", None, None)))
    first = next(rows)
    assert isinstance(first, Record)
    cursor_name = f"redactline_{os.getpid()}_{id(reader)}"
    queries = [q for (q,) in pg.conn.execute(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'redactline' AND query LIKE %s",
        [f"%{cursor_name}%"],
    ).fetchall()]
    assert queries == [f'FETCH FORWARD 7 FROM "{cursor_name}"']
    assert 1 + sum(1 for _ in rows) == 50


def test_query_source_with_key_partitions(pg: Any) -> None:
    table = _people(pg, 30)
    query = f"SELECT id, upper(name) AS name FROM {table} WHERE id % 2 = 0"
    records, rejected = run_read(dsn=pg.dsn, query=query, key="id", partitions=3)
    assert rejected == []
    assert sorted(r.fields["id"] for r in records) == list(range(2, 31, 2))
    assert all(r.fields["name"] == f"NAME{r.fields['id']}" for r in records)
    assert {r.meta.source for r in records} == {"postgresql://127.0.0.1:5432/test#query"}


def test_query_source_row_refs(pg: Any) -> None:
    table = _people(pg, 3)
    records, _ = run_read(dsn=pg.dsn, query=f"SELECT name FROM {table}")
    assert sorted(r.meta.ref for r in records) == ["row 1", "row 2", "row 3"]


def test_typed_values_and_unconvertible_row(pg: Any) -> None:
    table = pg.table("typed")
    pg.conn.execute(
        f"""CREATE TABLE {table} (
            id int PRIMARY KEY, amount numeric(10,2), born date, seen timestamptz, uid uuid, blob bytea,
            doc jsonb, flag boolean, ratio real, tags text[], addr inet, span int4range)"""
    )
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    pg.conn.execute(
        f"""INSERT INTO {table} VALUES
            (1, 12.50, '2024-02-29', '2024-03-01 12:00:00+00', %s, '\\x00ff10', '{{"a": [1, {{"b": null}}]}}',
             true, 0.5, ARRAY['x','y'], '10.0.0.1', NULL),
            (2, NULL, NULL, NULL, NULL, NULL, '[1, "two"]', false, 'NaN', NULL, NULL, '[1,5)')""",
        [u],
    )
    pg.conn.execute("SET TIME ZONE 'UTC'")
    records, rejected = run_read(dsn=f"{pg.dsn} options='-c TimeZone=UTC'", table=table, key="id")
    assert len(records) == 1 and len(rejected) == 1
    f = records[0].fields
    assert f == {
        "id": 1,
        "amount": "12.50",
        "born": "2024-02-29",
        "seen": "2024-03-01T12:00:00+00:00",
        "uid": str(u),
        "blob": base64.b64encode(b"\x00\xff\x10").decode(),
        "doc": {"a": [1, {"b": None}]},
        "flag": True,
        "ratio": 0.5,
        "tags": ["x", "y"],
        "addr": "10.0.0.1",
        "span": None,
    }
    bad = rejected[0]
    assert bad.reason == PARSE_ERROR
    assert bad.meta.ref == "id=2"
    assert "span" in bad.detail and "two" not in bad.detail
    assert b"two" in bad.raw  # the raw row goes to the (sealed) quarantine


def test_dsn_from_environment(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _people(pg, 2)
    monkeypatch.setenv("RL_TEST_PG_DSN", pg.dsn)
    records, _ = run_read(table=table, dsn_env="RL_TEST_PG_DSN")
    assert len(records) == 2
    monkeypatch.delenv("RL_TEST_PG_DSN")
    with pytest.raises(PostgresError, match="RL_TEST_PG_DSN"):
        ReadPostgres(table=table, dsn_env="RL_TEST_PG_DSN")


def test_argument_validation() -> None:
    with pytest.raises(ValueError):
        ReadPostgres(URL_DSN)
    with pytest.raises(ValueError):
        ReadPostgres(URL_DSN, table="t", query="SELECT 1")
    with pytest.raises(ValueError, match="key"):
        ReadPostgres(URL_DSN, table="t", partitions=2)


def test_non_integer_key_is_refused(pg: Any) -> None:
    table = _people(pg, 3)
    with pytest.raises(Exception, match="not an integer column"):
        run_read(dsn=pg.dsn, table=table, key="name", partitions=2)


def _messages(exc: BaseException | None) -> str:
    """Every message in an exception chain (causes and contexts), without source lines."""
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def test_missing_table_error_names_table_not_password(pg: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test"
    with pytest.raises(Exception, match="no_such_table") as info:
        run_read(dsn=dsn, table=pg.table("no_such_table"))
    _assert_no_secret(info.value, caplog)


def _assert_no_secret(exc: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    assert SECRET not in "".join(traceback.format_exception(exc))
    assert SECRET not in caplog.text
    return _messages(exc)


@pytest.mark.parametrize(
    ("dsn", "expect"),
    [
        (f"postgresql://postgres:{SECRET}@127.0.0.1:1/test", "127.0.0.1:1/test"),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:5432/no_such_db_rl", "no_such_db_rl"),
        (f"host=127.0.0.1 port=1 user=postgres password={SECRET} dbname=test", "127.0.0.1:1/test"),
    ],
)
def test_connection_failure_never_shows_password(
    pg: Any, dsn: str, expect: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    table = _people(pg, 1)
    with pytest.raises(Exception) as info:
        run_read(dsn=dsn, table=table)
    text = _assert_no_secret(info.value, caplog)
    assert "cannot connect" in text and expect in text


def test_unparsable_dsn_never_shows_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # psycopg's own parse error for this string quotes the password ("p w" style); ours must not.
    bad = f"postgresql://postgres:{SECRET} x@127.0.0.1:5432/test"
    with pytest.raises(PostgresError) as info:
        ReadPostgres(bad, table="t")
    _assert_no_secret(info.value, caplog)


def test_password_dsn_works_and_source_has_no_credentials(pg: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    table = _people(pg, 2)
    records, _ = run_read(dsn=URL_DSN, table=table, key="id", partitions=2)
    assert len(records) == 2
    assert all("postgres@" not in r.meta.source and SECRET not in r.meta.source for r in records)
    assert SECRET not in caplog.text
    assert SECRET not in repr(ReadPostgres(URL_DSN, table=table)._spec.dsn)


# --------------------------------------------------------------------------- sink


def _rows(pg: Any, table: str) -> list[tuple]:
    return pg.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def test_sink_upsert_twice_has_no_duplicates(pg: Any) -> None:
    table = pg.table("out")
    first = [{"id": i, "name": f"n{i}", "score": i / 4, "ok": i % 2 == 0, "doc": {"tags": [i]}}
             for i in range(1, 41)]
    run_write(first, dsn=pg.dsn, table=table, key="id", batch_size=7)
    run_write(first, dsn=pg.dsn, table=table, key="id", batch_size=7)
    assert pg.conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone() == (40, 40)

    meta = RecordMeta("file:///in.jsonl", "line 1")
    second = [Record({"id": i, "name": f"new{i}", "score": 0.0, "ok": True, "doc": [1, {"x": "y"}]}, meta)
              for i in range(35, 46)]
    run_write(second, dsn=pg.dsn, table=table, key="id")
    assert pg.conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (45,)
    got = {r[0]: r for r in pg.conn.execute(f"SELECT id, name, score, ok, doc FROM {table}").fetchall()}
    assert got[1] == (1, "n1", 0.25, False, {"tags": [1]})
    assert got[40] == (40, "new40", 0.0, True, [1, {"x": "y"}])

    types = dict(pg.conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = 'out'",
        [pg.name],
    ).fetchall())
    assert types == {
        "id": "bigint", "name": "text", "score": "double precision", "ok": "boolean", "doc": "jsonb"
    }


def test_sink_composite_key_and_new_columns(pg: Any) -> None:
    table = pg.table("multi")
    run_write([{"tenant": "a", "n": 1, "v": "x"}, {"tenant": "b", "n": 1, "v": "y"}],
              dsn=pg.dsn, table=table, key=["tenant", "n"])
    run_write([{"tenant": "a", "n": 1, "v": "z", "extra": {"k": 1}}],
              dsn=pg.dsn, table=table, key=["tenant", "n"])
    assert pg.conn.execute(f"SELECT tenant, n, v, extra FROM {table} ORDER BY tenant").fetchall() == [
        ("a", 1, "z", {"k": 1}),
        ("b", 1, "y", None),
    ]


def test_sink_without_create_needs_existing_columns(pg: Any) -> None:
    table = pg.table("fixed")
    pg.conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text)")
    run_write([{"id": 1, "name": "a"}], dsn=pg.dsn, table=table, key="id", create=False)
    assert _rows(pg, table) == [(1, "a")]
    with pytest.raises(Exception, match="surname"):
        run_write([{"id": 2, "surname": "b"}], dsn=pg.dsn, table=table, key="id", create=False)


def test_sink_errors_do_not_leak_values_or_password(pg: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    table = pg.table("strict")
    pg.conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, age int)")
    with pytest.raises(Exception) as info:
        run_write([{"id": 1, "age": "alice@example.com"}], dsn=URL_DSN, table=table, key="id", create=False)
    text = _assert_no_secret(info.value, caplog)
    assert "alice@example.com" not in text
    assert "alice@example.com" not in caplog.text
    assert "upserting into postgresql://127.0.0.1:5432/test" in text


def test_sink_refuses_record_without_key(pg: Any) -> None:
    with pytest.raises(Exception, match=r"key column\(s\) \['id'\]"):
        run_write([{"name": "no id"}], dsn=pg.dsn, table=pg.table("nokey"), key="id")
