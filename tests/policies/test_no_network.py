"""Import, engine build and redaction open no socket at all (tldextract, spaCy downloads, telemetry)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import socket

    attempts = []
    class Guard(socket.socket):
        def connect(self, address):
            attempts.append(repr(address))
            raise OSError("network disabled by test")
        def connect_ex(self, address):
            attempts.append(repr(address))
            return 1
    socket.socket = Guard
    real_create = socket.create_connection
    def create_connection(address, *args, **kwargs):
        attempts.append(repr(address))
        raise OSError("network disabled by test")
    socket.create_connection = create_connection
    def getaddrinfo(host, *args, **kwargs):
        attempts.append("dns:" + str(host))
        raise OSError("dns disabled by test")
    socket.getaddrinfo = getaddrinfo

    from redactline.policies import load_policy
    engine = load_policy(POLICY).engine()
    text = engine.redact_text("Mail jane.doe@example.co.uk or call 212-555-0100, Jane Doe").text
    assert "jane.doe@example.co.uk" not in text, text
    print("ATTEMPTS", attempts)
    """
)


def test_import_build_and_redact_open_no_socket(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\nmetadata: {name: n, version: 1.0.0}\n",
        encoding="utf-8",
    )
    script = "POLICY = " + repr(str(policy)) + "\n" + SCRIPT
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # a fresh home: no tldextract cache to lean on
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ATTEMPTS []" in done.stdout, done.stdout
