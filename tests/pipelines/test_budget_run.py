"""Issue 14, unbounded work in a whole run: one pathological record is quarantined, never hangs the run.

Before: a record that makes a recognizer's regex backtrack (or a 30 KB ``a.a.a...`` field under
``general-pii``) held the run for minutes to hours. After: the policy's ``detection.budget`` bounds each
record; the redact step quarantines it as ``engine_timeout`` (or ``oversize`` for too much text) and
delivers the others; ``read == delivered + held + quarantined`` and the run exits 0.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from redactline.connectors.file_sinks import read_back
from redactline.pipelines.quarantine import read_entries
from redactline.pipelines.run import run

KEY_HEX = "22" * 32
PLANTED = "Robert Whitfield"

# ``a*a*a*a*(?:b|c)`` passes ``policy validate`` (its backtracking is polynomial, not exponential), yet
# on 3,000 letters "a" without a "b" it would run for hours: the budget is what stops it.
POLICY = """
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: budget-run, version: 1.0.0}
detection:
  budget: {max_seconds: 1, max_text_bytes: 4096}
  recognizers:
    - name: slow_code
      supported_entity: CODE
      patterns: [{name: slow, regex: 'a*a*a*a*(?:b|c)', score: 0.9}]
transforms:
  default: replace
"""


def test_pathological_record_is_quarantined_and_the_others_delivered(tmp_path: Path, monkeypatch, capsys,
                                                                      caplog) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    rows = [
        {"id": 1, "note": f"ticket from {PLANTED}"},
        {"id": 2, "note": "a" * 3000 + f" {PLANTED}"},  # the regex stalls on it
        {"id": 3, "note": f"{PLANTED} " + "x" * 5000},  # over max_text_bytes
        {"id": 4, "note": "all good here"},
        {"id": 5, "note": f"call {PLANTED} back"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    sink = tmp_path / "out" / "out.jsonl"
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO)

    code = run(["--policy", str(policy), "--source", str(src), "--sink", str(sink),
                "--quarantine-key-env", "RL_TEST_QKEY", "--quiet"])

    captured = capsys.readouterr()
    text = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    assert code == 0, text
    manifest = json.loads((sink.parent / "out.manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["read"] == 5 and counts["delivered"] == 3
    assert counts["quarantined"]["by_reason"] == {"engine_timeout": 1, "oversize": 1}
    assert counts["read"] == counts["delivered"] + counts["held"]["total"] + counts["quarantined"]["total"]
    assert manifest["check"]["holds"]
    assert sorted(r["id"] for r in read_back(str(sink))) == [1, 4, 5]
    assert all(PLANTED not in json.dumps(r) for r in read_back(str(sink)))
    # the quarantine keeps each record sealed with its reason; nothing of it in clear anywhere
    qfile = sink.parent / "out.quarantine.jsonl"
    entries = list(read_entries(qfile, bytes.fromhex(KEY_HEX)))
    assert sorted(e["reason"] for e in entries) == ["engine_timeout", "oversize"]
    assert all("budget" in e["detail"] for e in entries)
    for where in (text, qfile.read_text(), json.dumps(manifest)):
        assert PLANTED not in where and "Whitfield" not in where
