"""Local workers build the policy's engine while they start (pipelines/warm_worker.py)."""

from __future__ import annotations

import logging
import os
import pickle
import stat

from redactline.pipelines import engine_handoff
from redactline.pipelines.redact import PolicyEngineFactory

DEMO_POLICY = "pipelines/demo/demo-policy.yaml"


def _factory() -> PolicyEngineFactory:
    from redactline.policies import load_policy

    return PolicyEngineFactory(DEMO_POLICY, load_policy(DEMO_POLICY).identity.sha256)


def test_engine_file_is_private_and_gone_after_the_run():
    factory = _factory()
    with engine_handoff.engine_file(factory):
        path = os.environ[engine_handoff.ENGINE_FILE_ENV]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path, "rb") as handle:
            shipped = pickle.load(handle)
        assert shipped._sha256 == factory._sha256 and shipped.profile == factory.profile
    assert engine_handoff.ENGINE_FILE_ENV not in os.environ
    assert not os.path.exists(path)


def test_a_factory_that_cannot_warm_is_not_offered():
    with engine_handoff.engine_file(lambda: None):
        assert engine_handoff.ENGINE_FILE_ENV not in os.environ


def test_the_warmed_engine_is_taken_by_the_first_batch_without_a_second_build(caplog):
    factory = _factory()
    caplog.set_level(logging.INFO, logger="redactline.pipelines.redact")
    factory.warm()
    engine = factory()
    built = [r.getMessage() for r in caplog.records if "built in" in r.getMessage()]
    assert len(built) == 1 and "warmed while the worker started" in built[0]
    assert factory() is engine  # cached for this thread from now on
    [result] = engine.redact_records([{"notes": "mail anna@example.com"}])
    assert result.record == {"notes": "mail <EMAIL_ADDRESS>"}
