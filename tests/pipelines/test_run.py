"""End-to-end runs of ``redactline run`` / ``demo`` on real files, the real engine and the local runner."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest

from redactline.pipelines import manifest as mf
from redactline.pipelines.cli import main as cli_main
from redactline.pipelines.quarantine import read_entries
from redactline.pipelines.run import run
from tests.support.demo import DEMO_CSV, DEMO_POLICY
from tests.support.pii import PEOPLE, person_record, pii_values, scan_for

KEY_HEX = "11" * 32
BIG = "Z" * (2 * 1024 * 1024)  # a 2 MB field


def write_broken_csv(path: Path, good: int = 12) -> list[str]:
    """Good rows plus one of each breakage; returns the ids of the good rows."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(person_record(0)), lineterminator="\n")
    writer.writeheader()
    ids = []
    for i in range(good):
        writer.writerow(person_record(i))
        ids.append(str(i))
    name, email, phone = PEOPLE[0]
    lines = buf.getvalue().encode().splitlines(keepends=True)
    broken = [
        f'900,"{name},{email},{phone},DE,unclosed quote\n'.encode(),
        f"901,{name},{email},{phone},DE,extra,field\n".encode(),
        f"902,{name},{email},{phone},DE,bad byte \xff here\n".encode("latin-1"),
        f"903,{name},{email},{phone},DE,{BIG}\n".encode(),
    ]
    # spread the bad rows between good ones
    out = [lines[0], *lines[1:4], broken[0], *lines[4:7], broken[1], *lines[7:10], broken[2], *lines[10:],
           broken[3]]
    path.write_bytes(b"".join(out))
    return ids


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def base_args(tmp_path: Path, source: str, sink: str | None = None) -> list[str]:
    return [
        "--policy", str(DEMO_POLICY), "--source", source,
        "--sink", sink or str(tmp_path / "out" / "redacted.jsonl"),
        "--quarantine-key-env", "RL_TEST_QKEY", "--quiet",
    ]


@pytest.mark.slow
def test_broken_csv_every_row_accounted_nothing_leaks(tmp_path, monkeypatch, capsys, caplog,
                                                      no_remote_network):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO)
    src = tmp_path / "in.csv"
    ids = write_broken_csv(src)
    code = run(base_args(tmp_path, str(src)))
    captured = capsys.readouterr()
    assert code == 0, captured.err

    out = tmp_path / "out"
    delivered = read_jsonl(out / "redacted.jsonl")
    assert sorted(r["id"] for r in delivered) == sorted(ids)
    assert all(r["_redactline"]["policy"] == "demo-support-export" for r in delivered)
    assert all(r["name"] == "<NAME>" and "<EMAIL_ADDRESS>" in r["notes"] for r in delivered)

    quarantine = read_jsonl(out / "redacted.quarantine.jsonl")
    assert sorted(e["reason"] for e in quarantine) == ["field_count", "invalid_utf8", "oversize",
                                                       "unclosed_quote"]
    assert all(e["source"].endswith("in.csv") and e["ref"].startswith("line ") for e in quarantine)

    manifest = json.loads((out / "redacted.manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["read"] == len(ids) + 4 == counts["delivered"] + counts["held"]["total"] + \
        counts["quarantined"]["total"]
    assert manifest["check"]["holds"] and manifest["state"].endswith("DONE")
    assert counts["quarantined"]["by_reason"]["oversize"] == 1
    assert manifest["entities"]["EMAIL_ADDRESS"] == len(ids)
    assert manifest["policy"]["sha256"] == delivered[0]["_redactline"]["sha256"]
    assert not (out / "redacted.manifest.json.counts.json").exists()

    # nothing identifying anywhere: outputs, quarantine, manifest, stdout/stderr, log records
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert scan_for([out], pii_values(), captured.out + captured.err + logs) == []
    assert no_remote_network == []

    # the operator can read the quarantined rows back with the key, and only with it
    entries = list(read_entries(out / "redacted.quarantine.jsonl", bytes.fromhex(KEY_HEX)))
    by_reason = {e["reason"]: e["raw"] for e in entries}
    assert PEOPLE[0][1].encode() in by_reason["field_count"]
    assert b"\xff" in by_reason["invalid_utf8"]
    wrong = list(read_entries(out / "redacted.quarantine.jsonl", bytes.fromhex("22" * 32)))
    assert all(e["raw"] is None for e in wrong)


def test_quarantine_show_prints_plaintext_for_the_operator(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,name\n1,ok\n2,\"Robert Whitfield\n3,x,y\n")
    assert run(base_args(tmp_path, str(src))) == 0
    capsys.readouterr()
    qfile = tmp_path / "out" / "redacted.quarantine.jsonl"
    assert b"Whitfield" not in qfile.read_bytes()
    assert cli_main(["quarantine", "show", str(qfile), "--key-env", "RL_TEST_QKEY"]) == 0
    shown = capsys.readouterr().out
    assert "Robert Whitfield" in shown and "[unclosed_quote]" in shown and "[field_count]" in shown
    keyfile = tmp_path / "wrong.key"
    keyfile.write_text("33" * 32)
    assert cli_main(["quarantine", "show", str(qfile), "--key-file", str(keyfile)]) == 1
    assert "Whitfield" not in capsys.readouterr().out


def test_usage_errors_exit_2_naming_the_flag_or_file(tmp_path, capsys):
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("apiVersion: redactline.dev/v1\nkind: RedactionPolicy\nmetadata: {name: x}\n")
    assert run(["--policy", str(bad_policy), "--source", "a.csv", "--sink", "b.jsonl"]) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert run(["--source", "a.csv", "--sink", "b.jsonl"]) == 2
    assert "--policy" in capsys.readouterr().err
    assert run(["--policy", str(DEMO_POLICY), "--source", "a.csv", "--sink", "b.jsonl", "--quarantine-ky-env",
                "X"]) == 2
    assert "did you mean --quarantine-key-env" in capsys.readouterr().err
    assert run(["--policy", str(DEMO_POLICY), "--source", "a.csv", "--sink", "b.txt"]) == 2
    assert "--sink" in capsys.readouterr().err
    assert run(["--policy", str(DEMO_POLICY), "--source", "a.csv", "--sink", "x.jsonl",
                "--destination", "nowhere"]) == 2
    assert "--destination nowhere" in capsys.readouterr().err
    assert run(["--policy", str(DEMO_POLICY), "--source", str(tmp_path / "none-*.csv"),
                "--sink", str(tmp_path / "x.jsonl"), "--quarantine-key-file", str(tmp_path / "k")]) == 2
    assert "--quarantine-key-file" in capsys.readouterr().err


def test_failed_manifest_check_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,notes\n1,hello\n")
    real = mf.read_counts

    def lose_one(path):
        counts = real(path)
        counts["delivered"] -= 1  # as if a record vanished between source and sink
        return counts

    monkeypatch.setattr(mf, "read_counts", lose_one)
    assert run(base_args(tmp_path, str(src))) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err
    manifest = json.loads((tmp_path / "out" / "redacted.manifest.json").read_text())
    assert manifest["check"] == {"expression": "read == delivered + held + quarantined", "read": 1,
                                 "accounted": 0, "holds": False}
    assert manifest["openlineage"]["eventType"] == "FAIL"


def _outputs(out: Path, stem: str) -> dict:
    quarantine = [{k: e[k] for k in ("reason", "detail", "source", "ref")}  # sealed bytes use fresh nonces
                  for e in read_jsonl(out / f"{stem}.quarantine.jsonl")]
    manifest = json.loads((out / f"{stem}.manifest.json").read_text())
    return {
        "delivered": sorted(read_jsonl(out / f"{stem}.jsonl"), key=lambda r: r["id"]),
        "held": sorted(read_jsonl(out / f"{stem}.held.jsonl"), key=lambda r: r["id"]),
        "quarantine": sorted(quarantine, key=lambda e: e["ref"]),
        "counts": manifest["counts"],
        "entities": manifest["entities"],
    }


@pytest.mark.slow
def test_multi_process_run_gives_the_same_outputs_as_in_process(tmp_path, monkeypatch, no_remote_network,
                                                                caplog):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    caplog.set_level(logging.INFO, logger="apache_beam.runners.portability.local_job_service")  # workers
    src = tmp_path / "in.csv"
    write_broken_csv(src, good=16)
    common = ["--run-id", "same-run"]
    assert run([*base_args(tmp_path, str(src), str(tmp_path / "a" / "r.jsonl")), *common]) == 0
    assert run([*base_args(tmp_path, str(src), str(tmp_path / "b" / "r.jsonl")), *common,
                "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]) == 0
    single, multi = _outputs(tmp_path / "a", "r"), _outputs(tmp_path / "b", "r")
    assert single == multi
    assert len(single["delivered"]) == 16 and len(single["quarantine"]) == 4
    manifest = json.loads((tmp_path / "b" / "r.manifest.json").read_text())
    assert manifest["runner"] == "FnApiRunner (multi_processing, 2 workers)"
    assert no_remote_network == []
    # each worker built its engine while it started (warm_worker.py), none when its first batch came
    built = [r.getMessage() for r in caplog.records if "engine for policy" in r.getMessage()]
    assert built and all("warmed while the worker started" in line for line in built)


def test_a_failing_sink_exits_1_with_a_failed_manifest(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,notes\n1,hello\n")
    args = base_args(tmp_path, str(src), "postgresql://nobody:s3cret@127.0.0.1:1/none#t")
    args += ["--manifest", str(tmp_path / "m.json")]
    assert run(args) == 1
    err = capsys.readouterr().err
    assert "pipeline error" in err and "s3cret" not in err
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["state"].startswith("FAILED") and not manifest["check"]["holds"]
    assert "s3cret" not in json.dumps(manifest)


# ---- the phases: validate (no writes, no network) -> prepare on the driver -> build one graph --------


def test_validate_writes_nothing_and_prepare_makes_the_outputs_ready(tmp_path, capsys, monkeypatch):
    from apache_beam.options.pipeline_options import PipelineOptions

    from redactline.pipelines.destinations.plain import PlainSink
    from redactline.pipelines.run import prepare, validate

    out = tmp_path / "out"
    monkeypatch.setenv("REDACTLINE_STATE_DIR", str(tmp_path / "state"))
    plan = validate(PipelineOptions(["--policy", str(DEMO_POLICY), "--source", str(DEMO_CSV),
                                     "--sink", str(out / "redacted.jsonl")]))
    assert not out.exists() and not (tmp_path / "state").exists()  # no directory, no generated key yet
    assert isinstance(plan.destination, PlainSink) and plan.destination.region == "eu-central-1"
    prepared = prepare(plan)
    key_file = tmp_path / "state" / "quarantine.key"
    assert key_file.is_file() and prepared.key_spec.file == str(key_file) and not list(out.glob("*.key"))
    assert prepared.destination_info is None and prepared.quarantine_key_id
    assert "generated per-user key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "kind", "region"),
    [
        ([], "PlainSink", "eu-central-1"),  # the policy's only destination gives the region
        (["--destination", "enclave-eu"], "PlainSink", "eu-central-1"),  # an enclave without a url
        (["--sink-region", "us-east-1"], "PlainSink", "us-east-1"),
        (["--destination", "enclave:http://127.0.0.1:9", "--unsafe-allow-simulated"], "AttestedEnclave",
         None),
    ],
)
def test_destination_is_resolved_once_without_contacting_anything(tmp_path, beam_pipeline, flags, kind,
                                                                  region):
    from apache_beam.options.pipeline_options import PipelineOptions

    from redactline.pipelines.destinations.base import OUTPUTS
    from redactline.pipelines.run import validate

    plan = validate(PipelineOptions(["--policy", str(DEMO_POLICY), "--source", "in.csv",
                                     "--sink", str(tmp_path / "r.jsonl"), *flags]))
    destination = plan.destination
    assert type(destination).__name__ == kind and destination.region == region
    if kind == "AttestedEnclave":
        with pytest.raises(RuntimeError, match="preflight"):
            destination.stage()  # the region is the attested one: nothing to build before preflight
        return
    import apache_beam as beam

    pipeline = beam_pipeline()  # built, never run: the stage's outputs are the same for every destination
    out = pipeline | beam.Create([]) | destination.stage()
    assert sorted(out) == sorted(OUTPUTS)


def test_a_policy_enclave_destination_pins_its_model_digest(tmp_path):
    """``model_digest`` on a policy's enclave destination reaches the client's trust settings."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from redactline.pipelines.run import validate

    pin = "ab" * 32
    policy = tmp_path / "p.yaml"
    policy.write_text(DEMO_POLICY.read_text(encoding="utf-8") + f"""
  enclave-pinned:
    kind: enclave
    region: eu-central-1
    url: http://127.0.0.1:9
    model_digest: "sha256:{pin}"
""", encoding="utf-8")
    plan = validate(PipelineOptions(["--policy", str(policy), "--source", "in.csv", "--sink",
                                     str(tmp_path / "r.jsonl"), "--destination", "enclave-pinned",
                                     "--unsafe-allow-simulated"]))
    assert type(plan.destination).__name__ == "AttestedEnclave"
    assert plan.destination.target.trust.model_digest.endswith(pin)
