"""``redactline enclave verify`` over SEV-SNP reports and TDX quotes (real vectors and simulators)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from redactline.pipelines.cli import main

SHARED = Path(os.environ.get("REDACTLINE_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
SNP = SHARED / "test-vectors" / "attestation" / "sev-snp" / "google-go-sev-guest" / "verify"
TDX = SHARED / "test-vectors" / "attestation" / "tdx" / "google-go-tdx-guest" / "testing" / "testdata"
REPORT = SNP / "testdata" / "attestation.bin"
VCEK = SNP / "testdata" / "vcek.testcer"
COS = TDX / "ccel" / "cos-113-tdx-quote.dat"


@pytest.fixture(autouse=True)
def _vectors_present() -> None:
    for path in (REPORT, VCEK, COS):
        if not path.is_file():
            pytest.fail(f"shared attestation vector not found: {path} (set REDACTLINE_SHARED)")


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["enclave", "verify", *argv])
    return code, capsys.readouterr().out


def test_snp_report_detected_and_verified(capsys):
    code, out = _run(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2023-01-01T00:00:00Z",
                     "--allow-debug")
    assert code == 0, out
    assert "tee: sev-snp" in out and "MEASUREMENT: b07af962" in out and "verdict: PASS" in out


def test_snp_failures_name_the_check(capsys):
    code, out = _run(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2023-01-01")
    assert code == 1 and "verdict: FAIL: debug:" in out
    code, out = _run(capsys, str(REPORT), "--at", "2023-01-01", "--allow-debug")
    assert code == 1 and "FAIL: chain: no SEV-VCEK certificate" in out
    code, out = _run(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2030-01-01", "--allow-debug")
    assert code == 1 and "FAIL: validity:" in out
    code, out = _run(capsys, str(REPORT), "--tee", "tdx", "--cert", str(VCEK), "--allow-debug")
    assert code == 1 and "FAIL: tee: the evidence is sev-snp, expected tdx" in out


def test_snp_json_and_policy(capsys, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "allow_debug: true\ntees:\n  sev-snp:\n    measurements:\n      MEASUREMENT: ['" + "00" * 48 + "']\n"
    )
    code, out = _run(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2023-01-01", "--allow-debug",
                     "--policy", str(policy), "--format", "json")
    result = json.loads(out)
    assert code == 1 and result["verdict"] == "FAIL" and result["check"] == "measurement"
    code, out = _run(capsys, str(REPORT), "--cert", str(VCEK), "--at", "2023-01-01", "--allow-debug",
                     "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["tee"] == "sev-snp" and result["tcb"]["reported_tcb"]["snp"] == 5
    assert result["report_data"].startswith("0102030405")


def test_tdx_quote_unknown_tcb_needs_the_flag(capsys):
    code, out = _run(capsys, str(COS), "--at", "2026-02-03", "--format", "json")
    assert code == 1 and json.loads(out)["check"] == "tcb status"
    code, out = _run(capsys, str(COS), "--at", "2026-02-03", "--allow-tcb-unknown")
    assert code == 0 and "tee: tdx" in out and "TCB status unknown" in out
    code, out = _run(capsys, str(COS), "--at", "2023-07-01", "--allow-tcb-unknown")
    assert code == 1 and "FAIL: validity: PCK certificate" in out


def test_tdx_with_collateral_folder(capsys, tmp_path):
    from tests.enclave_sink.test_tdx import INTEL_TCB_SIGNING_PEM

    folder = tmp_path / "collateral"
    folder.mkdir()
    for name in ("sample_tcbInfo_response", "sample_qeIdentity_response", "pckcrl", "rootcrl.der"):
        shutil.copy(TDX / name, folder / name)
    (folder / "tcb_signing.pem").write_bytes(INTEL_TCB_SIGNING_PEM)
    raw = (TDX / "tdx_prod_quote_SPR_E4.dat").read_bytes()
    quote = tmp_path / "spr.dat"
    quote.write_bytes(raw[:4935])  # without go-tdx-guest's appended unsigned test bytes
    code, out = _run(capsys, str(quote), "--collateral", str(folder), "--at", "2023-07-01")
    assert code == 1 and "FAIL: tcb status: NotSupported" in out
    code, out = _run(capsys, str(quote), "--collateral", str(folder), "--at", "2026-12-01")
    assert code == 1 and ("FAIL: crl: the CRL of" in out or "FAIL: validity: TCB signing" in out)


def test_usage_errors_exit_2(capsys, tmp_path):
    assert main(["enclave", "verify", str(REPORT), "--cert", str(tmp_path / "absent.pem")]) == 2
    assert main(["enclave", "verify", str(COS), "--collateral", str(tmp_path / "absent")]) == 2
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"not a certificate")
    assert main(["enclave", "verify", str(REPORT), "--cert", str(bad)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["enclave", "verify", str(REPORT), "--tee", "sgx"])
    assert exc.value.code == 2


def test_simulated_bundles(capsys, tmp_path):
    from redactline.enclave_sink.simulator_snp import UnsafeSimulatedSnp
    from redactline.enclave_sink.simulator_tdx import UnsafeSimulatedTdx

    for sim, tee in ((UnsafeSimulatedSnp(), "sev-snp"), (UnsafeSimulatedTdx(), "tdx")):
        doc, root = tmp_path / f"{tee}.cbor", tmp_path / f"{tee}-root.pem"
        doc.write_bytes(sim.attest(nonce=b"n" * 32, user_data=b"u", public_key=b"k"))
        root.write_bytes(sim.root_pem)
        extra = ["--allow-tcb-unknown"] if tee == "tdx" else []
        code, out = _run(capsys, str(doc), "--root", str(root), "--nonce", (b"n" * 32).hex(), *extra)
        assert code == 0 and f"tee: {tee}" in out and "UNSAFE" in out, out
        code, out = _run(capsys, str(doc), *extra)
        assert code == 1 and ("FAIL: chain" in out or "FAIL: PCK" in out), out
