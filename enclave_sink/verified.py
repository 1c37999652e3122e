"""Attestation result types: what every verifier returns and what a measurement policy checks.

A leaf module (like sigstore-python's policies, which never import its verifier): the verifiers
(:mod:`.attestation` for Nitro, :mod:`.snp`, :mod:`.tdx`) build :class:`VerifiedAttestation`, the
measurement checks (:mod:`.measurement`) read it, and neither imports the other for these types.

One shape for three TEEs: ``tee`` names the kind, ``measurements`` maps a name to its value (Nitro
``PCR0``..; SEV-SNP ``MEASUREMENT``, ``HOST_DATA``, ...; TDX ``MRTD``, ``RTMR0``..``RTMR3``, ...),
``public_key`` / ``user_data`` / ``nonce`` are the bound data (Nitro carries them in the document;
SNP and TDX bind them through ``report_data``, see :func:`report_data_binding`), ``tcb`` holds the
TCB facts (SVNs, TCB status, product) and ``debug`` whether the guest can be debugged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509

__all__ = [
    "DEBUG_PCR_INDEXES",
    "TEE_NITRO",
    "TEE_SEV_SNP",
    "TEE_TDX",
    "TEE_TYPES",
    "AttestationPolicy",
    "VerifiedAttestation",
    "is_debug_pcrs",
    "report_data_binding",
]

DEBUG_PCR_INDEXES = (0, 1, 2)
TEE_NITRO, TEE_SEV_SNP, TEE_TDX = "nitro", "sev-snp", "tdx"
TEE_TYPES = (TEE_NITRO, TEE_SEV_SNP, TEE_TDX)

_BINDING_LABEL = b"redactline report_data v1\x00"


def is_debug_pcrs(pcrs: Mapping[int, bytes]) -> bool:
    """Nitro debug-mode enclaves report all-zero PCR0..2 (their memory is readable by the parent)."""
    return all(i in pcrs and not any(pcrs[i]) for i in DEBUG_PCR_INDEXES)


def report_data_binding(nonce: bytes, user_data: bytes, public_key: bytes) -> bytes:
    """The 64-byte ``report_data`` an SNP report or TDX quote carries to bind nonce, data and key.

    SHA-512 over a label and the three fields, each prefixed with its 4-byte big-endian length, so
    that no two different triples give the same input. Nitro signs the three fields themselves.
    """
    h = hashlib.sha512(_BINDING_LABEL)
    for part in (nonce, user_data, public_key):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


@dataclass(frozen=True)
class VerifiedAttestation:
    """Evidence whose signature, certificate chain, time and built-in checks all passed."""

    timestamp: dt.datetime
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None
    document_sha256: bytes
    leaf_certificate: x509.Certificate = field(repr=False, compare=False)
    trusted_root_unsafe: bool = False
    tee: str = TEE_NITRO
    measurements: Mapping[str, bytes] = field(default_factory=dict)
    report_data: bytes | None = None
    tcb: Mapping[str, Any] = field(default_factory=dict)
    debug: bool | None = None
    # Nitro-only fields (empty for SEV-SNP and TDX).
    module_id: str = ""
    digest: str = ""
    pcrs: dict[int, bytes] = field(default_factory=dict)

    @property
    def is_debug(self) -> bool:
        """True when the guest is debuggable (Nitro: PCR0-2 all zero; SNP policy bit; TDX attribute)."""
        if self.debug is not None:
            return self.debug
        return is_debug_pcrs(self.pcrs)


class AttestationPolicy(Protocol):
    """Anything with ``verify(doc)`` that raises :class:`~.errors.MeasurementError` on failure."""

    def verify(self, doc: VerifiedAttestation) -> None: ...
