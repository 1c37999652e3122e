"""``redactline enclave verify`` through the real dispatcher."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path

import pytest

from redactline.enclave_sink.simulator import UnsafeSimulatedNitro
from redactline.pipelines.cli import main

SHARED = Path(os.environ.get("REDACTLINE_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
NITRO = SHARED / "test-vectors" / "attestation" / "nitro"


def _real(name: str) -> tuple[Path, dict]:
    manifest = NITRO / "MANIFEST.json"
    if not manifest.is_file():
        pytest.fail(f"shared test vectors not found: {manifest}")
    entry = next(e for e in json.loads(manifest.read_text()) if e["local_path"].endswith(name))
    return NITRO.parent / entry["local_path"], entry


def _at(entry: dict) -> str:
    return dt.datetime.fromtimestamp(entry["timestamp_ms"] / 1000 + 1, dt.UTC).isoformat()


def test_real_document_passes_at_its_time(capsys):
    path, entry = _real("nitro_attestation.b64")
    assert main(["enclave", "verify", str(path), "--at", _at(entry)]) == 0
    out = capsys.readouterr().out
    assert entry["module_id"] in out and f"PCR0: {entry['pcr0']}" in out
    assert "verdict: PASS" in out and "measurements NOT checked" in out


def test_real_document_fails_today(capsys):
    path, _ = _real("nitro_attestation.b64")
    assert main(["enclave", "verify", str(path)]) == 1
    assert "verdict: FAIL" in capsys.readouterr().out


def test_debug_document_needs_allow_debug(capsys):
    path, entry = _real("nitro_attestation_debug.b64")
    assert main(["enclave", "verify", str(path), "--at", _at(entry)]) == 1
    assert "debug mode" in capsys.readouterr().out
    assert main(["enclave", "verify", str(path), "--at", _at(entry), "--allow-debug"]) == 0
    assert "DEBUG-mode enclave accepted" in capsys.readouterr().out


def test_pcr_policy_pass_and_fail(tmp_path, capsys):
    path, entry = _real("nitro_attestation.b64")
    good = tmp_path / "good.yaml"
    good.write_text(f"pcrs:\n  0: ['{entry['pcr0']}']\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"pcrs:\n  0: ['{'11' * 48}']\n")
    assert main(["enclave", "verify", str(path), "--at", _at(entry), "--pcr-policy", str(good)]) == 0
    assert "measurements NOT checked" not in capsys.readouterr().out
    assert main(["enclave", "verify", str(path), "--at", _at(entry), "--pcr-policy", str(bad)]) == 1
    assert "PCR0" in capsys.readouterr().out


def test_simulator_document_with_unsafe_root_and_nonce(tmp_path, capsys):
    sim = UnsafeSimulatedNitro()
    nonce = os.urandom(16)
    doc = tmp_path / "doc.hex"
    doc.write_text(sim.attest(nonce).hex())
    root = tmp_path / "root.pem"
    root.write_bytes(sim.root_pem)
    assert main(["enclave", "verify", str(doc), "--root", str(root), "--nonce", nonce.hex()]) == 0
    captured = capsys.readouterr()
    assert "UNSAFE" in captured.err and "verdict: PASS" in captured.out
    assert main(["enclave", "verify", str(doc), "--root", str(root), "--nonce", "00" * 16]) == 1
    assert "nonce mismatch" in capsys.readouterr().out
    assert main(["enclave", "verify", str(doc)]) == 1  # the simulator root is never trusted implicitly


def test_base64_raw_and_corrupted_inputs(tmp_path, capsys):
    path, entry = _real("sample_prod_doc.bin")
    raw = path.read_bytes()
    as_b64 = tmp_path / "doc.b64"
    as_b64.write_text(base64.b64encode(raw).decode())
    for candidate in (path, as_b64):
        assert main(["enclave", "verify", str(candidate), "--at", _at(entry)]) == 0
    corrupted = NITRO / "base-nitro-validator" / "real_attestation_as_published_corrupted.b64"
    assert main(["enclave", "verify", str(corrupted)]) == 1
    assert "not valid CBOR" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["enclave", "verify", "/definitely/not/here"],
        ["enclave", "verify", "{doc}", "--at", "yesterday"],
        ["enclave", "verify", "{doc}", "--nonce", "xyz"],
        ["enclave", "verify", "{doc}", "--pcr-policy", "/definitely/not/here.yaml"],
        ["enclave", "verify", "{doc}", "--root", "{doc}"],
    ],
)
def test_usage_errors_exit_2(tmp_path, argv):
    doc = tmp_path / "doc.bin"
    doc.write_bytes(b"\x84")
    assert main([a.replace("{doc}", str(doc)) for a in argv]) == 2


def test_enclave_without_verb_exits_2(capsys):
    assert main(["enclave"]) == 2
