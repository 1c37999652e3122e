"""Analysed text never reaches the logs, even with every logger at DEBUG."""

from __future__ import annotations

import logging

from redactline.policies import load_policy

TEXT = "Please call Margaret Sullivan on her phone 212-555-0147 about the claim."


def test_debug_logging_does_not_capture_analysed_text(caplog):
    engine = load_policy("policies/library/general-pii.yaml").engine()
    caplog.set_level(logging.DEBUG)  # the root logger and its handlers at DEBUG
    result = engine.redact_text(TEXT)
    assert "Sullivan" not in result.text and "212-555-0147" not in result.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in ("Margaret", "Sullivan", "212-555-0147", "claim"):
        assert value not in logged


def test_presidio_loggers_are_raised_to_warning():
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        assert logging.getLogger(name).level >= logging.WARNING
