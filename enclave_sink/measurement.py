"""Measurement policy: small composable checks over a :class:`~.verified.VerifiedAttestation`.

Modelled on sigstore-python's verification policies: one check per class, each with
``verify(doc) -> None`` that raises :class:`MeasurementError` naming what failed, and the combinators
:class:`AllOf` / :class:`AnyOf`. A YAML file maps PCR indexes to allowlists::

    # pcrs.yaml
    pcrs:
      0: ["<96 hex chars>", ...]   # enclave image
      8: ["<96 hex chars>"]        # signing certificate

Empty allowlists, empty combinators and policies without any PCR are refused at construction: an
empty allowlist would otherwise read as "allow nothing" in one place and "allow anything" in another.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from redactline.policies.bounded_io import KIB, BoundedReadError, read_bounded_text
from redactline.policies.safe_yaml import safe_load

from .errors import MeasurementError
from .verified import AttestationPolicy, VerifiedAttestation, is_debug_pcrs

__all__ = [
    "AllOf",
    "AnyOf",
    "ExpectedNonce",
    "ExpectedPublicKey",
    "ExpectedUserData",
    "MeasurementError",
    "NotDebugMode",
    "PcrAllowlist",
    "PolicyFileError",
    "load_measurement_policy",
]

# PCRs with a defined meaning on Nitro: 0 image, 1 kernel+bootstrap, 2 application, 3 parent IAM role,
# 4 parent instance id, 8 enclave image signing certificate.
ALLOWED_PCR_INDEXES = frozenset({0, 1, 2, 3, 4, 8})
PCR_HEX_LENGTHS = (64, 96, 128)


def short_hex(value: bytes | None, keep: int = 8) -> str:
    """Abbreviated hex for messages: the first and last ``keep`` hex digits."""
    if value is None:
        return "<absent>"
    text = value.hex()
    return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]}"


class PcrAllowlist:
    """PCR ``index`` must equal one of ``allowed`` (hex strings or bytes)."""

    def __init__(self, index: int, allowed: Iterable[str | bytes]) -> None:
        if type(index) is not int or index not in ALLOWED_PCR_INDEXES:
            raise ValueError(f"PCR index must be one of {sorted(ALLOWED_PCR_INDEXES)}, got {index!r}")
        values = tuple(_pcr_bytes(v, index) for v in allowed)
        if not values:
            raise ValueError(f"PCR{index} allowlist is empty; an empty allowlist is never valid")
        self.index = index
        self.allowed = values

    def verify(self, doc: VerifiedAttestation) -> None:
        actual = doc.pcrs.get(self.index)
        if actual is None:
            raise MeasurementError(f"PCR{self.index} is absent from the document")
        # Constant-time per comparison; the allowlist is public, so early exit on a match is fine.
        if not any(hmac.compare_digest(actual, allowed) for allowed in self.allowed):
            expected = ", ".join(short_hex(a) for a in self.allowed)
            raise MeasurementError(
                f"PCR{self.index} {short_hex(actual)} is not in the allowlist [{expected}]"
            )

    def __repr__(self) -> str:
        return f"PcrAllowlist({self.index}, {len(self.allowed)} value(s))"


class NotDebugMode:
    """Refuse debug-mode enclaves (PCR0, PCR1 and PCR2 all zero)."""

    def verify(self, doc: VerifiedAttestation) -> None:
        if is_debug_pcrs(doc.pcrs):
            raise MeasurementError("enclave runs in debug mode (PCR0-2 are all zero); refused unless allowed")


class _ExpectedBytes:
    field_name = ""

    def __init__(self, expected: bytes) -> None:
        if not isinstance(expected, bytes) or not expected:
            raise ValueError(f"expected {self.field_name} must be non-empty bytes")
        self.expected = expected

    def verify(self, doc: VerifiedAttestation) -> None:
        actual = getattr(doc, self.field_name)
        if actual is None:
            raise MeasurementError(f"{self.field_name} is absent, expected {short_hex(self.expected)}")
        if not hmac.compare_digest(actual, self.expected):
            raise MeasurementError(
                f"{self.field_name} mismatch: expected {short_hex(self.expected)}, got {short_hex(actual)}"
            )


class ExpectedNonce(_ExpectedBytes):
    """The document's nonce must equal ``expected`` exactly (constant-time compare)."""

    field_name = "nonce"


class ExpectedPublicKey(_ExpectedBytes):
    """The document's ``public_key`` must equal ``expected`` (binds the enclave key)."""

    field_name = "public_key"


class ExpectedUserData(_ExpectedBytes):
    """The document's ``user_data`` must equal ``expected``."""

    field_name = "user_data"


class AllOf:
    """Every child policy must pass; the first failure is raised."""

    def __init__(self, children: Sequence[AttestationPolicy]) -> None:
        if not children:
            raise ValueError("AllOf needs at least one policy")
        self.children = tuple(children)

    def verify(self, doc: VerifiedAttestation) -> None:
        for child in self.children:
            child.verify(doc)


class AnyOf:
    """At least one child policy must pass; otherwise every child's reason is reported."""

    def __init__(self, children: Sequence[AttestationPolicy]) -> None:
        if not children:
            raise ValueError("AnyOf needs at least one policy")
        self.children = tuple(children)

    def verify(self, doc: VerifiedAttestation) -> None:
        reasons = []
        for child in self.children:
            try:
                child.verify(doc)
                return
            except MeasurementError as exc:
                reasons.append(exc.reason)
        raise MeasurementError("no alternative matched: " + "; ".join(reasons))


#: Largest PCR policy file read (bytes): a few dozen PCR values fit in a few KiB.
MAX_POLICY_FILE_BYTES = 64 * KIB


class PolicyFileError(ValueError):
    """A measurement policy file is unreadable or invalid; the message names the file and field."""


def load_measurement_policy(path: str | Path) -> AllOf:
    """Load a YAML PCR policy into ``AllOf([NotDebugMode(), PcrAllowlist(i, ...), ...])``.

    Accepted keys: ``pcrs`` (required, a map of PCR index -> non-empty list of hex values) and
    ``allow_debug`` (optional bool, default false). Anything else is an error.
    """
    path = Path(path)
    try:
        # bounded read and the project's safe YAML loader (depth, alias and duplicate-key limits)
        data = safe_load(read_bounded_text(path, MAX_POLICY_FILE_BYTES))
    except BoundedReadError as exc:
        problem = f"cannot read ({exc.os_error})" if exc.os_error else exc.reason
        raise PolicyFileError(f"{path}: {problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{path}: not valid YAML ({exc})") from None
    return policy_from_mapping(data, source=str(path))


def policy_from_mapping(data: Any, source: str = "<policy>") -> AllOf:
    """Build the policy from already-parsed YAML/JSON data (see :func:`load_measurement_policy`)."""
    if not isinstance(data, dict):
        raise PolicyFileError(f"{source}: top level must be a mapping")
    unknown = sorted(str(k) for k in set(data) - {"pcrs", "allow_debug"})
    if unknown:
        raise PolicyFileError(f"{source}: unknown field(s) {', '.join(unknown)}")
    allow_debug = data.get("allow_debug", False)
    if not isinstance(allow_debug, bool):
        raise PolicyFileError(f"{source}: allow_debug must be true or false")
    pcrs = data.get("pcrs")
    if not isinstance(pcrs, dict) or not pcrs:
        raise PolicyFileError(f"{source}: pcrs must be a non-empty mapping of PCR index to allowed values")
    checks: list[AttestationPolicy] = [] if allow_debug else [NotDebugMode()]
    for index, values in pcrs.items():
        where = f"{source}: pcrs.{index}"
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise PolicyFileError(f"{where} must be a list of hex strings")
        try:
            checks.append(PcrAllowlist(_index(index), values))
        except ValueError as exc:
            raise PolicyFileError(f"{where}: {exc}") from None
    return AllOf(checks)


def _index(key: Any) -> int:
    if type(key) is int:
        return key
    if isinstance(key, str) and key.removeprefix("PCR").isdigit():
        return int(key.removeprefix("PCR"))
    raise ValueError(f"PCR index {key!r} is not an integer")


def _pcr_bytes(value: str | bytes, index: int) -> bytes:
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip().lower()
        if len(text) not in PCR_HEX_LENGTHS:
            raise ValueError(f"PCR{index} value must be {PCR_HEX_LENGTHS} hex digits, got {len(text)}")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"PCR{index} value is not hex") from None
    if len(raw) * 2 not in PCR_HEX_LENGTHS:
        raise ValueError(f"PCR{index} value must be 32, 48 or 64 bytes")
    return raw
