"""CLI details for scripts and shells: completion scripts, and ``quarantine show`` failing on entries it
cannot open (a wrong key or a corrupt entry) while still printing the others."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from redactline.connectors.records import RecordMeta, Rejected
from redactline.pipelines.cli import main
from redactline.pipelines.quarantine import Sealer, entry_line

KEY_HEX = "5a" * 32


def test_bash_completion_is_generated_from_the_parsers_and_parses(capsys, tmp_path):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert script.strip()
    for verb in ("policy", "prompt", "proxy", "quarantine", "enclave", "completion"):
        assert verb in script
    assert "--fail-on-loosening" in script  # a flag of a nested verb (policy diff)
    path = tmp_path / "redactline.bash"
    path.write_text(script)
    bash = shutil.which("bash")
    assert bash is not None
    checked = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_zsh_completion_and_an_unknown_shell(capsys):
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef redactline") and "quarantine" in script
    with pytest.raises(SystemExit) as exc:
        main(["completion", "fish"])
    assert exc.value.code == 2


def test_quarantine_show_exits_1_on_a_corrupt_entry_and_prints_the_rest(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    sealer = Sealer(bytes.fromhex(KEY_HEX))
    good = Rejected("field_count", "3 fields, header has 2", RecordMeta("file:///in.csv", "line 2"),
                    b"1,Opened Fine,x")
    bad = Rejected("unclosed_quote", "unclosed quote", RecordMeta("file:///in.csv", "line 3"), b"2,\"Lost")
    broken = json.loads(entry_line(bad, sealer))
    sealed = bytearray(broken["sealed"].encode())
    sealed[-3] = ord("A") if sealed[-3] != ord("A") else ord("B")  # one flipped character: tag fails
    broken["sealed"] = sealed.decode()
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(entry_line(good, sealer) + "\n" + json.dumps(broken) + "\n")

    assert main(["quarantine", "show", str(qfile), "--key-env", "RL_TEST_QKEY"]) == 1
    out, err = capsys.readouterr()
    assert "1,Opened Fine,x" in out and "<authentication failed>" in out
    assert "1 entry could not be opened" in err
    # only the good entry selected: it opens, exit 0
    shown = ["quarantine", "show", str(qfile), "--key-env", "RL_TEST_QKEY"]
    assert main([*shown, "--reason", "field_count"]) == 0
    capsys.readouterr()
    # a wrong key: nothing opens, exit 1, and no raw text is printed
    monkeypatch.setenv("RL_TEST_QKEY", "66" * 32)
    assert main(["quarantine", "show", str(qfile), "--key-env", "RL_TEST_QKEY", "--json"]) == 1
    out, err = capsys.readouterr()
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["raw"] for e in entries] == [None, None]
    assert {e["error"] for e in entries} == {"sealed under a different key"}
    assert "2 entries could not be opened" in err


def test_run_summary_as_json_with_the_same_exit_codes(tmp_path, capsys, monkeypatch):
    from tests.support.demo import DEMO_POLICY

    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,name\n1,ok\n2,\"unclosed\n")
    argv = ["run", "--policy", str(DEMO_POLICY), "--source", str(src), "--sink", str(tmp_path / "o.jsonl"),
            "--quarantine-key-env", "RL_TEST_QKEY", "--format", "json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["exit_code"] == 0 and doc["state"].endswith("DONE")
    counts = doc["counts"]
    outcomes = counts["delivered"] + counts["held"]["total"] + counts["quarantined"]["total"]
    assert counts["read"] == 2 == outcomes
    assert counts["quarantined"]["by_reason"]["unclosed_quote"] == 1
    assert doc["check"]["holds"] is True and doc["outputs"]["delivered"].endswith("o.jsonl")
    # a usage error is a JSON document too, exit 2 as in text mode
    assert main([*argv[:-2], "--batch-size", "0", "--format=json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"ok": False, "exit_code": 2, "state": "NOT STARTED", "error": doc["error"]}
    assert "--batch-size" in doc["error"]
