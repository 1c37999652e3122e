"""Date/time values Python cannot represent, from the PostgreSQL source: kept, not a failed read.

Before, psycopg raised ``DataError`` inside the fetch for ``'infinity'::date``, a year past 9999, a BC
date, ``24:00`` or a huge interval, which failed the whole read (and the driver's profiling sample);
its C interval loader silently wrapped a huge interval around instead.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.connectors.records import PARSE_ERROR
from redactline.connectors.sample import sample_postgres
from redactline.pipelines.quarantine import read_entries
from redactline.pipelines.run import run
from tests.connectors.test_postgres import run_read
from tests.support.demo import demo_policy_keeping

pytestmark = pytest.mark.postgres

KEY_HEX = "33" * 32
COLUMNS = ("id int, country text, d date, ts timestamp, tstz timestamptz, t time, ttz timetz, iv interval, "
           "ds date[], n numeric, dr daterange")
ROWS = [
    (1, "DE", "2024-05-06", "2024-05-06 07:08:09", "2024-05-06 07:08:09+02", "12:30", "12:30+02",
     "2 days 03:00:00", "{2024-05-06}", "1.5", None),
    (2, "DE", "infinity", "-infinity", "infinity", "24:00", "24:00+03", "178000000 years",
     "{infinity,2020-01-01,NULL}", "NaN", None),
    (3, "DE", "10000-01-01", "0044-03-15 12:00 BC", "9999-12-31 23:30-05", None, None, "1000000000 days",
     None, "Infinity", None),
    (4, "DE", "-infinity", None, None, None, None, None, None, None, "[2020-01-01,infinity)"),
    # no country: held by the demo policy's residency (unknown: hold)
    (5, None, "2024-01-02", None, None, None, None, None, None, None, None),
    (6, None, "infinity", None, "-infinity", None, None, None, None, None, None),
]


def _table(pg: Any) -> str:
    table = pg.table("dates")
    pg.conn.execute(f"CREATE TABLE {table} ({COLUMNS})")
    with pg.conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * 11)})", ROWS)
    return table


def test_unrepresentable_dates_are_kept_as_their_text_and_the_read_goes_on(pg: Any) -> None:
    table = _table(pg)
    # the server's own output styles must not matter: the read pins ISO (the DMY input order stays)
    styled = pg.dsn + " options='-c DateStyle=SQL,DMY -c IntervalStyle=iso_8601'"
    records, rejected = run_read(dsn=styled, table=table, key="id")
    assert len(records) + len(rejected) == 6  # no row lost
    by_id = {r.fields["id"]: r.fields for r in records}
    assert by_id[1] == {
        "id": 1, "country": "DE", "d": "2024-05-06", "ts": "2024-05-06T07:08:09",
        "tstz": "2024-05-06T05:08:09+00:00", "t": "12:30:00", "ttz": "12:30:00+02:00", "iv": 183600.0,
        "ds": ["2024-05-06"], "n": "1.5", "dr": None}
    assert by_id[2] == {
        "id": 2, "country": "DE", "d": "infinity", "ts": "-infinity", "tstz": "infinity", "t": "24:00:00",
        "ttz": "24:00:00+03", "iv": 178000000 * 365 * 86400.0,  # psycopg's C loader: 545490560 days
        "ds": ["infinity", "2020-01-01", None], "n": None, "dr": None}  # numeric NaN: null, as before
    assert by_id[3] == {
        "id": 3, "country": "DE", "d": "10000-01-01", "ts": "0044-03-15 12:00:00 BC",
        "tstz": "10000-01-01 04:30:00+00", "t": None, "ttz": None, "iv": 1e9 * 86400, "ds": None,
        "n": None, "dr": None}
    # a range has no JSON form: its row is rejected, as any range's is (before: the read failed)
    [bad] = rejected
    assert (bad.meta.ref, bad.reason) == ("id=4", PARSE_ERROR)
    assert bad.detail == "column 'dr': unsupported type Range"

    # the driver's profiling sample reads the same way
    assert [r.fields["d"] for r in sample_postgres(pg.dsn, table, 10, key="id")] == [
        "2024-05-06", "infinity", "10000-01-01", "2024-01-02", "infinity"]


def _policy(tmp_path: Path) -> Path:
    return demo_policy_keeping(tmp_path, "d", "tstz")


@pytest.mark.slow
def test_a_run_with_infinite_dates_in_kept_date_columns(tmp_path: Path, monkeypatch: Any, pg: Any) -> None:
    """Kept ``date``/``timestamptz`` columns stay typed in both sinks (one run: delivered rows to
    PostgreSQL, held rows to Parquet). PostgreSQL takes 'infinity', year 10000 and BC back from their
    text; Parquet has no such dates, so that row is the held sink's ``sink_type_error`` (field named),
    counted as quarantined, never lost. The driver's profiling sample runs too."""
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    table, dst, held = _table(pg), pg.table("dst"), tmp_path / "held.parquet"
    manifest, quarantine = tmp_path / "m.json", tmp_path / "q.jsonl"
    code = run(["--policy", str(_policy(tmp_path)), "--source", f"{pg.url}#{table}",
                "--sink", f"{pg.url}#{dst}", "--held", str(held), "--quarantine-key-env", "RL_TEST_QKEY",
                "--quiet", "--quarantine", str(quarantine), "--manifest", str(manifest)])
    assert code == 0
    counts = json.loads(manifest.read_text())["counts"]
    assert (counts["read"], counts["delivered"], counts["held"]["total"]) == (6, 3, 1)
    assert counts["quarantined"]["by_reason"] == {PARSE_ERROR: 1, "sink_type_error": 1}
    entries = {e["detail"]: e["reason"] for e in read_entries(quarantine, bytes.fromhex(KEY_HEX))}
    assert entries == {"column 'dr': unsupported type Range": PARSE_ERROR,
                       "field 'd' does not fit the Parquet column type date32[day]": "sink_type_error"}

    types = dict(pg.conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0", [dst]).fetchall())
    assert (types["d"], types["tstz"]) == ("date", "timestamp with time zone")
    rows = pg.conn.execute(f"SELECT id, d::text, tstz::text FROM {dst} ORDER BY id").fetchall()
    assert rows == [(1, "2024-05-06", "2024-05-06 05:08:09+00"), (2, "infinity", "infinity"),
                    (3, "10000-01-01", "10000-01-01 04:30:00+00")]

    out = pq.read_table(held)
    assert out.schema.field("d").type == pa.date32()
    assert out.schema.field("tstz").type == pa.timestamp("us", "UTC")
    assert [(r["id"], r["d"]) for r in out.to_pylist()] == [(5, dt.date(2024, 1, 2))]
