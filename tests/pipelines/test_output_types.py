"""Type-stable outputs: sink column types from the source's types and the policy, the policy identity in
the Parquet metadata, an empty result as a valid empty file, and the PostgreSQL sink's key checked first."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.pipelines.output_types import POLICY_METADATA_KEY
from redactline.pipelines.run import run
from tests.support.demo import demo_policy_keeping
from tests.support.pii import person_record

KEY_HEX = "55" * 32
SOURCE_SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("country", pa.string()),
                           ("amount", pa.decimal128(10, 2)), ("created", pa.timestamp("us", tz="UTC")),
                           ("visits", pa.int32()), ("notes", pa.string())])


def _policy(tmp_path: Path) -> Path:
    """The demo policy keeping two typed columns as well (amount, created); visits stays inspected."""
    return demo_policy_keeping(tmp_path, "amount", "created")


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        person = person_record(i, "DE")
        rows.append({"id": i, "name": person["name"], "country": "DE", "amount": Decimal(f"{i}.50"),
                     "created": dt.datetime(2024, 5, 6, 7, 8, i, tzinfo=dt.UTC), "visits": i,
                     "notes": person["notes"]})
    return rows


def _args(tmp_path: Path, policy: Path, source: str, sink: str, *extra: str) -> list[str]:
    return ["--policy", str(policy), "--source", source, "--sink", sink,
            "--quarantine-key-env", "RL_TEST_QKEY", "--quiet", "--no-profile", *extra]


@pytest.mark.slow
def test_parquet_to_parquet_keeps_kept_types_in_source_order_with_the_policy_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    policy = _policy(tmp_path)
    full, empty = tmp_path / "in.parquet", tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pylist(_rows(6), schema=SOURCE_SCHEMA), full)
    pq.write_table(SOURCE_SCHEMA.empty_table(), empty)

    assert run(_args(tmp_path, policy, str(full), str(tmp_path / "a" / "out.parquet"))) == 0
    table = pq.read_table(tmp_path / "a" / "out.parquet")
    expected = [("id", pa.int64()), ("name", pa.string()), ("country", pa.string()),
                ("amount", pa.decimal128(10, 2)), ("created", pa.timestamp("us", tz="UTC")),
                ("visits", pa.string()), ("notes", pa.string())]  # visits is inspected: string
    assert [(f.name, f.type) for f in table.schema][:7] == expected
    assert table.schema.names[7:] == ["_redactline"]
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    assert rows[2]["amount"] == Decimal("2.50") and rows[2]["created"].second == 2
    assert rows[2]["name"] == "<NAME>" and rows[2]["visits"] == "2"
    manifest = json.loads((tmp_path / "a" / "out.manifest.json").read_text())
    identity = json.loads(table.schema.metadata[POLICY_METADATA_KEY.encode()])
    assert identity == {k: manifest["policy"][k] for k in ("name", "version", "sha256")}

    # nothing delivered: still one valid Parquet file, with the same schema and no rows
    assert run(_args(tmp_path, policy, str(empty), str(tmp_path / "b" / "out.parquet"))) == 0
    nothing = pq.read_table(tmp_path / "b" / "out.parquet")
    assert nothing.num_rows == 0
    assert [(f.name, f.type) for f in nothing.schema] == expected
    assert POLICY_METADATA_KEY.encode() in nothing.schema.metadata


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_sink_keeps_the_source_column_types_of_kept_columns(tmp_path, monkeypatch, pg):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    src, dst = pg.table("src"), pg.table("dst")
    pg.conn.execute(f"CREATE TABLE {src} (id integer PRIMARY KEY, name text, country text, "
                    "amount numeric(10,2), created timestamptz, visits integer, notes text)")
    with pg.conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {src} VALUES (%(id)s, %(name)s, %(country)s, %(amount)s, %(created)s, "
                        "%(visits)s, %(notes)s)", _rows(4))
    code = run(_args(tmp_path, _policy(tmp_path), f"{pg.url}#{src}", f"{pg.url}#{dst}",
                     "--quarantine", str(tmp_path / "q.jsonl"), "--manifest", str(tmp_path / "m.json"),
                     "--held", str(tmp_path / "held.jsonl")))
    assert code == 0
    types = dict(pg.conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0", [dst]).fetchall())
    assert types["id"] == "integer" and types["amount"] == "numeric(10,2)"
    assert types["created"] == "timestamp with time zone"
    assert types["name"] == "text" and types["visits"] == "text"  # replaced / inspected: text
    row = pg.conn.execute(f"SELECT amount, created, name FROM {dst} WHERE id = 3").fetchone()
    assert row[0] == Decimal("3.50") and row[1] == dt.datetime(2024, 5, 6, 7, 8, 3, tzinfo=dt.UTC)
    assert row[2] == "<NAME>"


@pytest.mark.postgres
@pytest.mark.parametrize(("key", "says"), [
    ("name", "the policy does not keep the key column 'name' (it is transformed by replace"),
    ("visits", "the policy does not keep the key column 'visits' (it is inspected as text"),
    ("nope", "has no column 'nope'"),
])
def test_a_sink_key_missing_or_not_kept_is_a_usage_error_before_the_job(tmp_path, monkeypatch, pg, capsys,
                                                                        key, says):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(_rows(2), schema=SOURCE_SCHEMA), source)
    manifest = tmp_path / "m.json"
    code = run(_args(tmp_path, _policy(tmp_path), str(source), f"{pg.url}#{pg.table('dst')}",
                     "--sink-key", key, "--manifest", str(manifest)))
    err = capsys.readouterr().err
    assert code == 2 and says in err and "--sink-key" in err
    assert not manifest.exists()
    assert pg.conn.execute("SELECT to_regclass(%s)", [pg.table("dst")]).fetchone()[0] is None
