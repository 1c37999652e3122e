"""Issue 12, pipeline part: planted PII in field names (JSONL keys, CSV headers, Parquet column names and
map keys) and below kept fields never reaches an output file, the manifest, the terminal or the logs."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.pipelines.run import run
from tests.support.demo import DEMO_POLICY

KEY_HEX = "42" * 32
NAME = "Zebulon Quartermain"
EMAIL = "zebulon.q@rtleak.com"
CARD = "4111 1111 1111 1111"
PHONE = "(415) 555-0187"
# every planted value and the pieces of it that would identify it on their own
PLANTED = [NAME, "Zebulon", "Quartermain", EMAIL, "zebulon.q", "rtleak.com", CARD, "4111111111111111",
           "1111 1111 1111", PHONE, "555-0187"]


def write_inputs(folder: Path) -> dict[str, int]:
    """A CSV, a JSONL and a Parquet file whose names carry the planted values; returns rows per file."""
    folder.mkdir()
    header = ["id", "name", "email", "phone", "country", "notes", "id.comment", "country[0]", NAME, EMAIL]
    rows = [
        ["c1", "Ann Example", "ann@example.com", "+1 212-555-1001", "DE", "no issue",
         f"call {NAME}", CARD, "yes", PHONE],
        ["c2", "Ben Example", "ben@example.com", "+1 212-555-1002", "DE", "fine",
         EMAIL, f"{NAME} at {PHONE}", "no", "(212) 555-0100"],
    ]
    with (folder / "in.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    jsonl = [
        {"id": "j1", "country": "DE", EMAIL: "x", "notes": "hello"},
        # the keep-subtree case: country is `keep` in the demo policy, its object is still inspected
        {"id": "j2", "country": {"code": "DE", "contact": EMAIL, "phone": PHONE}},
        {"id": "j3", "country": "DE", "profile": {NAME: {CARD: "card"}, "list": [{PHONE: 1}, {"n": NAME}]}},
    ]
    (folder / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jsonl), encoding="utf-8")
    contacts = pa.array(
        [[(NAME, "x"), (CARD, PHONE)], [(EMAIL, "y")]], type=pa.map_(pa.string(), pa.string())
    )
    table = pa.table({
        "id": ["p1", "p2"],
        "country": ["DE", "DE"],
        NAME: ["a", "b"],
        EMAIL: [PHONE, "(212) 555-0100"],  # one entity type in the whole column: profiled as such
        "contacts": contacts,
    })
    pq.write_table(table, folder / "in.parquet")
    return {"csv": len(rows), "jsonl": len(jsonl), "parquet": table.num_rows}


def leaks(paths: list[Path], text: str) -> list[tuple[str, str]]:
    """(where, value) for every planted value in any byte of the files under ``paths`` or in ``text``.
    Parquet files are also read back (their pages may be compressed)."""
    blobs: list[tuple[str, bytes]] = [("terminal/logs", text.encode())]
    for folder in paths:
        for file in sorted(f for f in folder.rglob("*") if f.is_file()):
            blobs.append((str(file), file.read_bytes()))
            if file.suffix == ".parquet":
                table = pq.read_table(file)
                dump = json.dumps([str(table.schema), table.to_pylist()], default=str, ensure_ascii=False)
                blobs.append((f"{file} (read back)", dump.encode()))
    return [(where, value) for where, data in blobs for value in PLANTED if value.encode() in data]


def run_once(tmp_path: Path, policy: Path, sink: str, capsys, caplog) -> tuple[int, dict, str]:
    code = run(["--policy", str(policy), "--source", str(tmp_path / "in" / "in.*"), "--sink", sink,
                "--quarantine-key-env", "RL_TEST_QKEY"])
    captured = capsys.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    manifest = json.loads(Path(sink).with_name(Path(sink).name.split(".")[0] + ".manifest.json").read_text())
    return code, manifest, captured.out + captured.err + logs


def check_counts(manifest: dict, expected_read: int) -> dict:
    counts = manifest["counts"]
    assert counts["read"] == expected_read
    assert counts["read"] == counts["delivered"] + counts["held"]["total"] + counts["quarantined"]["total"]
    assert manifest["check"]["holds"]
    return counts


@pytest.mark.slow
def test_planted_names_never_leave_redact_mode_parquet_sink(tmp_path, monkeypatch, capsys, caplog,
                                                            no_remote_network):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO)
    per_file = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    code, manifest, terminal = run_once(tmp_path, DEMO_POLICY, str(out / "redacted.parquet"), capsys, caplog)
    assert code == 0, terminal
    counts = check_counts(manifest, sum(per_file.values()))
    assert counts["quarantined"]["total"] == 0  # redact mode: names are replaced, records delivered/held
    assert leaks([out], terminal) == []
    assert no_remote_network == []

    delivered = pq.read_table(out / "redacted.parquet").to_pylist()
    held = [json.loads(line) for line in (out / "redacted.held.jsonl").read_text().splitlines() if line]
    by_id = {r["id"]: r for r in delivered + held}
    assert set(by_id) == {"c1", "c2", "j1", "j2", "j3", "p1", "p2"}
    # CSV: the flat columns named like kept fields were inspected, the PII headers renamed
    c1 = {k: v for k, v in by_id["c1"].items() if v is not None}
    assert c1["id"] == "c1" and c1["country"] == "DE"
    assert "id.comment" not in c1 or c1["id.comment"] == "call <PERSON>"
    assert c1["country[0]"] == "<CREDIT_CARD>"
    renamed = [k for k in c1 if "_FIELD_" in k]
    assert {k.split("_FIELD_")[0] for k in renamed} >= {"<PERSON", "<EMAIL_ADDRESS"}
    # JSONL: the object under the kept country is inspected; nested keys renamed
    j2 = by_id["j2"]
    assert j2["country"]["code"] == "DE" and j2["country"]["contact"] == "<EMAIL_ADDRESS>"
    (person,) = [k for k in by_id["j3"]["profile"] if k != "list"]
    assert person.startswith("<PERSON_FIELD_")
    # Parquet: column names and map keys renamed
    p1 = {k: v for k, v in by_id["p1"].items() if v is not None}
    assert any(k.startswith("<PERSON_FIELD_") for k in p1)
    assert all(k.split("_FIELD_")[0] in ("<PERSON", "<CREDIT_CARD", "<EMAIL_ADDRESS")
               for k in p1["contacts"] if p1["contacts"][k] is not None)
    assert by_id["p2"]["contacts"] is not None


@pytest.mark.slow
def test_planted_names_quarantined_with_field_names_quarantine(tmp_path, monkeypatch, capsys, caplog,
                                                              no_remote_network):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO)
    per_file = write_inputs(tmp_path / "in")
    policy = tmp_path / "strict.yaml"
    text = DEMO_POLICY.read_text(encoding="utf-8")
    assert "transforms:\n  default: replace" in text
    strict = text.replace("transforms:\n  default: replace",
                          "transforms:\n  field_names: quarantine\n  default: replace")
    policy.write_text(strict, encoding="utf-8")
    out = tmp_path / "out"
    code, manifest, terminal = run_once(tmp_path, policy, str(out / "redacted.jsonl"), capsys, caplog)
    assert code == 0, terminal
    counts = check_counts(manifest, sum(per_file.values()))
    # every CSV row has the PII headers, both Parquet rows PII column names, j1 and j3 PII keys
    assert counts["quarantined"]["by_reason"] == {"field_name_pii": 7 - 1}
    assert leaks([out], terminal) == []
    assert no_remote_network == []
    entries = [json.loads(line) for line in (out / "redacted.quarantine.jsonl").read_text().splitlines()]
    assert all(e["reason"] == "field_name_pii" and "field name holds PII" in e["detail"] for e in entries)
    held = [json.loads(line) for line in (out / "redacted.held.jsonl").read_text().splitlines() if line]
    assert [r["id"] for r in held] == ["j2"]  # no PII name: redacted and held (unknown jurisdiction)


@pytest.mark.slow
def test_planted_names_never_leave_a_profiled_single_file_run(tmp_path, monkeypatch, capsys, caplog,
                                                              no_remote_network):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO)
    write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    sink = str(out / "redacted.jsonl")
    code = run(["--policy", str(DEMO_POLICY), "--source", str(tmp_path / "in" / "in.parquet"), "--sink", sink,
                "--quarantine-key-env", "RL_TEST_QKEY"])
    captured = capsys.readouterr()
    terminal = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    assert code == 0, terminal
    manifest = json.loads((out / "redacted.manifest.json").read_text())
    check_counts(manifest, 2)
    assert leaks([out], terminal) == []
