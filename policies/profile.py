"""Column profiling: which fields of a structured source carry one entity type, from a sample of records.

A lone value in a cell gives NER little to go on ("Ada Quist" alone is often not a PERSON), so a field
that holds names in every row leaks the ones per-cell detection misses. The profile classifies each
field the policy does not name from two kinds of evidence:

* **header hints**: the field's name, normalised (case, ``_``/``-``/``.``/camelCase separators, common
  abbreviations), matched against :data:`HINTS`; the longest matching phrase wins, then the rightmost
  (English puts the head noun last: ``customer_email`` is an email). A word of :data:`VOIDING` anywhere
  in the name (``customer_id``, ``email_verified``) cancels the hint;
* **value evidence**: for each sampled non-empty value (the first :data:`EVIDENCE_VALUES` distinct ones
  per field), the entity types the policy's engine finds covering most of it (:data:`COVERAGE`);
  ``share`` is the fraction of those values where that happens.

Each field gets one :class:`FieldProfile` decision:

* ``entity`` - every value carries entity type T: the run applies T's operator from the policy's
  ``transforms.entities`` (or its ``default``) to the whole field, even where per-cell detection finds
  nothing. A hint is taken when values agree (share >= :data:`HINT_SHARE`) or do not contradict it
  (hint only, values not free text); without a hint the values must agree strongly (share >=
  :data:`VALUE_SHARE`) and a code-like field never becomes a NER type (PERSON, ORGANIZATION, ...);
* ``free_text`` - long or mixed values: the field stays inspected as text;
* ``code`` - identifier-like values (``T-100000``, ``DE``): stays inspected (see the note on
  :data:`CODE_VALUE`);
* ``empty`` - no non-empty value in the sample: stays inspected.

Fields the policy names in ``transforms.fields`` (the path or a parent) are not profiled: the policy
wins. Everything is deterministic for a given sample (no randomness, ties broken by hint, then share,
then type name) and holds no values: a :class:`Profile` is safe to pickle into a job and to write into a
manifest. :meth:`Profile.fields_yaml` prints the ``transforms.fields`` block to paste into the policy,
which makes the profile reviewable in a pull request and pins it.

Extending the hints: add phrases (space-separated normalised words) to :data:`HINTS`, abbreviations to
:data:`ABBREVIATIONS`; other languages' header words go into the same tables (e.g. ``"nachname":
"PERSON"``, ``"telefono": "PHONE_NUMBER"``), or pass ``hints=`` to :func:`profile_records`.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import PolicySource, RedactionEngine
    from .policy import Policy
    from .schema import Transforms

DEFAULT_SAMPLE = 200  # records read from the start of the source
COVERAGE = 0.5  # a type "matches" a value when its spans cover more than this share of its characters
HINT_SHARE = 0.3  # a hinted type is confirmed by values at this share
VALUE_SHARE = 0.8  # without a hint, the values alone must agree this much
FREE_TEXT_WORDS = 8  # median words per value from which a field reads as free text
CODE_SHARE = 0.9  # share of code-like values that makes a field code-like
#: Values per field the engine analyses (the first distinct ones of the sample): the shares are estimated
#: from them (a share's standard error is at most 0.08 at 40 values; the thresholds above are 0.3 and 0.8),
#: while the shape checks (free text, code-like) see every sampled value. This keeps profiling a small
#: part of a run: analysis is most of its cost (64 values: 5.4% of a 3000-row run's CPU, 40: see README).
EVIDENCE_VALUES = 40
NER_TYPES = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "NRP", "DATE_TIME"})

#: An identifier or code: no spaces, upper-case letters and digits with separators, at least one letter
#: ("T-100000", "DE", "INV/2024/0042"). Such a field stays inspected. Keeping NER from labelling its
#: values PERSON/ORGANIZATION needs an engine hook (an inspect rule that excludes entity types); until
#: the engine has one, ``code`` only explains the field and guards it from a NER-type whole-field rule.
CODE_VALUE = re.compile(r"(?=[^a-z]*[A-Z])[A-Z0-9]+(?:[-_/.:#][A-Z0-9]+)*")
_CODE_MAX_LEN = 24

#: Normalised header phrase -> entity type (None: explicitly no hint, e.g. "product name").
HINTS: dict[str, str | None] = {
    # people
    "name": "PERSON", "full name": "PERSON", "first name": "PERSON", "last name": "PERSON",
    "given name": "PERSON", "family name": "PERSON", "middle name": "PERSON", "surname": "PERSON",
    "forename": "PERSON", "customer": "PERSON", "customer name": "PERSON", "contact name": "PERSON",
    "person": "PERSON", "patient": "PERSON", "patient name": "PERSON", "employee name": "PERSON",
    "card holder": "PERSON", "account holder": "PERSON", "holder name": "PERSON", "requester": "PERSON",
    "recipient": "PERSON", "sender name": "PERSON", "assignee": "PERSON",
    # names that are not people
    "company name": "ORGANIZATION", "organization name": "ORGANIZATION", "employer": "ORGANIZATION",
    "company": "ORGANIZATION", "product name": None, "file name": None, "host name": None,
    "user name": None, "display name": None, "app name": None, "project name": None, "team name": None,
    "item name": None, "field name": None, "brand name": None,
    # contacts
    "email": "EMAIL_ADDRESS", "email address": "EMAIL_ADDRESS", "mail": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER", "phone number": "PHONE_NUMBER", "telephone": "PHONE_NUMBER",
    "mobile": "PHONE_NUMBER", "cell": "PHONE_NUMBER", "fax": "PHONE_NUMBER", "msisdn": "PHONE_NUMBER",
    "contact number": "PHONE_NUMBER",
    # identifiers
    "ssn": "US_SSN", "social security": "US_SSN", "social security number": "US_SSN",
    "iban": "IBAN_CODE", "card": "CREDIT_CARD", "card number": "CREDIT_CARD", "credit card": "CREDIT_CARD",
    "pan": "CREDIT_CARD", "passport": "US_PASSPORT", "passport number": "US_PASSPORT",
    "driver license": "US_DRIVER_LICENSE", "drivers license": "US_DRIVER_LICENSE",
    "driving licence": "US_DRIVER_LICENSE", "ip": "IP_ADDRESS", "ip address": "IP_ADDRESS",
    # places
    "address": "STREET_ADDRESS", "street": "STREET_ADDRESS", "street address": "STREET_ADDRESS",
    "address line": "STREET_ADDRESS", "home address": "STREET_ADDRESS", "city": "LOCATION",
    "town": "LOCATION", "city name": "LOCATION", "street name": "STREET_ADDRESS",
    "zip": "ZIP_CODE", "zip code": "ZIP_CODE", "postcode": "ZIP_CODE", "postal code": "ZIP_CODE",
    "post code": "ZIP_CODE", "plz": "ZIP_CODE",
    # dates of birth
    "dob": "DATE_TIME", "birth": "DATE_TIME", "birthday": "DATE_TIME", "birth date": "DATE_TIME",
    "date of birth": "DATE_TIME",
}

#: Header words (after splitting) -> their normal form; may expand into several words.
ABBREVIATIONS: dict[str, str] = {
    "fname": "first name", "lname": "last name", "firstname": "first name", "lastname": "last name",
    "fullname": "full name", "givenname": "given name", "familyname": "family name", "cust": "customer",
    "nm": "name", "emailaddress": "email address", "addr": "address", "adr": "address",
    "tel": "telephone", "ph": "phone", "phonenumber": "phone number", "mob": "mobile",
    "cellphone": "cell", "zipcode": "zip code", "postalcode": "postal code", "dateofbirth": "date of birth",
    "birthdate": "birth date", "bday": "birthday", "ccn": "card number", "cc": "credit card",
    "cardnumber": "card number", "cardholder": "card holder", "ipaddress": "ip address",
    "streetaddress": "street address", "companyname": "company name", "username": "user name",
    "filename": "file name", "hostname": "host name", "socialsecuritynumber": "social security number",
}

#: Words that turn a hinted name into something else: an id, a flag, a type (``customer_id``).
VOIDING = frozenset({
    "id", "ids", "uuid", "guid", "key", "type", "status", "flag", "verified", "count", "format",
    "length", "hash", "hashed", "token", "tokenized", "masked", "valid", "opt", "consent", "domain",
    "provider", "country", "region", "method", "channel",
})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")


def header_words(path: str) -> list[str]:
    """The normalised words of a field path's last two names (``customer.name`` -> customer, name)."""
    names = [p for p in path.replace("[*]", "").split(".") if p][-2:]
    words: list[str] = []
    for name in names:
        for part in _SEPARATORS.split(_CAMEL.sub(" ", name)):
            part = part.lower()
            if part:
                words.extend(ABBREVIATIONS.get(part, part).split())
    # "e mail" / "e-mail" -> "email"
    joined = " ".join(words).replace("e mail", "email")
    return joined.split()


@dataclass(frozen=True)
class Hint:
    phrase: str  # the matched phrase, e.g. "customer name"
    entity_type: str | None  # None: the name says it is *not* a hinted kind


def match_hint(path: str, hints: Mapping[str, str | None] | None = None) -> Hint | None:
    """The hint a field's name gives: the longest matching phrase, then the rightmost; None if none
    matches or a :data:`VOIDING` word is present (the hint is then reported with entity_type None)."""
    table = HINTS if hints is None else hints
    words = header_words(path)
    best: tuple[int, int, str] | None = None
    for size in range(1, min(4, len(words)) + 1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start:start + size])
            if phrase in table and (best is None or (size, start) > best[:2]):
                best = (size, start, phrase)
    if best is None:
        return None
    phrase = best[2]
    voiding = [w for w in words if w in VOIDING]
    if voiding:
        return Hint(f"{phrase} ({voiding[0]})", None)
    return Hint(phrase, table[phrase])


# ---- the profile ---------------------------------------------------------------------------------

ENTITY, FREE_TEXT, CODE, EMPTY = "entity", "free_text", "code", "empty"


@dataclass(frozen=True)
class FieldProfile:
    """What the profile decided for one field path, and why. Never holds a value."""

    path: str  # field path pattern (``items[*].name``)
    decision: str  # entity | free_text | code | empty
    entity_type: str | None  # for ``entity``
    share: float  # share of sampled non-empty values where ``entity_type`` (or the top type) matched
    hint: str | None  # the matched header phrase
    hint_type: str | None
    sampled: int  # non-empty values in the sample
    reason: str
    analysed: int = 0  # distinct values the engine analysed for the share
    evidence: tuple[tuple[str, float], ...] = ()  # top types by share

    @property
    def whole_field(self) -> bool:
        """True when the run applies a whole-field rule. Also for a raw header a policy could not write
        ("Full Name", "tel.", "Card No."): the engine matches rules to the path as it walks the record,
        the same string built here, so the rule applies; the YAML printed for review quotes the key."""
        return self.decision == ENTITY and bool(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision, "entity_type": self.entity_type, "share": self.share,
            "hint": self.hint, "sampled": self.sampled, "analysed": self.analysed, "reason": self.reason,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class Profile:
    """The profile of a sample: per field decisions plus the fields the policy names (not profiled)."""

    sample_size: int  # the N asked for
    records: int  # records actually sampled
    fields: tuple[FieldProfile, ...]
    named_by_policy: tuple[str, ...] = ()
    source: str = ""  # a safe description of where the sample came from (no credentials)
    withheld_names: int = 0  # fields whose names hold PII: only counted (the engine renames them)

    def rules(self, transforms: Transforms) -> dict[str, Any]:
        """Whole-field rules for ``transforms.fields``: each entity field gets its type's operator.

        A type whose operator is ``keep`` or ``inspect`` gets no rule (a whole-field ``keep`` would also
        pass everything else in the field through): the field stays inspected.
        """
        out: dict[str, Any] = {}
        for fp in self.fields:
            if not fp.whole_field or fp.path in transforms.fields:
                continue
            spec = transforms.entities.get(fp.entity_type or "", transforms.default)
            if spec.type not in ("keep", "inspect"):
                # the field's values are that type: same pseudonyms as the type found in free text
                out[fp.path] = spec.model_copy(update={"entity": fp.entity_type}) if fp.entity_type else spec
        return out

    def digest(self, transforms: Transforms) -> str:
        """SHA-256 of the rules the profile adds (canonical JSON): names the profile in caches and the
        manifest."""
        rules = {path: spec.model_dump(mode="json") for path, spec in sorted(self.rules(transforms).items())}
        return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()

    def as_manifest(self, transforms: Transforms) -> dict[str, Any]:
        """The manifest's ``profile`` section: field -> decision, type, share, hint. No values."""
        rules = self.rules(transforms)
        return {
            "sample": self.sample_size,
            "records_sampled": self.records,
            "source": self.source,
            "rules_sha256": self.digest(transforms),
            "whole_field_rules": {path: spec.type for path, spec in sorted(rules.items())},
            "fields": {fp.path: fp.as_dict() for fp in self.fields},
            "named_by_policy": list(self.named_by_policy),
            "withheld_names": self.withheld_names,
        }

    def fields_yaml(self, transforms: Transforms) -> str:
        """The ``transforms.fields`` block to paste into the policy, one commented line per field."""
        rules = self.rules(transforms)
        lines = [
            f"# redactline policy profile: {self.records} record(s) sampled"
            + (f" from {self.source}" if self.source else ""),
            "# paste under `transforms:` (merge with fields the policy already names); review each line",
            "fields:",
        ]
        for fp in self.fields:
            why = f"{fp.decision}" + (f" {fp.entity_type}" if fp.entity_type else "") + f": {fp.reason}"
            if fp.path in rules:
                lines.append(f"  {_yaml_key(fp.path)}: {_yaml_operator(rules[fp.path])}  # {why}")
            else:
                lines.append(f"  # {fp.path}: inspected  # {why}")
        for path in self.named_by_policy:
            lines.append(f"  # {path}: named by the policy (not profiled)")
        if self.withheld_names:
            lines.append(f"  # {self.withheld_names} field(s) not shown: their names hold PII")
        return "\n".join(lines) + "\n"

    def text(self, transforms: Transforms) -> str:
        """A human table of the profile."""
        rules = self.rules(transforms)
        head = f"{'field':<24} {'decision':<10} {'entity type':<18} {'share':>6} {'n':>5}  hint / reason"
        lines = [f"profile of {self.records} record(s)" + (f" from {self.source}" if self.source else ""),
                 head, "-" * len(head)]
        for fp in self.fields:
            applied = f" -> {rules[fp.path].type}" if fp.path in rules else ""
            lines.append(
                f"{fp.path:<24} {fp.decision:<10} {fp.entity_type or '-':<18} {fp.share:>6.0%} "
                f"{fp.sampled:>5}  {fp.hint or '-'} / {fp.reason}{applied}"
            )
        for path in self.named_by_policy:
            lines.append(f"{path:<24} {'named':<10} {'-':<18} {'':>13}  the policy names it: not profiled")
        if self.withheld_names:
            lines.append(f"{self.withheld_names} field(s) not profiled and not shown: their names hold PII")
        return "\n".join(lines)


def _yaml_key(path: str) -> str:
    return path if re.fullmatch(r"[A-Za-z_][\w.-]*", path) else json.dumps(path)


def _yaml_operator(spec: Any) -> str:
    params = spec.model_dump(mode="json", exclude_defaults=True)
    params.pop("type", None)
    if not params:
        return spec.type
    inner = ", ".join(f"{k}: {json.dumps(v)}" for k, v in params.items())
    return f"{{type: {spec.type}, {inner}}}"


# ---- profiling -------------------------------------------------------------------------------------

Analyze = Callable[[list[str]], Sequence[Sequence[Any]]]  # texts -> results with entity_type/start/end


def _leaves(value: Any, path: str, out: dict[str, list[str]], names: dict[str, tuple[str, ...]],
            keys: tuple[str, ...] = ()) -> None:
    """Values by path, and the raw field names along each path (a name can itself be PII)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _leaves(v, f"{path}.{k}" if path else str(k), out, names, (*keys, str(k)))
    elif isinstance(value, list):
        for v in value:
            _leaves(v, f"{path}[*]", out, names, keys)
    elif value is not None and path:
        text = str(value).strip()
        slot = out.setdefault(path, [])
        names.setdefault(path, keys)
        if text:
            slot.append(text)


def _names_with_findings(names: Mapping[str, tuple[str, ...]], analyze: Analyze) -> set[str]:
    """Paths with a field name the engine finds an entity in: never profiled, never printed, and no rule
    is made under them (the engine renames such a field, so a rule under its raw name must not exist)."""
    distinct = sorted({key for keys in names.values() for key in keys})
    if not distinct:
        return set()
    flagged = {key for key, found in zip(distinct, analyze(distinct), strict=True) if found}
    return {path for path, keys in names.items() if flagged.intersection(keys)}


def named_by(path: str, fields: Mapping[str, Any]) -> bool:
    """True when the policy names ``path`` or one of its parents (the policy wins)."""
    pattern = path
    while pattern:
        if pattern in fields:
            return True
        cut = max(pattern.rfind("."), pattern.rfind("["))
        pattern = pattern[:cut] if cut > 0 else ""
    return False


def _coverage(text: str, results: Iterable[Any]) -> dict[str, float]:
    """Per entity type, the share of the value's non-space characters its spans cover."""
    covered: dict[str, set[int]] = {}
    for r in results:
        covered.setdefault(r.entity_type, set()).update(
            i for i in range(max(0, r.start), min(len(text), r.end)) if not text[i].isspace()
        )
    total = sum(1 for ch in text if not ch.isspace()) or 1
    return {t: len(idx) / total for t, idx in covered.items()}


def _is_code(text: str) -> bool:
    return len(text) <= _CODE_MAX_LEN and CODE_VALUE.fullmatch(text) is not None


@dataclass
class _Stats:
    values: list[str]
    shares: dict[str, float] = field(default_factory=dict)
    analysed: int = 0

    @property
    def median_words(self) -> float:
        return statistics.median(len(v.split()) for v in self.values) if self.values else 0.0

    @property
    def code_share(self) -> float:
        return sum(map(_is_code, self.values)) / len(self.values) if self.values else 0.0


def profile_records(
    records: Iterable[Mapping[str, Any]], analyze: Analyze, transforms: Transforms, *,
    sample: int = DEFAULT_SAMPLE, hints: Mapping[str, str | None] | None = None, source: str = "",
    evidence: int = EVIDENCE_VALUES, analyze_names: Analyze | None = None,
) -> Profile:
    """Profile the first ``sample`` of ``records`` (the caller chooses the order; the first N of the
    source for a run). ``analyze`` is the engine's ``analyze_texts``; only fields the policy does not
    name are analysed, at most ``evidence`` distinct values each, and an unhinted free-text field not at
    all (it stays inspected whatever its values hold). Field names go through ``analyze_names`` (default
    ``analyze``) first: a field whose name holds an entity is left out and only counted."""
    if sample < 1:
        raise ValueError("the sample must be at least 1 record")
    by_path: dict[str, list[str]] = {}
    names: dict[str, tuple[str, ...]] = {}
    count = 0
    for record in records:
        if count >= sample:
            break
        count += 1
        _leaves(record, "", by_path, names)
    withheld = _names_with_findings(names, analyze_names or analyze)
    for path in withheld:
        del by_path[path]
    named = tuple(sorted(p for p in by_path if named_by(p, transforms.fields)))
    stats = {p: _Stats(v) for p, v in by_path.items() if p not in named}
    found_hints = {p: match_hint(p, hints) for p in stats}
    wanted = [p for p, s in stats.items() if s.values and not (
        s.median_words >= FREE_TEXT_WORDS and (found_hints[p] is None or found_hints[p].entity_type is None))]
    chosen = {p: list(dict.fromkeys(stats[p].values))[:evidence] for p in wanted}
    distinct = sorted({v for values in chosen.values() for v in values})
    results = dict(zip(distinct, analyze(distinct), strict=True)) if distinct else {}
    for p in wanted:
        s = stats[p]
        keep = set(chosen[p])
        counted = [v for v in s.values if v in keep]  # repeated values keep their weight
        matched: Counter[str] = Counter()
        for value in counted:
            matched.update(t for t, c in _coverage(value, results[value]).items() if c > COVERAGE)
        s.shares = {t: round(n / len(counted), 4) for t, n in matched.items()}
        s.analysed = len(chosen[p])
    fields = tuple(_decide(p, stats[p], found_hints[p]) for p in sorted(stats))
    return Profile(sample_size=sample, records=count, fields=fields, named_by_policy=named, source=source,
                   withheld_names=len(withheld))


def _decide(path: str, s: _Stats, hint: Hint | None) -> FieldProfile:
    """One field's decision from its hint and value evidence (see the module docstring)."""
    hint_type = hint.entity_type if hint else None
    by_share = sorted(s.shares.items(), key=lambda kv: (-kv[1], kv[0] != hint_type, kv[0]))
    evidence = tuple(by_share[:3])
    top, top_share = by_share[0] if by_share else (None, 0.0)

    def out(decision: str, entity: str | None, share: float, reason: str) -> FieldProfile:
        return FieldProfile(path, decision, entity, share, hint.phrase if hint else None, hint_type,
                            len(s.values), reason, s.analysed, evidence)

    if not s.values:
        return out(EMPTY, None, 0.0, "no non-empty value in the sample")
    free_text = s.median_words >= FREE_TEXT_WORDS
    code_like = s.code_share >= CODE_SHARE
    if not s.analysed:
        return out(FREE_TEXT, None, 0.0, f"free text (median {s.median_words:g} words); not analysed")
    if hint_type is not None:
        share = s.shares.get(hint_type, 0.0)
        if share >= HINT_SHARE:
            return out(ENTITY, hint_type, share, f"hint {hint.phrase!r} and {share:.0%} of values agree")
        if top is not None and top_share >= VALUE_SHARE and not (code_like and top in NER_TYPES):
            return out(ENTITY, top, top_share,
                       f"values say {top} ({top_share:.0%}), not the hint's {hint_type} ({share:.0%})")
        if free_text:
            return out(FREE_TEXT, None, share, f"hint {hint.phrase!r} but values read as free text")
        return out(ENTITY, hint_type, share, f"hint {hint.phrase!r} only ({share:.0%} of values agree)")
    if top is not None and top_share >= VALUE_SHARE and not free_text:
        if code_like and top in NER_TYPES:
            return out(CODE, None, top_share, f"identifier-like values ({s.code_share:.0%}); "
                       f"{top} on {top_share:.0%} of them is not taken (no hint)")
        return out(ENTITY, top, top_share, f"no hint; {top_share:.0%} of values are {top}")
    if code_like:
        return out(CODE, None, top_share, f"identifier-like values ({s.code_share:.0%}): inspected")
    if hint is not None:
        return out(FREE_TEXT, None, top_share, f"name {hint.phrase!r} is not a hint: inspected")
    return out(FREE_TEXT, None, top_share,
               f"no hint; no type dominates ({top or 'none'} {top_share:.0%}): inspected")


# ---- applying a profile --------------------------------------------------------------------------


class ProfiledPolicy:
    """A policy as the engine sees it with a profile's whole-field rules added to ``transforms.fields``.

    The policy's own field rules win; everything else (identity, keys, residency) is the policy's.
    """

    def __init__(self, policy: Policy | PolicySource, profile: Profile) -> None:
        self._policy = policy
        self.profile = profile
        transforms = policy.document.transforms
        fields = {**profile.rules(transforms), **transforms.fields}
        self.document = policy.document.model_copy(
            update={"transforms": transforms.model_copy(update={"fields": fields})}
        )

    @property
    def name(self) -> str:
        return self._policy.name

    def __getattr__(self, item: str) -> Any:
        return getattr(self._policy, item)


def profiled_engine(policy: Policy, profile: Profile | None, analyzer: Any = None) -> RedactionEngine:
    """The policy's engine with ``profile``'s whole-field rules (the plain engine when None), on
    ``analyzer`` when one built for this policy's detection is given (it holds the loaded spaCy model)."""
    from .engine import RedactionEngine, build_analyzer

    source = policy if profile is None else ProfiledPolicy(policy, profile)
    return RedactionEngine(source, analyzer or build_analyzer(policy.document.detection), policy.keys)
