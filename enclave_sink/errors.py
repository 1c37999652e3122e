"""Errors shared by the attestation verifier and the measurement policy."""

from __future__ import annotations


class AttestationError(Exception):
    """An attestation document was refused. ``reason`` says why, without echoing secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MeasurementError(AttestationError):
    """The document verified, but its measurements or bindings do not satisfy the policy."""
