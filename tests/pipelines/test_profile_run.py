"""Column profiling in a run: sampled on the driver, applied as whole-field rules, in the manifest.

The tickets come from ``benchmarks/ticket_data.py`` (seeded, invented names): many of its customer
names are found by no recognizer when they stand alone in a cell.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from benchmarks.ticket_data import planted_values, ticket_rows, write_csv
from redactline.pipelines.cli import main as cli_main
from redactline.pipelines.profile_sample import profile_for_run
from redactline.pipelines.run import run
from redactline.pipelines.uris import parse
from redactline.policies import load_policy
from tests.support.pii import scan_for

GENERAL = Path(__file__).resolve().parents[2] / "policies" / "library" / "general-pii.yaml"
ROWS = ticket_rows(160, seed=7)


@pytest.fixture(scope="module")
def tickets(tmp_path_factory) -> Path:
    return write_csv(ROWS, tmp_path_factory.mktemp("tickets") / "tickets.csv")


def _run(tmp_path: Path, monkeypatch, source: Path, *flags: str) -> tuple[Path, dict]:
    monkeypatch.setenv("REDACTLINE_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "out"
    code = run(["--policy", str(GENERAL), "--source", str(source), "--sink", str(out / "tickets.jsonl"),
                "--quiet", *flags])
    assert code == 0
    return out, json.loads((out / "tickets.manifest.json").read_text())


@pytest.mark.slow
def test_a_profiled_run_delivers_no_value_of_a_profiled_column(tickets, tmp_path, monkeypatch):
    names = [row["customer_name"] for row in ROWS]
    engine = load_policy(GENERAL).engine()
    missed = [n for n, found in zip(names, engine.analyze_texts(names), strict=True)
              if not any(r.entity_type == "PERSON" for r in found)]
    assert len(missed) >= 10  # per-cell NER misses these names

    out, manifest = _run(tmp_path, monkeypatch, tickets)
    planted = [v for values in planted_values(ROWS).values() for v in values]
    assert scan_for([out], planted) == []  # every output byte: delivered, held, quarantine, manifest

    profile = manifest["profile"]
    assert profile["enabled"] and profile["records_sampled"] == 160 and profile["sample"] == 200
    fields = profile["fields"]
    name = fields["customer_name"]
    assert (name["decision"], name["entity_type"], name["hint"]) == ("entity", "PERSON", "customer name")
    assert 0 < name["share"] < 1  # NER alone found some of the names
    assert fields["notes"]["decision"] == "free_text" and fields["ticket_id"]["decision"] == "code"
    assert profile["whole_field_rules"] == {
        "address": "replace", "card": "mask", "city": "replace", "customer_name": "pseudonym",
        "email": "replace", "phone": "replace", "ssn": "replace",
    }
    delivered = [json.loads(line) for line in (out / "tickets.jsonl").read_text().splitlines()]
    # a profiled column carries its entity type: the same pseudonym as that person in the notes
    assert all(r["customer_name"] == "<PERSON_1>" for r in delivered)
    assert all(r["card"].startswith("*") and r["card"][-4:].isdigit() for r in delivered)


@pytest.mark.slow
def test_without_the_profile_names_ner_misses_are_delivered(tickets, tmp_path, monkeypatch):
    out, manifest = _run(tmp_path, monkeypatch, tickets, "--no-profile")
    assert manifest["profile"] == {"enabled": False, "note": "profiling off: --no-profile"}
    leaked = scan_for([out / "tickets.jsonl"], [row["customer_name"] for row in ROWS])
    assert leaked  # the baseline the profile fixes


def test_policy_profile_prints_the_fields_block_and_no_value(tickets, capsys):
    assert cli_main(["policy", "profile", "--policy", str(GENERAL), "--source", str(tickets),
                     "--sample", "50", "--format", "yaml"]) == 0
    text = capsys.readouterr().out
    block = yaml.safe_load(text)["fields"]
    assert block["customer_name"] == {"type": "pseudonym", "entity": "PERSON"}
    assert block["card"]["type"] == "mask"
    assert "ticket_id" not in block and "# ticket_id: inspected" in text
    assert cli_main(["policy", "profile", "--policy", str(GENERAL), "--source", str(tickets),
                     "--sample", "50", "--format", "json"]) == 0
    report = capsys.readouterr().out
    assert json.loads(report)["records_sampled"] == 50
    planted = [v for values in planted_values(ROWS).values() for v in values]
    assert not [v for v in planted if v in text or v in report]


def test_policy_profile_usage_errors(tmp_path, capsys):
    assert cli_main(["policy", "profile", "--policy", str(GENERAL), "--source",
                     str(tmp_path / "none.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err
    assert cli_main(["policy", "profile", "--policy", str(GENERAL), "--source", "x.csv",
                     "--sample", "0"]) == 2


def test_profiling_defaults_on_for_structured_sources_only(tmp_path):
    opts = SimpleNamespace(profile=None, profile_sample=200, source_key=None, http_pagination="page",
                           http_items_path="items", http_auth_env=None, max_field_bytes=None)
    policy = load_policy(GENERAL)
    http = parse("--source", "http://127.0.0.1:9/items", allow_http=True)
    assert profile_for_run(opts, http, str(GENERAL), policy.identity.sha256) == (
        None, {"enabled": False, "note": "profiling off: not a structured source (http)"})
    # a source that cannot be sampled: no profile, a note, and the run reports its own error later
    missing = parse("--source", str(tmp_path / "missing.csv"))
    profile, info = profile_for_run(opts, missing, str(GENERAL), policy.identity.sha256)
    assert profile is None and info["note"].startswith("profiling skipped")


@pytest.mark.postgres
def test_a_postgres_sample_is_bounded_and_converted_like_the_source(pg):
    from redactline.connectors.sample import sample_postgres

    table = pg.table("tickets")
    pg.conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, customer_name text, amount numeric)")
    with pg.conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)",
                        [(i, ROWS[i]["customer_name"], i + 0.5) for i in range(30)])
    records = sample_postgres(pg.dsn, table, 5, key="id")
    assert len(records) == 5 and records[0].meta.ref.startswith("id=")
    assert set(records[0].fields) == {"id", "customer_name", "amount"}
    assert len(sample_postgres(pg.dsn, table, 100)) == 30
