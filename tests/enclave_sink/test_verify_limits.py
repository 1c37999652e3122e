"""``redactline enclave verify`` refuses oversized or non-regular files before reading them, and its
PCR policy files go through the bounded read and the safe YAML loader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from redactline.enclave_sink.docio import MAX_DOCUMENT_FILE_BYTES
from redactline.enclave_sink.measurement import PolicyFileError, load_measurement_policy
from redactline.pipelines.cli import main
from redactline.policies import bounded_io

PCR = "ab" * 48


@pytest.fixture()
def reads(monkeypatch) -> list[int]:
    """Bytes read through the bounded reader."""
    counted: list[int] = []
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        chunk = real_read(fd, n)
        counted.append(len(chunk))
        return chunk

    monkeypatch.setattr(bounded_io.os, "read", read)
    return counted


def test_200_mb_document_is_refused_before_it_is_read(tmp_path, capsys, reads):
    path = tmp_path / "huge.b64"
    with path.open("wb") as f:  # sparse 200 MB
        f.seek(200 * 1024 * 1024)
        f.write(b"x")
    assert main(["enclave", "verify", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "over the limit" in err[0] and str(path) in err[0]
    assert sum(reads) == 0


def test_document_just_over_the_limit_is_refused(tmp_path, capsys):
    path = tmp_path / "doc.b64"
    path.write_bytes(b"A" * (MAX_DOCUMENT_FILE_BYTES + 1))
    assert main(["enclave", "verify", str(path)]) == 2
    assert "over the limit" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["/dev/zero", "DIR"])
def test_non_regular_document_is_refused(tmp_path, capsys, target):
    path = str(tmp_path) if target == "DIR" else target
    assert main(["enclave", "verify", path]) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "Traceback" not in err


def test_missing_document_keeps_its_message(tmp_path, capsys):
    assert main(["enclave", "verify", str(tmp_path / "none.b64")]) == 2
    assert "cannot read" in capsys.readouterr().err


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pcrs.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_pcr_policy_duplicate_key_is_refused(tmp_path):
    path = write(tmp_path, f"pcrs:\n  0: ['{PCR}']\n  0: ['{'cd' * 48}']\n")
    with pytest.raises(PolicyFileError, match=r"duplicate key '0' \(first at line 2\)"):
        load_measurement_policy(path)


def test_pcr_policy_alias_bomb_and_depth_are_refused(tmp_path):
    lines = ["a0: &a0 [" + ",".join(["x"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with pytest.raises(PolicyFileError, match="aliases are expanded"):
        load_measurement_policy(write(tmp_path, "\n".join(lines) + "\n"))
    with pytest.raises(PolicyFileError, match="nested deeper than"):
        load_measurement_policy(write(tmp_path, "pcrs: " + "[" * 20_000 + "]" * 20_000 + "\n"))


def test_pcr_policy_dev_zero_is_refused(capsys):
    with pytest.raises(PolicyFileError, match="not a regular file"):
        load_measurement_policy("/dev/zero")


def test_verify_with_dev_zero_pcr_policy_exits_2(tmp_path, capsys):
    doc = tmp_path / "doc.b64"
    doc.write_text("AAAA", encoding="ascii")
    assert main(["enclave", "verify", str(doc), "--pcr-policy", "/dev/zero"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a regular file" in err[0]
