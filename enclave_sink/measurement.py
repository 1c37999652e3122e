"""Measurement policy: small composable checks over a :class:`~.verified.VerifiedAttestation`.

Modelled on sigstore-python's verification policies: one check per class, each with
``verify(doc) -> None`` that raises :class:`MeasurementError` naming what failed, and the combinators
:class:`AllOf` / :class:`AnyOf`. A YAML file maps PCR indexes to allowlists::

    # pcrs.yaml
    pcrs:
      0: ["<96 hex chars>", ...]   # enclave image
      8: ["<96 hex chars>"]        # signing certificate

SEV-SNP and TDX evidence is checked the same way through named measurements, and one file can hold
an allowlist per TEE type (the evidence must match the entry of its own type)::

    tees:
      nitro:   {pcrs: {0: ["<96 hex>"]}}
      sev-snp: {measurements: {MEASUREMENT: ["<96 hex>"]}, minimum_tcb: {snp: 8}}
      tdx:     {measurements: {MRTD: ["<96 hex>"], RTMR0: ["<96 hex>"]},
                tcb_status: [UpToDate, SWHardeningNeeded]}

Empty allowlists, empty combinators and policies without any PCR are refused at construction: an
empty allowlist would otherwise read as "allow nothing" in one place and "allow anything" in another.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from redactline.policies.bounded_io import KIB, BoundedReadError, read_bounded_text
from redactline.policies.safe_yaml import safe_load

from .errors import MeasurementError
from .verified import TEE_NITRO, TEE_TYPES, AttestationPolicy, VerifiedAttestation

__all__ = [
    "AllOf",
    "AnyOf",
    "ExpectedNonce",
    "ExpectedPublicKey",
    "ExpectedReportData",
    "ExpectedUserData",
    "MeasurementAllowlist",
    "MeasurementError",
    "MinimumTcb",
    "NotDebugMode",
    "PcrAllowlist",
    "TcbStatusAllowlist",
    "TeeIs",
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



def _check_allowlisted(actual: bytes, allowed: Sequence[bytes], label: str) -> None:
    """``actual`` must equal one allowed value. Constant-time per comparison; the allowlist is public,
    so stopping at a match is fine."""
    if not any(hmac.compare_digest(actual, value) for value in allowed):
        expected = ", ".join(short_hex(a) for a in allowed)
        raise MeasurementError(f"{label} {short_hex(actual)} is not in the allowlist [{expected}]")

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
        TeeIs(TEE_NITRO).verify(doc)  # PCRs are a Nitro notion
        actual = doc.pcrs.get(self.index)
        if actual is None:
            raise MeasurementError(f"PCR{self.index} is absent from the document")
        _check_allowlisted(actual, self.allowed, f"PCR{self.index}")

    def __repr__(self) -> str:
        return f"PcrAllowlist({self.index}, {len(self.allowed)} value(s))"


class NotDebugMode:
    """Refuse debuggable guests (Nitro PCR0-2 all zero, SNP policy DEBUG bit, TDX DEBUG attribute)."""

    def verify(self, doc: VerifiedAttestation) -> None:
        if doc.is_debug:
            what = {
                TEE_NITRO: "PCR0-2 are all zero",
                "sev-snp": "guest policy bit 19 DEBUG is set",
                "tdx": "TD attribute DEBUG is set",
            }.get(doc.tee, "debug flag set")
            raise MeasurementError(
                f"debug: the {doc.tee} guest runs in debug mode ({what}); refused unless allowed"
            )


class TeeIs:
    """The evidence must come from TEE type ``tee`` (``nitro``, ``sev-snp`` or ``tdx``)."""

    def __init__(self, tee: str) -> None:
        if tee not in TEE_TYPES:
            raise ValueError(f"TEE type must be one of {TEE_TYPES}, got {tee!r}")
        self.tee = tee

    def verify(self, doc: VerifiedAttestation) -> None:
        if doc.tee != self.tee:
            raise MeasurementError(f"tee: evidence is {doc.tee}, expected {self.tee}")


class MeasurementAllowlist:
    """Named measurement ``name`` of a ``tee`` evidence must equal one of ``allowed`` (hex or bytes).

    Names are the keys of :attr:`VerifiedAttestation.measurements`: ``PCR0``.. (Nitro), ``MEASUREMENT``,
    ``HOST_DATA``, ``ID_KEY_DIGEST``, ``AUTHOR_KEY_DIGEST``.. (SEV-SNP), ``MRTD``, ``RTMR0``..``RTMR3``,
    ``MRCONFIGID``, ``MROWNER``.. (TDX).
    """

    def __init__(self, tee: str, name: str, allowed: Iterable[str | bytes]) -> None:
        TeeIs(tee)
        if not isinstance(name, str) or not name:
            raise ValueError("measurement name must be a non-empty string")
        values = tuple(_hex_bytes(v, name) for v in allowed)
        if not values:
            raise ValueError(f"{name} allowlist is empty; an empty allowlist is never valid")
        self.tee, self.name, self.allowed = tee, name, values

    def verify(self, doc: VerifiedAttestation) -> None:
        TeeIs(self.tee).verify(doc)
        actual = doc.measurements.get(self.name)
        if actual is None:
            raise MeasurementError(f"measurement: {self.name} is absent from the {doc.tee} evidence")
        _check_allowlisted(actual, self.allowed, f"measurement: {self.name}")

    def __repr__(self) -> str:
        return f"MeasurementAllowlist({self.tee}, {self.name}, {len(self.allowed)} value(s))"


class MinimumTcb:
    """Each named TCB component SVN must be at least its minimum (SNP: REPORTED_TCB; TDX: TEE_TCB_SVN).

    SEV-SNP names: ``bootloader``, ``tee``, ``snp``, ``microcode`` (``fmc`` on Turin). TDX: ``tee_tcb_svn``
    component indexes as ``"0"``..``"15"`` and ``pce_svn``.
    """

    def __init__(self, tee: str, minimum: Mapping[str, int]) -> None:
        TeeIs(tee)
        if not minimum or not all(type(v) is int and v >= 0 for v in minimum.values()):
            raise ValueError("minimum TCB must map component names to non-negative integers")
        self.tee, self.minimum = tee, dict(minimum)

    def verify(self, doc: VerifiedAttestation) -> None:
        TeeIs(self.tee).verify(doc)
        actual = doc.tcb.get("reported_tcb") or {}
        for name, floor in self.minimum.items():
            value = actual.get(str(name))
            if value is None:
                raise MeasurementError(f"minimum TCB: component {name!r} is not reported")
            if value < floor:
                raise MeasurementError(f"minimum TCB: {name} SVN {value} is below the minimum {floor}")


class TcbStatusAllowlist:
    """The TCB status (TDX: from the TCB-info and QE-identity collateral) must be one of ``allowed``."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = tuple(allowed)
        if not self.allowed:
            raise ValueError("TCB status allowlist is empty")

    def verify(self, doc: VerifiedAttestation) -> None:
        status = doc.tcb.get("tcb_status", "unknown")
        if status not in self.allowed:
            allowed = ", ".join(self.allowed)
            raise MeasurementError(f"tcb status: {status} is not allowed (allowed: {allowed})")


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


class ExpectedReportData(_ExpectedBytes):
    """The 64-byte ``report_data`` of an SNP report or TDX quote must equal ``expected``."""

    field_name = "report_data"


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
    """Build the policy from already-parsed YAML/JSON data (see :func:`load_measurement_policy`).

    Besides the Nitro form (``pcrs`` + ``allow_debug``), one TEE's allowlist can be given with ``tee``
    (``sev-snp`` or ``tdx``), ``measurements`` (name -> hex list), optional ``minimum_tcb`` (component
    -> SVN) and ``tcb_status`` (TDX); or several with ``tees: {<tee>: {...}, ...}`` (see the module doc).
    """
    if not isinstance(data, dict):
        raise PolicyFileError(f"{source}: top level must be a mapping")
    unknown = sorted(str(k) for k in set(data) - _TOP_FIELDS)
    if unknown:
        raise PolicyFileError(f"{source}: unknown field(s) {', '.join(unknown)}")
    allow_debug = data.get("allow_debug", False)
    if not isinstance(allow_debug, bool):
        raise PolicyFileError(f"{source}: allow_debug must be true or false")
    if "tees" not in data:
        entry = {k: v for k, v in data.items() if k != "allow_debug"}
        tee = entry.pop("tee", TEE_NITRO)
        return _tee_policy(tee, entry, source, allow_debug)
    if set(data) - {"tees", "allow_debug"}:
        raise PolicyFileError(f"{source}: tees cannot be combined with top-level allowlists")
    tees = data["tees"]
    if not isinstance(tees, dict) or not tees:
        raise PolicyFileError(f"{source}: tees must be a non-empty mapping of TEE type to its allowlist")
    per_tee = {}
    for tee, entry in tees.items():
        if not isinstance(entry, dict):
            raise PolicyFileError(f"{source}: tees.{tee} must be a mapping")
        per_tee[tee] = _tee_policy(tee, entry, f"{source}: tees.{tee}", allow_debug)
    return AllOf([PerTee(per_tee)])


_TOP_FIELDS = {"pcrs", "allow_debug", "tee", "measurements", "minimum_tcb", "tcb_status", "tees"}


class PerTee:
    """Applies the policy registered for the evidence's own TEE type; other types are refused."""

    def __init__(self, policies: Mapping[str, AttestationPolicy]) -> None:
        if not policies:
            raise ValueError("PerTee needs at least one TEE policy")
        self.policies = dict(policies)

    def verify(self, doc: VerifiedAttestation) -> None:
        policy = self.policies.get(doc.tee)
        if policy is None:
            covered = ", ".join(self.policies)
            raise MeasurementError(f"tee: no allowlist for {doc.tee} (the policy covers {covered})")
        policy.verify(doc)


def _tee_policy(tee: Any, entry: dict[Any, Any], where: str, allow_debug: bool) -> AllOf:
    if tee not in TEE_TYPES:
        raise PolicyFileError(f"{where}: tee must be one of {', '.join(TEE_TYPES)}")
    allowed = {"pcrs"} if tee == TEE_NITRO else {"measurements", "minimum_tcb", "tcb_status"}
    allowed.add("tee")
    extra = sorted(str(k) for k in set(entry) - allowed)
    if extra:
        raise PolicyFileError(f"{where}: field(s) {', '.join(extra)} do not apply to {tee}")
    checks: list[AttestationPolicy] = [] if allow_debug else [NotDebugMode()]
    if tee == TEE_NITRO:
        pcrs = entry.get("pcrs")
        if not isinstance(pcrs, dict) or not pcrs:
            raise PolicyFileError(f"{where}: pcrs must be a non-empty mapping of PCR index to allowed values")
        for index, values in pcrs.items():
            here = f"{where}: pcrs.{index}"
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise PolicyFileError(f"{here} must be a list of hex strings")
            try:
                checks.append(PcrAllowlist(_index(index), values))
            except ValueError as exc:
                raise PolicyFileError(f"{here}: {exc}") from None
        return AllOf(checks)
    checks.insert(0, TeeIs(tee))
    measurements = entry.get("measurements")
    if not isinstance(measurements, dict) or not measurements:
        raise PolicyFileError(f"{where}: measurements must be a non-empty mapping of name to allowed values")
    for name, values in measurements.items():
        here = f"{where}: measurements.{name}"
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise PolicyFileError(f"{here} must be a list of hex strings")
        try:
            checks.append(MeasurementAllowlist(tee, str(name), values))
        except ValueError as exc:
            raise PolicyFileError(f"{here}: {exc}") from None
    if "minimum_tcb" in entry:
        minimum = entry["minimum_tcb"]
        try:
            checks.append(MinimumTcb(tee, {str(k): v for k, v in minimum.items()}))
        except (AttributeError, ValueError) as exc:
            raise PolicyFileError(f"{where}: minimum_tcb: {exc}") from None
    if "tcb_status" in entry:
        statuses = entry["tcb_status"]
        if tee != "tdx" or not isinstance(statuses, list) or not all(isinstance(v, str) for v in statuses):
            raise PolicyFileError(f"{where}: tcb_status must be a list of TDX TCB statuses")
        try:
            checks.append(TcbStatusAllowlist(statuses))
        except ValueError as exc:
            raise PolicyFileError(f"{where}: {exc}") from None
    return AllOf(checks)


def _index(key: Any) -> int:
    if type(key) is int:
        return key
    if isinstance(key, str) and key.removeprefix("PCR").isdigit():
        return int(key.removeprefix("PCR"))
    raise ValueError(f"PCR index {key!r} is not an integer")


def _hex_bytes(value: str | bytes, name: str) -> bytes:
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.strip())
        except ValueError:
            raise ValueError(f"{name} value is not hex") from None
    if not 1 <= len(raw) <= 64:
        raise ValueError(f"{name} value must be 1..64 bytes")
    return raw


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
