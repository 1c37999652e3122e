"""Fixtures shared by every test folder: loopback servers, the PostgreSQL schema, the Beam runner.

The helpers behind them live in ``tests/support/``; heavy imports (Beam, psycopg) happen inside the
fixtures, so tests that use none of them do not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.servers import SERVERS, FakeAnthropic, FakeLlmServer, FakeOpenAI, LoopbackServer

if TYPE_CHECKING:
    import apache_beam as beam

    from tests.support.postgres import PgSchema


@pytest.fixture
def beam_pipeline() -> Callable[..., beam.Pipeline]:
    """Makes Pipelines on the one test runner (the in-process FnApiRunner): ``with beam_pipeline() as p:``;
    pipeline options as arguments, e.g. ``beam_pipeline("--direct_running_mode=multi_processing")``."""
    from tests.support.beam import pipeline

    return pipeline


@pytest.fixture
def pg() -> Iterator[PgSchema]:
    """A schema of its own on the PostgreSQL server on 127.0.0.1:5432, dropped after the test."""
    from tests.support import postgres

    try:
        conn = postgres.connect()
    except postgres.ServerDown as exc:
        pytest.fail(str(exc))
    with postgres.fresh_schema(conn) as schema:
        yield schema


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A JSON API on 127.0.0.1 whose replies the test scripts through ``.handler``."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(params=sorted(SERVERS))
def llm_server(request: pytest.FixtureRequest) -> Iterator[FakeLlmServer]:
    """Each test that uses it runs once per wire format (``anthropic``, ``openai``)."""
    with SERVERS[request.param]() as server:
        yield server


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run without a quarantine key flag generates a per-user key: keep it out of the real home."""
    monkeypatch.setenv("REDACTLINE_STATE_DIR", str(tmp_path_factory.getbasetemp() / "redactline-state"))
