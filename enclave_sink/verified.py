"""Attestation result types: what a verifier returns and what a measurement policy checks.

A leaf module (like sigstore-python's policies, which never import its verifier): the verifier
(:mod:`.attestation`) builds :class:`VerifiedAttestation`, the measurement checks
(:mod:`.measurement`) read it, and neither imports the other for these types.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509

__all__ = ["DEBUG_PCR_INDEXES", "AttestationPolicy", "VerifiedAttestation", "is_debug_pcrs"]

DEBUG_PCR_INDEXES = (0, 1, 2)


def is_debug_pcrs(pcrs: dict[int, bytes]) -> bool:
    """Nitro debug-mode enclaves report all-zero PCR0..2 (their memory is readable by the parent)."""
    return all(i in pcrs and not any(pcrs[i]) for i in DEBUG_PCR_INDEXES)


@dataclass(frozen=True)
class VerifiedAttestation:
    """A Nitro attestation document whose signature, chain, age and policy checks all passed."""

    module_id: str
    timestamp: dt.datetime
    digest: str
    pcrs: dict[int, bytes]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None
    document_sha256: bytes
    leaf_certificate: x509.Certificate = field(repr=False, compare=False)
    trusted_root_unsafe: bool = False

    @property
    def is_debug(self) -> bool:
        """True when PCR0, PCR1 and PCR2 are all zero: the enclave runs in debug mode."""
        return is_debug_pcrs(self.pcrs)


class AttestationPolicy(Protocol):
    """Anything with ``verify(doc)`` that raises :class:`~.errors.MeasurementError` on failure."""

    def verify(self, doc: VerifiedAttestation) -> None: ...
