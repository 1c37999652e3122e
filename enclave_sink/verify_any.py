"""One entry point over the three verifiers: detect the TEE type, build its verifier, verify.

``redactline enclave verify`` and the enclave client use this so that Nitro documents, SEV-SNP
reports and TDX quotes (raw, base64/hex for Nitro, or in an evidence bundle) go through one call and
come back as one :class:`~.verified.VerifiedAttestation`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from .attestation import DEFAULT_MAX_AGE, Clock, NitroAttestationVerifier, utc_now
from .docio import decode_document
from .errors import AttestationError
from .evidence import detect_tee
from .snp import PRODUCTS, SnpVerifier
from .tdx import DEFAULT_TCB_STATUSES, TdxCollateral, TdxVerifier
from .trust import TrustRoot
from .verified import TEE_NITRO, TEE_SEV_SNP, TEE_TDX, AttestationPolicy, VerifiedAttestation

__all__ = ["PinnedTeeVerifier", "VerifyOptions", "detect_evidence", "verify_evidence"]


@dataclass(frozen=True)
class VerifyOptions:
    """Everything a verifier may need; fields that do not apply to a TEE type are ignored by it.

    ``root`` replaces the pinned root of the detected TEE type (it must then be an
    :class:`~.trust.UnsafeTrustRoot`); ``certificates`` adds SNP VCEK/VLEK/ASK certificates;
    ``collateral`` is TDX TCB info, QE identity, signing chain and CRLs.
    """

    tee: str | None = None
    root: TrustRoot | None = None
    clock: Clock = utc_now
    max_age: dt.timedelta = DEFAULT_MAX_AGE
    policy: AttestationPolicy | None = None
    allow_debug: bool = False
    certificates: Sequence[x509.Certificate] = ()
    collateral: TdxCollateral | None = None
    tcb_statuses: Sequence[str] = DEFAULT_TCB_STATUSES
    allow_tcb_unknown: bool = False


def detect_evidence(raw: bytes) -> tuple[str, bytes]:
    """``(tee, evidence bytes)``: binary evidence as is, Nitro documents also from base64 or hex text."""
    try:
        return detect_tee(raw), raw
    except AttestationError:
        decoded = decode_document(raw)
        return detect_tee(decoded), decoded


def verify_evidence(
    raw: bytes, options: VerifyOptions, *, expected_nonce: bytes | None = None
) -> VerifiedAttestation:
    """Detect (or check ``options.tee``), then verify with the matching verifier."""
    tee, evidence = detect_evidence(raw)
    if options.tee is not None and tee != options.tee:
        raise AttestationError(f"tee: the evidence is {tee}, expected {options.tee}")
    if tee == TEE_NITRO:
        nitro = NitroAttestationVerifier(
            root=options.root, clock=options.clock, max_age=options.max_age, policy=options.policy,
            allow_debug=options.allow_debug,
        )
        return nitro.verify(evidence, expected_nonce=expected_nonce)
    if tee == TEE_SEV_SNP:
        roots = None if options.root is None else {product: options.root for product in PRODUCTS}
        snp = SnpVerifier(roots=roots, clock=options.clock, policy=options.policy,
                          allow_debug=options.allow_debug)
        return snp.verify(evidence, certificates=options.certificates, expected_nonce=expected_nonce)
    assert tee == TEE_TDX
    tdx = TdxVerifier(
        root=options.root, clock=options.clock, collateral=options.collateral,
        tcb_statuses=options.tcb_statuses, allow_tcb_unknown=options.allow_tcb_unknown,
        policy=options.policy, allow_debug=options.allow_debug,
    )
    return tdx.verify(evidence, expected_nonce=expected_nonce)


class PinnedTeeVerifier:
    """A verifier object (``verify(document, expected_nonce=...)``) that accepts one TEE type only.

    What the enclave client holds: evidence of any other TEE type is refused before verification.
    """

    def __init__(self, options: VerifyOptions) -> None:
        if options.tee is None:
            raise ValueError("PinnedTeeVerifier needs options.tee")
        self.options = options

    def verify(self, document: bytes, *, expected_nonce: bytes | None = None) -> VerifiedAttestation:
        return verify_evidence(document, self.options, expected_nonce=expected_nonce)
