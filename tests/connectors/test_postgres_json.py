"""json/jsonb columns of the PostgreSQL source (issue 15): one bad document quarantines its row, not the read.

Before, psycopg decoded json/jsonb with a plain ``json.loads`` inside the fetch: a deep document (a
``RecursionError``) or an integer past Python's 4300-digit limit (a ``ValueError``) failed the whole read
and the driver's profiling sample; nothing bounded a document's size.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from redactline.connectors.records import OVERSIZE, PARSE_ERROR, TOO_DEEP, Record
from redactline.connectors.sample import sample_postgres
from redactline.pipelines import uris
from redactline.pipelines.profile_sample import sample_source
from tests.connectors.test_postgres import run_read

pytestmark = pytest.mark.postgres

PLANTED = "Planted-Zq9-Jones"  # in every quarantined document: must not reach a reason, error or log
BIG_INT = "9" * 4301  # one digit past Python's int/str conversion limit
DEEP = 2000  # well past Python's recursion limit; PostgreSQL stores it
LIMIT = 5000  # max_field_bytes of the read (the huge-int document is 4308 bytes)


def _table(pg: Any) -> str:
    table = pg.table("docs")
    pg.conn.execute(f"CREATE TABLE {table} (id int, doc jsonb, note json, tags jsonb[])")
    deep = "[" * DEEP + f'"{PLANTED}"' + "]" * DEEP
    rows = [
        (1, '{"name": "Ann", "n": [1, 2.5, null]}', '{"a": 1, "inf": 1e400}', ['{"t": 1}', None]),
        (2, deep, None, None),
        (3, '{"n": ' + BIG_INT + "}", None, None),
        (4, '{"s": "' + PLANTED + "x" * LIMIT + '"}', None, None),
        (5, None, '{"a": "' + PLANTED + '", "a": 2}', None),  # json keeps a repeated key
        (6, None, None, ['{"t": ' + "[" * 70 + '"' + PLANTED + '"' + "]" * 70 + "}"]),
    ]
    with pg.conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s::jsonb, %s::json, %s::jsonb[])", rows)
    return table


def test_bad_json_documents_are_quarantined_per_row_and_the_read_goes_on(
    pg: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    table = _table(pg)
    records, rejected = run_read(dsn=pg.dsn, table=table, key="id", max_field_bytes=LIMIT)
    assert len(records) + len(rejected) == 6  # no row lost
    by_id = {r.fields["id"]: r.fields for r in records}
    assert by_id.keys() == {1, 3}
    # decoded JSON; a non-finite number (json keeps 1e400 as written) is null; jsonb[] decodes per element
    assert by_id[1] == {"id": 1, "doc": {"name": "Ann", "n": [1, 2.5, None]}, "note": {"a": 1, "inf": None},
                        "tags": [{"t": 1}, None]}
    assert by_id[3]["doc"] == {"n": BIG_INT}  # kept as its exact digits, as JSONL and HTTP sources keep it
    reasons = {r.meta.ref: (r.reason, r.detail) for r in rejected}
    assert reasons == {
        "id=2": (TOO_DEEP, "column 'doc': nested deeper than 64 levels"),
        "id=4": (OVERSIZE, f"column 'doc': json document is {LIMIT + len(PLANTED) + 9} bytes, limit {LIMIT}"),
        "id=5": (PARSE_ERROR, "column 'note': json object repeats a key"),
        "id=6": (TOO_DEEP, "column 'tags': nested deeper than 64 levels"),
    }
    for r in rejected:
        assert table.split(".")[1] in r.meta.source and PLANTED not in repr(r.meta) + r.detail
        assert PLANTED.encode() in r.raw  # the quarantine keeps the row for review (sealed by the pipeline)
    assert PLANTED not in caplog.text


def test_profiling_sample_skips_bad_json_rows(pg: Any) -> None:
    table = _table(pg)
    # the driver-side path `redactline run` profiles through, with the run's --max-field-bytes
    endpoint = uris.parse("--source", f"{pg.url}#{table}")
    sampled = sample_source(endpoint, 10, key="id", max_field_bytes=LIMIT)
    assert [r.fields["id"] for r in sampled] == [1, 3] and all(isinstance(r, Record) for r in sampled)
    # default limit (1 MiB): the long string fits, the deep and repeated-key rows still do not
    assert [r.fields["id"] for r in sample_postgres(pg.dsn, table, 10)] == [1, 3, 4]
