"""Transform operators of the policy language: their YAML shapes and how each one rewrites a value.

A policy names an operator per entity type (free text) or per field path (structured records)::

    PERSON: pseudonym                       # a bare string is an operator without parameters
    EMAIL_ADDRESS: {type: hash, key: pii-hmac, length: 16}
    CREDIT_CARD: {type: mask, keep_first: 6, keep_last: 4, only_digits: true}
    US_SSN: {type: tokenize, key: tokens}
    DATE_TIME: {type: date_shift, key: pii-hmac, max_days: 180}
    ZIP_CODE: {type: generalize, to: zip3}

Every operator fails closed: input it cannot handle (an unparseable date, a non-numeric age, a malformed
ZIP) becomes a typed placeholder such as ``<DATE_TIME>``; the original is never passed through by
accident. Keyed operators (``hash``, ``tokenize``, ``date_shift``) name a key from the policy's
``keys`` section and use their own HKDF subkey of it (see :mod:`redactline.policies.keys`).
Errors (:class:`OperatorError`) never quote the value being transformed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Annotated, Any, Literal, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, field_validator

from redactline.policies.keys import Key

#: Operators that act on a whole structured field; the engine handles them, never apply_operator.
FIELD_ONLY = frozenset({"inspect", "drop_field"})

#: Entity labels usable in token surrogates (``LABEL_TOK(...)``).
LABEL_PATTERN = re.compile(r"[A-Z][A-Z0-9_]*")

#: Finds token surrogates in free text. Group 1 is the label, group 2 the base32 payload.
TOKEN_PATTERN = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]*)_TOK\(([a-z2-7]+)\)")

#: 3-digit ZIP prefixes whose areas held 20,000 people or fewer in the 2000 Census; HIPAA Safe Harbor
#: (45 CFR 164.514(b)(2)(i)(B), HHS de-identification guidance) requires them to be reported as "000".
RESTRICTED_ZIP3 = frozenset(
    {
        "036", "059", "063", "102", "203", "556", "692", "790", "821",
        "823", "830", "831", "878", "879", "884", "890", "893",
    }
)  # fmt: skip

# Associated data prefix for tokens: versions the token format and separates it from any other use.
_TOKEN_AD = b"redactline-token-v1"


class OperatorError(ValueError):
    """An operator cannot be applied (unknown key, field-only operator, bad label). Never quotes values."""


# --- operator specs ---------------------------------------------------------------------------------


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: str | None = Field(
        None,
        pattern="^" + LABEL_PATTERN.pattern + "$",
        description="fields only: the entity type the field holds (PERSON, EMAIL_ADDRESS...); the field's "
        "placeholders, pseudonyms and tokens then carry that type, so the same person gets the same "
        "pseudonym in this column and in free text of the record. Without it: the field's name, upper-cased",
    )


class KeepOp(_Op):
    """Leave the value as it is.

    On a field, ``keep`` applies to that exact path: when its value is a mapping or a list, the scalars
    below are still inspected unless ``keep_subtree`` says to keep them too.
    """

    type: Literal["keep"] = "keep"
    keep_subtree: bool = Field(
        False, description="fields only: also keep every scalar below a mapping or list value (a loosening)"
    )


class RedactOp(_Op):
    """Remove the value (empty string), like Presidio's ``redact``."""

    type: Literal["redact"] = "redact"


class ReplaceOp(_Op):
    """Replace the value with ``new_value``, by default ``<ENTITY_TYPE>``."""

    type: Literal["replace"] = "replace"
    new_value: str | None = None


class MaskOp(_Op):
    """Overwrite characters with ``char``.

    Maskable positions are all characters, or only digits when ``only_digits`` (separators stay).
    The first ``keep_first`` and last ``keep_last`` maskable positions stay visible; of the rest,
    ``count`` positions are masked (all when None), counted from the end when ``from_end``.
    If the kept positions would cover every maskable position, everything maskable is masked
    instead (fail closed: a short value is never shown whole).
    """

    type: Literal["mask"] = "mask"
    char: str = Field("*", min_length=1, max_length=1)
    count: int | None = Field(None, ge=1)
    from_end: bool = False
    keep_first: int = Field(0, ge=0)
    keep_last: int = Field(0, ge=0)
    only_digits: bool = False


class HashOp(_Op):
    """Keyed HMAC-SHA256 of the value (NFC-normalized UTF-8), truncated to ``length`` hex digits.

    ``format`` may use ``{entity_type}`` and must use ``{hash}``. The hash does not depend on the
    entity type, so the same value joins across fields and types under one key.
    """

    type: Literal["hash"] = "hash"
    key: str = Field(min_length=1)
    length: int = Field(16, ge=8, le=64)
    format: str = "<{entity_type}:{hash}>"

    @field_validator("format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        try:
            names = {name for _, name, spec, conv in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"invalid format string: {exc}") from None
        if "hash" not in names:
            raise ValueError("format must contain {hash}")
        if not names <= {"hash", "entity_type"}:
            raise ValueError("format may only use {hash} and {entity_type}")
        return value

    @property
    def key_name(self) -> str:
        """Name of the policy key; the engine records that key's ``key_id``."""
        return self.key


class TokenizeOp(_Op):
    """Deterministic, reversible, authenticated surrogate ``LABEL_TOK(<base32>)`` (AES-SIV).

    The label (default: the entity type) is authenticated as associated data, so a token of one type
    cannot be passed off as another. Reverse with :func:`detokenize_text`.
    """

    type: Literal["tokenize"] = "tokenize"
    key: str = Field(min_length=1)
    label: str | None = Field(None, pattern="^" + LABEL_PATTERN.pattern + "$")

    @property
    def key_name(self) -> str:
        """Name of the policy key."""
        return self.key


class PseudonymOp(_Op):
    """Consistent placeholders per record: ``<PERSON_1>``, ``<PERSON_2>``... (see :class:`RecordContext`)."""

    type: Literal["pseudonym"] = "pseudonym"


class DateShiftOp(_Op):
    """Shift a date by a keyed, per-subject number of days in [-max_days, max_days] \\ {0}.

    The output keeps the input's format. ``day_first`` reads ``03/04/2021`` as 3 April instead of
    March 4. Unparseable input becomes ``<DATE_TIME>``.
    """

    type: Literal["date_shift"] = "date_shift"
    key: str = Field(min_length=1)
    max_days: int = Field(365, ge=1, le=36500)
    day_first: bool = False

    @property
    def key_name(self) -> str:
        """Name of the policy key."""
        return self.key


class GeneralizeOp(_Op):
    """Coarsen a value: ``zip3`` (HIPAA restricted prefixes -> "000"), ``year``, ``age90`` (>= 90: "90+").

    ``zip3`` accepts 5-digit ZIPs and ZIP+4; anything else becomes ``<ZIP_CODE>``. ``year`` accepts the
    formats of :func:`parse_date` plus ``2021``, ``2021-03`` and ``March 2021``; anything else becomes
    ``<DATE_TIME>``. ``age90`` accepts a non-negative number below 1000; anything else becomes ``<AGE>``.
    """

    type: Literal["generalize"] = "generalize"
    to: Literal["zip3", "year", "age90"]
    day_first: bool = False


class InspectOp(_Op):
    """Field-level: run detection on the field as free text (the default for unnamed fields)."""

    type: Literal["inspect"] = "inspect"


class DropFieldOp(_Op):
    """Field-level: remove the field from the record."""

    type: Literal["drop_field"] = "drop_field"


AnyOperator = (
    KeepOp
    | RedactOp
    | ReplaceOp
    | MaskOp
    | HashOp
    | TokenizeOp
    | PseudonymOp
    | DateShiftOp
    | GeneralizeOp
    | InspectOp
    | DropFieldOp
)


def _bare_name_to_mapping(value: Any) -> Any:
    # `PERSON: redact` is shorthand for `PERSON: {type: redact}`.
    return {"type": value} if isinstance(value, str) else value


#: Pydantic field type for an operator: a mapping discriminated by ``type``, or a bare operator name.
OperatorSpec = Annotated[
    Annotated[AnyOperator, Field(discriminator="type")],
    BeforeValidator(_bare_name_to_mapping),
]

_OPERATOR_ADAPTER: TypeAdapter[Any] = TypeAdapter(OperatorSpec)


def parse_operator(obj: Any) -> OperatorSpec:
    """Validate a YAML operator (a bare name or a mapping with ``type``) into its spec model."""
    return _OPERATOR_ADAPTER.validate_python(obj)


def required_key(spec: OperatorSpec) -> str | None:
    """Name of the policy key ``spec`` needs, or None; for load-time checks."""
    return spec.key if isinstance(spec, HashOp | TokenizeOp | DateShiftOp) else None


# --- per-record state ---------------------------------------------------------------------------------


@dataclass(eq=False)
class RecordContext:
    """State shared by all operators while one record is redacted.

    ``subject`` selects the date shift (None: one policy-wide shift). The pseudonym table and the
    in-memory vault (placeholder -> original) stay out of ``repr`` and refuse to be pickled or copied:
    they hold PII and must never be serialized.
    """

    subject: str | None = None
    _placeholders: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _counters: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _vault: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def placeholder_for(self, entity_type: str, value: str) -> str:
        """Placeholder for (entity_type, value): the same pair gets the same one within this record."""
        lookup = (entity_type, unicodedata.normalize("NFC", value))
        existing = self._placeholders.get(lookup)
        if existing is not None:
            return existing
        number = self._counters.get(entity_type, 0) + 1
        self._counters[entity_type] = number
        placeholder = f"<{entity_type}_{number}>"
        self._placeholders[lookup] = placeholder
        self._vault[placeholder] = value
        return placeholder

    @property
    def vault(self) -> Mapping[str, str]:
        """Read-only view placeholder -> original value. In memory only."""
        return MappingProxyType(self._vault)

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("RecordContext holds original values and cannot be pickled or copied")


# --- apply ---------------------------------------------------------------------------------------------


def apply_operator(
    spec: OperatorSpec, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]
) -> str:
    """Transform ``value`` (detected as ``entity_type``) under ``spec``.

    Deterministic: the same spec, keys, context state and input give the same output.
    Raises :class:`OperatorError` for field-only operators and unknown key names.
    """
    if spec.type in FIELD_ONLY:
        raise OperatorError(f"operator {spec.type!r} applies to whole fields and is handled by the engine")
    handler = _HANDLERS[spec.type]
    return handler(spec, value, entity_type, ctx, keys)


def _key(spec: HashOp | TokenizeOp | DateShiftOp, keys: Mapping[str, Key]) -> Key:
    try:
        return keys[spec.key]
    except KeyError:
        raise OperatorError(
            f"operator {spec.type!r} references key {spec.key!r}, which is not among the resolved keys"
        ) from None


def _keep(spec: KeepOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]) -> str:
    return value


def _redact(spec: RedactOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]) -> str:
    return ""


def _replace(
    spec: ReplaceOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]
) -> str:
    return f"<{entity_type}>" if spec.new_value is None else spec.new_value


def _mask(spec: MaskOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]) -> str:
    chars = list(value)
    positions = (
        [i for i, ch in enumerate(chars) if ch.isdigit()] if spec.only_digits else list(range(len(chars)))
    )
    if spec.keep_first + spec.keep_last < len(positions):
        positions = positions[spec.keep_first : len(positions) - spec.keep_last]
    if spec.count is not None:
        positions = positions[-spec.count :] if spec.from_end else positions[: spec.count]
    for i in positions:
        chars[i] = spec.char
    return "".join(chars)


def _hash(spec: HashOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]) -> str:
    subkey = _key(spec, keys).derive("hmac")
    data = unicodedata.normalize("NFC", value).encode("utf-8")
    digest = hmac.new(subkey, data, hashlib.sha256).hexdigest()[: spec.length]
    return spec.format.format(entity_type=entity_type, hash=digest)


def _pseudonym(
    spec: PseudonymOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]
) -> str:
    return ctx.placeholder_for(entity_type, value)


# --- tokenize ------------------------------------------------------------------------------------------


def _siv(key: Key) -> AESSIV:
    # 64 bytes of subkey = AES-256-SIV.
    return AESSIV(key.derive("aes-siv", 64))


def _tokenize(
    spec: TokenizeOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]
) -> str:
    label = spec.label or entity_type
    if not LABEL_PATTERN.fullmatch(label):
        raise OperatorError(
            f"tokenize needs an upper-case label ([A-Z][A-Z0-9_]*); entity type {entity_type!r} is not one, "
            "set 'label'"
        )
    sealed = _siv(_key(spec, keys)).encrypt(value.encode("utf-8"), [_TOKEN_AD, label.encode("ascii")])
    payload = base64.b32encode(sealed).decode("ascii").rstrip("=").lower()
    return f"{label}_TOK({payload})"


@dataclass(frozen=True)
class DetokenizeResult:
    """Outcome of :func:`detokenize`: the text and how many surrogates were restored or rejected."""

    text: str = field(repr=False)
    restored: int
    rejected: int


def detokenize(text: str, keys: Mapping[str, Key], key_name: str) -> DetokenizeResult:
    """Restore every ``LABEL_TOK(...)`` surrogate in ``text`` made with key ``key_name``.

    A surrogate that fails to decode or authenticate (tampered, truncated, other key, other label)
    is left exactly as it is and counted in ``rejected``; it reveals nothing either way.
    """
    try:
        siv = _siv(keys[key_name])
    except KeyError:
        raise OperatorError(
            f"detokenize references key {key_name!r}, which is not among the resolved keys"
        ) from None
    restored = rejected = 0

    def restore(match: re.Match[str]) -> str:
        nonlocal restored, rejected
        label, payload = match.group(1), match.group(2)
        try:
            padded = payload.upper() + "=" * (-len(payload) % 8)
            plain = siv.decrypt(base64.b32decode(padded), [_TOKEN_AD, label.encode("ascii")])
            original = plain.decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag):
            rejected += 1
            return match.group(0)
        restored += 1
        return original

    return DetokenizeResult(TOKEN_PATTERN.sub(restore, text), restored, rejected)


def detokenize_text(text: str, keys: Mapping[str, Key], key_name: str, *, strict: bool = False) -> str:
    """Restore token surrogates in free text; see :func:`detokenize`.

    Surrogates that fail authentication are left as is, or, with ``strict``, raise
    :class:`OperatorError` (stating only how many failed).
    """
    result = detokenize(text, keys, key_name)
    if strict and result.rejected:
        raise OperatorError(f"{result.rejected} token surrogate(s) failed authentication")
    return result.text


# --- dates ---------------------------------------------------------------------------------------------

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")  # fmt: skip
_MONTH_BY_NAME = {name: i for i, name in enumerate(_MONTHS, start=1)} | {
    name[:3]: i for i, name in enumerate(_MONTHS, start=1)
}
_MONTH_BY_NAME["sept"] = 9
_MONTH_RE = r"(?P<month>[A-Za-z]+)(?P<dot>\.?)"
_DAY_RE = r"(?P<day>\d{1,2})(?P<ord>st|nd|rd|th)?"
_ISO_TIME_RE = r"(?P<tail>[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"


@dataclass(frozen=True)
class _ParsedDate:
    """A parsed date and a function that writes another date back in the same textual format."""

    value: date
    render: Callable[[date], str]


def _pad(number: int, like: str) -> str:
    # Keep the input's zero padding: "03" -> "05", "3" -> "5".
    return f"{number:0{len(like)}d}" if len(like) > 1 and like.startswith("0") else str(number)


def _numeric_pad(number: int, like: str) -> str:
    return f"{number:02d}" if len(like) == 2 else str(number)


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _month_name(month: int, like: str, dot: str) -> str:
    name = _MONTHS[month - 1]
    if like.lower() not in _MONTHS:  # abbreviated ("Mar", "Sept"); "May" and "June" are full names
        name = "sept" if like.lower() == "sept" and month == 9 else name[:3]
    if like.isupper() and len(like) > 1:
        name = name.upper()
    elif like[:1].isupper():
        name = name.capitalize()
    return name + dot


def _parse_numeric(value: str, day_first: bool) -> _ParsedDate | None:
    m = re.fullmatch(r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _ISO_TIME_RE, value)
    if m:
        y, mo, d, sep, tail = m["y"], m["m"], m["d"], m["sep"], m["tail"] or ""
        return _ParsedDate(
            date(int(y), int(mo), int(d)),
            lambda n: f"{n.year:04d}{sep}{_numeric_pad(n.month, mo)}{sep}{_numeric_pad(n.day, d)}{tail}",
        )
    m = re.fullmatch(r"(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})", value)
    if m:
        a, b, sep = m["a"], m["b"], m["sep"]
        if day_first:
            return _ParsedDate(
                date(int(m["y"]), int(b), int(a)),
                lambda n: f"{_numeric_pad(n.day, a)}{sep}{_numeric_pad(n.month, b)}{sep}{n.year:04d}",
            )
        return _ParsedDate(
            date(int(m["y"]), int(a), int(b)),
            lambda n: f"{_numeric_pad(n.month, a)}{sep}{_numeric_pad(n.day, b)}{sep}{n.year:04d}",
        )
    return None


def _parse_named(value: str) -> _ParsedDate | None:
    m = re.fullmatch(_DAY_RE + r"(?P<s1>\s+)(?:of\s+)?" + _MONTH_RE + r"(?P<s2>,?\s+)(?P<y>\d{4})", value)
    if m:  # 4 March 2021
        month = _MONTH_BY_NAME.get(m["month"].lower())
        if month is None:
            return None
        day, mon, dot, s1, s2, ord_ = m["day"], m["month"], m["dot"], m["s1"], m["s2"], m["ord"]
        of = value[m.end("s1") : m.start("month")]
        return _ParsedDate(
            date(int(m["y"]), month, int(day)),
            lambda n: (
                f"{_pad(n.day, day)}{_ordinal(n.day) if ord_ else ''}{s1}{of}"
                f"{_month_name(n.month, mon, dot)}{s2}{n.year:04d}"
            ),
        )
    m = re.fullmatch(_MONTH_RE + r"(?P<s1>\s+)" + _DAY_RE + r"(?P<s2>,?\s+)(?P<y>\d{4})", value)
    if m:  # March 4, 2021
        month = _MONTH_BY_NAME.get(m["month"].lower())
        if month is None:
            return None
        day, mon, dot, s1, s2, ord_ = m["day"], m["month"], m["dot"], m["s1"], m["s2"], m["ord"]
        return _ParsedDate(
            date(int(m["y"]), month, int(day)),
            lambda n: (
                f"{_month_name(n.month, mon, dot)}{s1}{_pad(n.day, day)}"
                f"{_ordinal(n.day) if ord_ else ''}{s2}{n.year:04d}"
            ),
        )
    return None


def parse_date(value: str, *, day_first: bool = False) -> _ParsedDate | None:
    """Parse the supported date formats; None when the value is not one of them or not a real date.

    Supported: ``2021-03-04`` (optionally with an ISO time after it), ``2021/03/04``, ``03/04/2021``
    (month first unless ``day_first``), ``4 March 2021``, ``March 4, 2021``, with abbreviated month
    names and ordinal days (``4th``). Two-digit years are not accepted (the century is unknowable).
    """
    try:
        return _parse_numeric(value, day_first) or _parse_named(value)
    except ValueError:  # e.g. 2021-02-30
        return None


def _strip(value: str) -> tuple[str, str, str]:
    core = value.strip()
    if not core:
        return value, "", ""
    start = value.index(core)
    return value[:start], core, value[start + len(core) :]


def date_shift_days(key: Key, subject: str | None, max_days: int) -> int:
    """Days to shift ``subject``'s dates by: keyed, deterministic, in [-max_days, max_days], never 0."""
    # Distinct prefixes keep the policy-wide shift (None) apart from a subject named "".
    message = b"\x00policy" if subject is None else b"\x01" + subject.encode("utf-8")
    digest = hmac.new(key.derive("date-shift"), message, hashlib.sha256).digest()
    r = int.from_bytes(digest[:8], "big") % (2 * max_days)  # 64 bits: modulo bias is negligible
    return r - max_days if r < max_days else r - max_days + 1


def _date_shift(
    spec: DateShiftOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]
) -> str:
    key = _key(spec, keys)
    lead, core, trail = _strip(value)
    parsed = parse_date(core, day_first=spec.day_first)
    if parsed is None:
        return "<DATE_TIME>"
    try:
        shifted = parsed.value + timedelta(days=date_shift_days(key, ctx.subject, spec.max_days))
    except OverflowError:
        return "<DATE_TIME>"
    return f"{lead}{parsed.render(shifted)}{trail}"


# --- generalize ----------------------------------------------------------------------------------------

_ZIP_RE = re.compile(r"(?P<zip3>[0-9]{3})[0-9]{2}(?:[- ]?[0-9]{4})?")
# Partial dates that still name a year: "2021", "2021-03", "March 2021".
_YEAR_ONLY_RE = re.compile(r"(?P<y>[0-9]{4})(?:[-/.][0-9]{1,2})?|[A-Za-z]+\.?,?\s+(?P<y2>[0-9]{4})")
_AGE_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]+)?")


def _year_of(core: str, day_first: bool) -> str | None:
    parsed = parse_date(core, day_first=day_first)
    if parsed is not None:
        return f"{parsed.value.year:04d}"
    m = _YEAR_ONLY_RE.fullmatch(core)
    if m is None:
        return None
    if m["y2"] is not None:
        word = core.split()[0].rstrip(".,").lower()
        return m["y2"] if word in _MONTH_BY_NAME else None
    month = core[5:] if len(core) > 4 else None
    if month is not None and not 1 <= int(month) <= 12:
        return None
    return m["y"]


def _generalize(
    spec: GeneralizeOp, value: str, entity_type: str, ctx: RecordContext, keys: Mapping[str, Key]
) -> str:
    _, core, _ = _strip(value)
    if spec.to == "zip3":
        m = _ZIP_RE.fullmatch(core)
        if m is None:
            return "<ZIP_CODE>"
        return "000" if m["zip3"] in RESTRICTED_ZIP3 else m["zip3"]
    if spec.to == "year":
        year = _year_of(core, spec.day_first)
        return "<DATE_TIME>" if year is None else year
    # age90: Safe Harbor aggregates ages over 89 into one category.
    if _AGE_RE.fullmatch(core) is None:
        return "<AGE>"
    return "90+" if float(core) >= 90 else core


_HANDLERS: dict[str, Callable[..., str]] = {
    "keep": _keep,
    "redact": _redact,
    "replace": _replace,
    "mask": _mask,
    "hash": _hash,
    "tokenize": _tokenize,
    "pseudonym": _pseudonym,
    "date_shift": _date_shift,
    "generalize": _generalize,
}
