"""Fixtures for the pipeline tests: the demo policy loaded once, and a guard against remote connections."""

from __future__ import annotations

import socket

import pytest

from redactline.policies import load_policy
from tests.support.demo import DEMO_POLICY


@pytest.fixture(scope="session")
def demo_policy():
    return load_policy(DEMO_POLICY)


@pytest.fixture
def no_remote_network(monkeypatch):
    """Fail any connection to a non-loopback address made from this process."""
    real_connect = socket.socket.connect
    attempts: list[object] = []

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError(f"test forbids network access to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, a: guarded(self, a) or 0)
    return attempts
