"""``redactline demo`` end to end: the bundled data, policy and a simulated enclave on 127.0.0.1.

One run with the ``llm`` backend and the bundled SmolLM2 model (a summary per ticket), one where the
model cannot be loaded (the fallback to ``spacy-analysis``, which is also the quick path).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from redactline.pipelines.cli import main as cli_main
from redactline.pipelines.quarantine import KeySpec, key_id
from tests.support.demo import DEMO_CSV
from tests.support.pii import scan_for


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def bundled_pii() -> list[str]:
    """Every name (and its parts), email and phone of the bundled CSV."""
    values: list[str] = []
    for row in csv.reader(io.StringIO(DEMO_CSV.read_bytes().decode("utf-8", "replace"))):
        if row[0].isdigit() and len(row) == 6:
            values += [row[1], *row[1].split(), row[2], row[3]]
    assert len(values) > 100
    return values


def run_demo(tmp_path: Path, monkeypatch, capsys, *extra: str) -> tuple[Path, dict, str, str]:
    state = tmp_path / "state"
    monkeypatch.setenv("REDACTLINE_STATE_DIR", str(state))
    out = tmp_path / "demo"
    code = cli_main(["demo", "--out", str(out), "--quiet", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    # the demo's check and counts: the same whichever backend ran
    assert manifest["check"]["holds"] and manifest["counts"]["read"] == 33
    assert manifest["counts"]["quarantined"]["total"] == 3 and manifest["counts"]["held"]["total"] == 4
    assert manifest["counts"]["delivered"] == 26
    sent = manifest["destination"]["counts"]
    assert manifest["destination"]["kind"] == "enclave" and manifest["destination"]["unsafe_root"] is True
    assert sent["records_sent"] == sent["results_received"] == 26
    assert str(out / "manifest.json") in captured.out and "check read == delivered + held + quarantined: OK" \
        in captured.out
    assert "SIMULATED" in captured.out
    # every name/email/phone of the bundled data stays out of outputs, manifest and terminal
    assert scan_for([out], bundled_pii(), captured.out + captured.err) == []
    key_file = state / "quarantine.key"  # per user, outside the output folder; the manifest names its id
    assert key_file.stat().st_mode & 0o777 == 0o600 and not list(out.glob("*.key"))
    assert manifest["quarantine_key_id"] == key_id(KeySpec(file=str(key_file)))
    assert str(state) not in json.dumps(manifest)
    return out, manifest, captured.out, captured.err


@pytest.mark.slow
def test_demo_summarises_each_ticket_with_the_bundled_model(tmp_path, capsys, monkeypatch, no_remote_network):
    out, manifest, stdout, stderr = run_demo(tmp_path, monkeypatch, capsys)
    destination = manifest["destination"]
    assert destination["backend"] == "llm" and destination["model_id"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert destination["model_digest"].startswith("sha256:")
    assert destination["task"]["kind"] == "generate" and destination["task"]["max_tokens"] == 32
    results = read_jsonl(out / "customers.results.jsonl")
    assert len(results) == 26
    for r in results:
        assert r["_redactline"]["task"] == "generate" and r["_redactline"]["policy"] == "demo-support-export"
        assert isinstance(r["result"]["text"], str) and r["result"]["text"].strip()
        assert 1 <= r["result"]["completion_tokens"] <= 32
    assert "example summaries by SmolLM2-135M-Instruct.Q4_1.gguf" in stdout
    shown = [line for line in stdout.splitlines() if line.startswith("    line ")]
    assert 1 <= len(shown) <= 3 and all(json.loads(line.split(": ", 1)[1]) in
                                        {r["result"]["text"] for r in results} for line in shown)
    assert "cannot run here" not in stderr
    assert "Production runs must pass" in stderr  # the generated key is announced
    assert no_remote_network == []


@pytest.mark.slow
def test_demo_falls_back_when_the_model_cannot_be_loaded(tmp_path, capsys, monkeypatch, no_remote_network):
    missing = tmp_path / "no-such-model.gguf"
    out, manifest, stdout, stderr = run_demo(tmp_path, monkeypatch, capsys, "--model", str(missing))
    why = [line for line in stderr.splitlines() if "cannot run here" in line]
    assert why == [f"redactline demo: the llm backend cannot run here (model file {missing} does not exist "
                   "or is not a file); falling back to the spacy-analysis backend, without the policy's "
                   "summary task"]
    assert manifest["destination"]["backend"] == "spacy-analysis" and "task" not in manifest["destination"]
    results = read_jsonl(out / "customers.results.jsonl")
    assert len(results) == 26 and all("fields" in r["result"] for r in results)
    assert "example summaries" not in stdout
    run_policy = yaml.safe_load((out / "demo-policy.run.yaml").read_text())["destinations"]["enclave-eu"]
    assert "task" not in run_policy and run_policy["url"].startswith("http://127.0.0.1:")
    assert no_remote_network == []


def test_demo_refuses_a_model_without_the_llm_backend(tmp_path, capsys):
    code = cli_main(["demo", "--out", str(tmp_path / "d"), "--enclave-backend", "spacy-analysis",
                     "--model", str(tmp_path / "m.gguf")])
    assert code == 2 and "--model is the llm backend's model" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
