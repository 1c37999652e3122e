"""AWS Nitro attestation verification: COSE_Sign1/ES384, certificate chain, time, size and shape.

Usage::

    verifier = NitroAttestationVerifier(policy=load_measurement_policy("pcrs.yaml"))
    verified = verifier.verify(document_bytes, expected_nonce=nonce)

Verification order (fail closed, first failure wins): size -> COSE shape -> payload shape -> the
cabundle root is the trusted root -> chain via ``x509.verification.PolicyBuilder`` at the document's
own timestamp -> every chain certificate also valid at the verifier's clock -> document age ->
ES384 signature by the leaf -> debug-mode refusal -> nonce -> measurement policy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .cose import decode_cose_sign1
from .errors import AttestationError, MeasurementError
from .measurement import ExpectedNonce, NotDebugMode
from .nitro_document import NitroPayload, parse_payload
from .trust import AWS_NITRO_ROOT, TrustRoot
from .verified import TEE_NITRO, AttestationPolicy, VerifiedAttestation, is_debug_pcrs

__all__ = [
    "AttestationError",
    "MeasurementError",
    "NitroAttestationVerifier",
    "verify_attestation",
]

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 32 * 1024  # real documents are 4-8 KiB
DEFAULT_MAX_AGE = dt.timedelta(minutes=5)
# A document stamped slightly after our clock is tolerated (clock skew), no more.
DEFAULT_MAX_FUTURE_SKEW = dt.timedelta(seconds=60)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _nitro_ca_policy() -> ExtensionPolicy:
    # Real Nitro zonal/instance intermediates omit authorityKeyIdentifier; everything else stays
    # at the Web PKI CA defaults (basicConstraints, keyUsage keyCertSign, path length, ...).
    return ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None
    )


def _require_digital_signature(policy: object, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is None or not ku.digital_signature:
        raise ValueError("leaf keyUsage must include digitalSignature")


def _nitro_ee_policy() -> ExtensionPolicy:
    # Nitro leaf certificates carry neither authorityKeyIdentifier nor subjectAltName (they are not
    # TLS certs); they do carry a keyUsage with digitalSignature, which we insist on.
    return (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_digital_signature)
    )


class NitroAttestationVerifier:
    """Verifies Nitro attestation documents against one trust root, a clock and optional policy.

    ``root`` defaults to the pinned AWS root; any other root must be an
    :class:`~redactline.enclave_sink.trust.UnsafeTrustRoot`. ``clock`` returns the verifier's "now"
    (tests inject a fixed time). ``policy`` is a measurement policy from :mod:`.measurement` whose
    ``verify(doc)`` raises :class:`MeasurementError`; without one, measurements are not checked.
    Debug-mode documents are refused unless ``allow_debug`` is true.
    """

    def __init__(
        self,
        *,
        root: TrustRoot | None = None,
        clock: Clock = utc_now,
        max_age: dt.timedelta = DEFAULT_MAX_AGE,
        max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW,
        policy: AttestationPolicy | None = None,
        allow_debug: bool = False,
    ) -> None:
        root = root or AWS_NITRO_ROOT
        if not root.unsafe and root.fingerprint != AWS_NITRO_ROOT.fingerprint:
            raise AttestationError("a root other than the pinned AWS root must be passed as UnsafeTrustRoot")
        if max_age <= dt.timedelta(0):
            raise ValueError("max_age must be positive")
        self._root = root
        self._clock = clock
        self._max_age = max_age
        self._max_future_skew = max_future_skew
        self._policy = policy
        self._allow_debug = allow_debug

    def verify(self, document: bytes, *, expected_nonce: bytes | None = None) -> VerifiedAttestation:
        """Verify ``document`` (raw COSE_Sign1 bytes); raise :class:`AttestationError` with a reason."""
        if not isinstance(document, bytes | bytearray | memoryview):
            raise AttestationError("attestation document must be bytes")
        document = bytes(document)
        if len(document) > MAX_DOCUMENT_BYTES:
            raise AttestationError(
                f"attestation document is {len(document)} bytes, over {MAX_DOCUMENT_BYTES}"
            )
        if self._root.unsafe:
            logger.warning(
                "verifying attestation against UNSAFE root %s: no real enclave guarantee",
                self._root.fingerprint,
            )
        now = self._now()
        cose = decode_cose_sign1(document)
        payload = parse_payload(cose.payload)
        doc_time = dt.datetime.fromtimestamp(payload.timestamp_ms / 1000, dt.UTC)
        leaf = self._verify_chain(payload, doc_time, now)
        self._check_age(doc_time, now)
        cose.verify_es384(_leaf_ec_key(leaf))
        verified = VerifiedAttestation(
            module_id=payload.module_id,
            timestamp=doc_time,
            digest=payload.digest,
            pcrs=dict(payload.pcrs),
            tee=TEE_NITRO,
            measurements={f"PCR{i}": v for i, v in payload.pcrs.items()},
            debug=is_debug_pcrs(payload.pcrs),
            public_key=payload.public_key,
            user_data=payload.user_data,
            nonce=payload.nonce,
            document_sha256=hashlib.sha256(document).digest(),
            leaf_certificate=leaf,
            trusted_root_unsafe=self._root.unsafe,
        )
        self._check_claims(verified, expected_nonce)
        return verified

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("verifier clock must return an aware datetime")
        return now.astimezone(dt.UTC)

    def _verify_chain(
        self, payload: NitroPayload, doc_time: dt.datetime, now: dt.datetime
    ) -> x509.Certificate:
        if not self._root.matches_der(payload.cabundle[0]):
            raise AttestationError("cabundle[0] is not the trusted root certificate")
        try:
            leaf = x509.load_der_x509_certificate(payload.certificate)
            intermediates = [x509.load_der_x509_certificate(der) for der in payload.cabundle[1:]]
        except ValueError:
            raise AttestationError(
                "certificate or cabundle entry is not a valid DER X.509 certificate"
            ) from None
        verifier = (
            PolicyBuilder()
            .store(Store([self._root.certificate]))
            .time(doc_time)
            .extension_policies(ca_policy=_nitro_ca_policy(), ee_policy=_nitro_ee_policy())
            .build_client_verifier()
        )
        try:
            chain = verifier.verify(leaf, intermediates).chain
        except VerificationError as exc:
            raise AttestationError(f"certificate chain does not verify at the document time: {exc}") from None
        for cert in chain:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise AttestationError(
                    f"certificate '{cert.subject.rfc4514_string()}' is not valid at the verifier time "
                    f"{now.isoformat()} (valid {cert.not_valid_before_utc.isoformat()} .. "
                    f"{cert.not_valid_after_utc.isoformat()})"
                )
        return leaf

    def _check_age(self, doc_time: dt.datetime, now: dt.datetime) -> None:
        age = now - doc_time
        if age > self._max_age:
            raise AttestationError(f"document is {age} old, more than the maximum age {self._max_age}")
        if -age > self._max_future_skew:
            raise AttestationError(f"document timestamp is {-age} ahead of the verifier clock")

    def _check_claims(self, verified: VerifiedAttestation, expected_nonce: bytes | None) -> None:
        if not self._allow_debug:
            NotDebugMode().verify(verified)
        if expected_nonce is not None:
            ExpectedNonce(expected_nonce).verify(verified)
        if self._policy is not None:
            self._policy.verify(verified)


def _leaf_ec_key(leaf: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AttestationError("leaf certificate key is not an EC key")
    return key


def verify_attestation(
    document: bytes,
    *,
    root: TrustRoot | None = None,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    expected_nonce: bytes | None = None,
    policy: AttestationPolicy | None = None,
    allow_debug: bool = False,
) -> VerifiedAttestation:
    """One-shot convenience around :class:`NitroAttestationVerifier` (``now`` fixes the clock)."""
    clock: Clock = utc_now if now is None else (lambda: now)
    verifier = NitroAttestationVerifier(
        root=root, clock=clock, max_age=max_age, policy=policy, allow_debug=allow_debug
    )
    return verifier.verify(document, expected_nonce=expected_nonce)
