"""End-to-end runs against a real PostgreSQL server and a real paginated HTTP API on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redactline.pipelines.run import run
from tests.support.demo import DEMO_POLICY
from tests.support.pii import person_record, pii_values, scan_for

KEY_HEX = "44" * 32


def _args(tmp_path: Path, source: str, sink: str, *extra: str) -> list[str]:
    return ["--policy", str(DEMO_POLICY), "--source", source, "--sink", sink,
            "--quarantine", str(tmp_path / "q.jsonl"), "--held", str(tmp_path / "held.jsonl"),
            "--manifest", str(tmp_path / "manifest.json"), "--quarantine-key-env", "RL_TEST_QKEY",
            "--quiet", *extra]


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_table_to_postgres_table(tmp_path, monkeypatch, pg, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    conn, src, dst = pg.conn, pg.table("src"), pg.table("dst")
    conn.execute(f"CREATE TABLE {src} (id integer PRIMARY KEY, name text, email text, phone text, "
                 "country text, notes text)")
    rows = [person_record(i, "FR" if i % 2 else "DE") for i in range(1, 13)]
    rows.append({**person_record(13), "notes": "Y" * (2 * 1024 * 1024)})  # 2 MB value
    rows.append(person_record(14, "BR"))  # no residency rule for BR -> held
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {src} VALUES (%(id)s, %(name)s, %(email)s, %(phone)s, %(country)s, "
                        "%(notes)s)", [{**r, "id": int(r["id"])} for r in rows])
    code = run(_args(tmp_path, f"{pg.url}#{src}", f"{pg.url}#{dst}", "--source-key", "id",
                     "--source-partitions", "2", "--max-record-bytes", "1048576"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = conn.execute(f"SELECT id, name, notes, _redactline FROM {dst} ORDER BY id").fetchall()
    assert [r[0] for r in out] == list(range(1, 13))
    assert all(r[1] == "<NAME>" and r[3]["policy"] == "demo-support-export" for r in out)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["read"] == 14 and manifest["counts"]["delivered"] == 12
    assert manifest["counts"]["quarantined"]["by_reason"] == {"oversize": 1}
    assert manifest["counts"]["held"]["by_reason"] == {"no_rule": 1}
    assert manifest["check"]["holds"]
    [entry] = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert entry["ref"] == "id=13" and entry["source"].endswith(f"#{src}")
    dumped = json.dumps([list(map(str, r)) for r in out])
    assert scan_for([tmp_path], pii_values(), dumped + captured.out + captured.err) == []


def _pages(pages: list[list]):
    """A page-numbered JSON API: ?page=N -> {"items": [...]}, an empty page ends the walk."""
    def handler(seen, index):
        page = int(seen.query.get("page", ["1"])[0])
        return 200, {"items": pages[page - 1] if 0 < page <= len(pages) else []}
    return handler


@pytest.mark.slow
def test_paginated_http_api_to_parquet(tmp_path, monkeypatch, capsys, no_remote_network, http_server):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    records = [person_record(i) for i in range(9)]
    big = {"id": "big", "x": "Q" * 2_000_000}
    http_server.handler = _pages([records[0:4], [*records[4:8], "not an object"], [records[8], big]])
    url = http_server.url("/customers?token=Tok3n-Zebulon")
    sink = tmp_path / "out.parquet"
    code = run(_args(tmp_path, url, str(sink), "--http-pagination", "page", "--max-record-bytes", "1048576"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    import pyarrow.parquet as pq

    table = pq.read_table(sink).to_pylist()
    assert sorted(r["id"] for r in table) == sorted(str(i) for i in range(9))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["read"] == 11
    assert manifest["counts"]["quarantined"]["by_reason"] == {"oversize": 1, "parse_error": 1}
    refs = sorted(json.loads(line)["ref"] for line in (tmp_path / "q.jsonl").read_text().splitlines())
    assert refs == ["page 2 item 5", "page 3 item 2"]
    # the query secret never reaches the manifest, its lineage, the quarantine or the terminal
    assert manifest["check"]["holds"] and manifest["source"] == url.replace("Tok3n-Zebulon", "***")
    assert scan_for([tmp_path], [*pii_values(), "Tok3n-Zebulon"], captured.out + captured.err) == []
    assert no_remote_network == []
