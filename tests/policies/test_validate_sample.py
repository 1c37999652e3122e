"""``policy validate --sample FILE``: a field path the policy names that the data lacks is an error with
file:line (also where the rule comes from an extended file), from CSV, JSON Lines and Parquet schemas,
with a hint that never shows a non-identifier field name."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redactline.pipelines.cli import main

HEADER = "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\n"
BASE = HEADER + "metadata: {name: base, version: 1.0.0}\ntransforms:\n  fields:\n    email: redact\n"
POLICY = HEADER + """metadata: {name: tickets, version: 1.0.0}
extends: [base.yaml]
transforms:
  subject_field: customer_id
  fields:
    custmer_name: pseudonym
    items[*].sku: keep
"""


@pytest.fixture()
def policy(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "tickets.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def _validate(policy: Path, sample: Path, capsys) -> tuple[int, str]:
    code = main(["policy", "validate", "--no-keys", "--sample", str(sample), str(policy)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_jsonl_sample_reports_every_missing_path_with_its_line(policy: Path, tmp_path: Path, capsys) -> None:
    sample = tmp_path / "s.jsonl"
    rows = [{"customer_id": 1, "customer_name": "Ana Lima", "items": [{"sku": "A1"}],
             "ana.lima@example.com": 1}]
    sample.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    code, out = _validate(policy, sample, capsys)
    assert code == 1
    assert f"{policy}:8: transforms.fields.custmer_name: no field 'custmer_name'" in out
    assert "did you mean 'customer_name'?" in out
    assert f"{tmp_path / 'base.yaml'}:6: transforms.fields.email: no field 'email'" in out
    assert "items[*].sku" not in out and "customer_id" not in out  # present in the sample
    assert "Ana Lima" not in out and "ana.lima@example.com" not in out  # never a value or a PII-like name


def test_csv_and_parquet_samples(policy: Path, tmp_path: Path, capsys) -> None:
    fixed = POLICY.replace("custmer_name", "customer_name").replace("    items[*].sku: keep\n", "")
    policy.write_text(fixed, encoding="utf-8")
    csv_sample = tmp_path / "s.csv"
    csv_sample.write_text("customer_id,customer_name,email\n1,Ana,a@b.c\n", encoding="utf-8")
    assert _validate(policy, csv_sample, capsys)[0] == 0
    table = pa.table({"customer_id": [1], "customer_name": ["Ana"]})
    pq.write_table(table, tmp_path / "s.parquet")
    code, out = _validate(policy, tmp_path / "s.parquet", capsys)
    assert code == 1 and "no field 'email'" in out and "customer_name" not in out


def test_an_unreadable_sample_is_a_usage_error(policy: Path, tmp_path: Path, capsys) -> None:
    sample = tmp_path / "s.jsonl"
    sample.write_text("{not json\n", encoding="utf-8")
    code, out = _validate(policy, sample, capsys)
    assert code == 2 and "s.jsonl:1: not a JSON object" in out
