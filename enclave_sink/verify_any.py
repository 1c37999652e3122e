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

__all__ = [
    "NitroPinnedVerifier", "PinnedTeeVerifier", "TeeMismatch", "VerifyOptions", "detect_evidence",
    "refuse_other_tee", "verify_evidence",
]

# What each TEE type's evidence is called in messages.
EVIDENCE_NAMES = {TEE_NITRO: "a Nitro document", TEE_SEV_SNP: "a SEV-SNP report", TEE_TDX: "a TDX quote"}


class TeeMismatch(AttestationError):
    """The evidence is of another TEE type than the pinned one (refused before any verification).

    ``evidence_tee`` is what the bytes look like (unverified: only a hint for the operator),
    ``pinned_tee`` what the verifier was told to accept.
    """

    def __init__(self, evidence_tee: str, pinned_tee: str) -> None:
        pinned = EVIDENCE_NAMES.get(pinned_tee, f"{pinned_tee} evidence")
        got = EVIDENCE_NAMES.get(evidence_tee, f"{evidence_tee} evidence")
        super().__init__(
            f"tee: the evidence is {evidence_tee}, expected {pinned_tee}: the attestation document "
            f"is not {pinned} (pinned TEE type {pinned_tee}) but looks like {got}"
        )
        self.evidence_tee = evidence_tee
        self.pinned_tee = pinned_tee


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
        raise TeeMismatch(tee, options.tee)
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


def refuse_other_tee(raw: bytes, pinned: str) -> None:
    """Raise :class:`TeeMismatch` when ``raw`` is recognisably evidence of a TEE type other than ``pinned``.

    Bytes of no recognisable type pass: the pinned verifier then refuses them with its own parse
    error. Only a clearer refusal, never an acceptance: the pinned verifier still checks everything.
    """
    try:
        tee = detect_tee(bytes(raw))
    except AttestationError:
        return
    if tee != pinned:
        raise TeeMismatch(tee, pinned)


class NitroPinnedVerifier:
    """A :class:`NitroAttestationVerifier` that names SEV-SNP / TDX evidence as such instead of
    failing on it with a COSE parse error (what a Nitro-pinned client met at an SNP or TDX service)."""

    def __init__(self, nitro: NitroAttestationVerifier) -> None:
        self.nitro = nitro

    def verify(self, document: bytes, *, expected_nonce: bytes | None = None) -> VerifiedAttestation:
        if isinstance(document, bytes | bytearray | memoryview):  # the Nitro verifier refuses the rest
            refuse_other_tee(document, TEE_NITRO)
        return self.nitro.verify(document, expected_nonce=expected_nonce)
