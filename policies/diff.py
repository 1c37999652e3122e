"""``redactline policy diff``: what changed in a policy's *meaning*, classified for review.

Two resolved :class:`~redactline.policies.schema.PolicyDocument` objects are compared section by section,
so key order, comments and how ``extends`` splits a policy across files never show up. Every
difference becomes a :class:`Change` whose ``effect`` says whether the new policy exposes more
(``loosening``), less (``tightening``), or something a reviewer should look at without a clear
direction (``neutral``). Where a direction is ambiguous (two parameters moving opposite ways) the
change is classified as a loosening so that it is reviewed, never waved through.

:func:`render_markdown` turns the changes (and optionally before/after outputs on sample records from
:func:`sample_outputs`) into a comment for a pull request.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import regions
from .destinations import EXTERNAL_ONLY, DestinationConfig, EnclaveTaskConfig
from .operators import InspectOp, KeepOp, OperatorSpec
from .residency import ResidencyConfig, ResidencyRule
from .schema import SEMVER, Detection, PolicyDocument, RecognizerConfig, Transforms

if TYPE_CHECKING:
    from .engine import RedactionEngine
    from .policy import PolicyIdentity

Effect = Literal["loosening", "tightening", "neutral"]

#: How much of a value each operator lets through, weakest first. A change to a lower rank is a
#: loosening, to a higher rank a tightening; operators of equal rank are different, not weaker.
#:
#: * ``keep`` exposes the value.
#: * ``inspect`` (fields only) hands the field to detection: what detection misses passes through.
#: * ``mask`` shows part of the value (the kept positions, the length, the separators).
#: * ``generalize`` / ``date_shift`` keep a coarse or perturbed version of the value.
#: * ``pseudonym`` / ``tokenize`` hide the value but are reversible (in-memory vault / key).
#: * ``hash`` is a keyed one-way digest, still linkable across records under the same key.
#: * ``replace`` leaves only the entity type; ``redact`` leaves nothing.
#: * ``drop_field`` (fields only) removes even the field's presence.
OPERATOR_STRENGTH: dict[str, int] = {
    "keep": 0,
    "inspect": 1,
    "mask": 2,
    "generalize": 3,
    "date_shift": 3,
    "pseudonym": 4,
    "tokenize": 4,
    "hash": 5,
    "replace": 6,
    "redact": 7,
    "drop_field": 8,
}

SEMVER_SUBJECT = "semver"
_ICON = {"loosening": "⚠️ **loosening**", "tightening": "🔒 tightening", "neutral": "ℹ️ neutral"}  # noqa: RUF001
_ORDER = {"loosening": 0, "tightening": 1, "neutral": 2}
_MAX_LISTED = 8


@dataclass(frozen=True)
class Change:
    """One difference in meaning between two policies."""

    section: str
    subject: str
    before: str | None
    after: str | None
    effect: Effect
    note: str


@dataclass(frozen=True)
class SampleRow:
    """One sample redacted under the old and the new policy (JSON text for structured records).

    Never holds the sample itself: only the two outputs, the entity types each policy found and, for the
    Markdown, the original text of every finding (``exposed``) so that a value one policy keeps is masked.
    """

    index: int
    before: str
    after: str
    found_before: tuple[str, ...] = ()
    found_after: tuple[str, ...] = ()
    exposed: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def changed(self) -> bool:
        return self.before != self.after


# --- helpers --------------------------------------------------------------------------------------------


def _listing(items: Iterable[str]) -> str:
    items = sorted(items)
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _combine(parts: list[tuple[Effect, str]]) -> tuple[Effect, str]:
    """One effect for several part-changes: any loosening wins (review it), then any tightening."""
    effects = {effect for effect, _ in parts}
    note = "; ".join(note for _, note in parts)
    if "loosening" in effects:
        if "tightening" in effects:
            note = "mixed: " + note
        return "loosening", note
    if "tightening" in effects:
        return "tightening", note
    return "neutral", note


def describe_operator(spec: OperatorSpec) -> str:
    """Short text for an operator: ``keep``, ``mask(keep_last=4, only_digits=True)``."""
    params = spec.model_dump(exclude_defaults=True, exclude={"type"})
    if not params:
        return spec.type
    return f"{spec.type}({', '.join(f'{k}={v!r}' for k, v in sorted(params.items()))})"


# --- operators ------------------------------------------------------------------------------------------


def _mask_parts(old: Any, new: Any) -> list[tuple[Effect, str]]:
    parts: list[tuple[Effect, str]] = []
    for name in ("keep_first", "keep_last"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            effect: Effect = "loosening" if after > before else "tightening"
            parts.append(
                (
                    effect,
                    f"{name} {before} → {after}: {'more' if after > before else 'fewer'} "
                    "characters stay visible",
                )
            )
    if old.count != new.count:
        # None masks every maskable position, so it counts as infinitely many.
        before_n = float("inf") if old.count is None else old.count
        after_n = float("inf") if new.count is None else new.count
        effect = "loosening" if after_n < before_n else "tightening"
        parts.append(
            (
                effect,
                f"count {old.count or 'all'} → {new.count or 'all'}: "
                f"{'fewer' if after_n < before_n else 'more'} characters masked",
            )
        )
    if old.only_digits != new.only_digits:
        effect = "loosening" if new.only_digits else "tightening"
        parts.append((effect, "only digits are masked now" if new.only_digits else "letters are masked now"))
    if old.from_end != new.from_end:
        parts.append(("neutral", "masking now counts from the " + ("end" if new.from_end else "start")))
    if old.char != new.char:
        parts.append(("neutral", f"mask character {old.char!r} → {new.char!r}"))
    return parts


def _date_shift_parts(old: Any, new: Any) -> list[tuple[Effect, str]]:
    parts: list[tuple[Effect, str]] = []
    if old.max_days != new.max_days:
        effect: Effect = "loosening" if new.max_days < old.max_days else "tightening"
        parts.append(
            (
                effect,
                f"max_days {old.max_days} → {new.max_days}: shifted dates stay "
                f"{'closer to' if new.max_days < old.max_days else 'further from'} the real ones",
            )
        )
    if old.key != new.key:
        parts.append(("neutral", "different key: shifts differ from earlier outputs"))
    if old.day_first != new.day_first:
        parts.append(("neutral", "date parsing order changed (day_first)"))
    return parts


def _keyed_parts(old: Any, new: Any) -> list[tuple[Effect, str]]:
    """hash / tokenize: none of these parameters reveals more of the value under a secret key."""
    parts: list[tuple[Effect, str]] = []
    if getattr(old, "key", None) != getattr(new, "key", None):
        parts.append(("neutral", "different key: outputs no longer join with earlier ones"))
    if getattr(old, "length", None) != getattr(new, "length", None):
        parts.append(
            (
                "neutral",
                f"digest length {old.length} → {new.length}: a keyed digest reveals no "
                "more either way, but collisions change and outputs no longer join",
            )
        )
    for name in ("format", "label"):
        if getattr(old, name, None) != getattr(new, name, None):
            parts.append(("neutral", f"{name} changed: consumers parsing the output may break"))
    return parts


def _keep_parts(old: Any, new: Any) -> list[tuple[Effect, str]]:
    if old.keep_subtree == new.keep_subtree:
        return []
    if new.keep_subtree:
        return [("loosening", "keep_subtree: every value below is kept uninspected")]
    return [("tightening", "no keep_subtree: the values below are inspected")]


_PARAM_RULES: dict[str, Callable[[Any, Any], list[tuple[Effect, str]]]] = {
    "keep": _keep_parts,
    "mask": _mask_parts,
    "date_shift": _date_shift_parts,
    "hash": _keyed_parts,
    "tokenize": _keyed_parts,
}


def compare_operators(old: OperatorSpec, new: OperatorSpec) -> tuple[Effect, str] | None:
    """Classify a change of operator; None when both are the same operator with the same parameters."""
    if old == new:
        return None
    if old.type != new.type:
        before, after = OPERATOR_STRENGTH[old.type], OPERATOR_STRENGTH[new.type]
        if after < before:
            return "loosening", f"weaker operator: {old.type} → {new.type}"
        if after > before:
            return "tightening", f"stronger operator: {old.type} → {new.type}"
        return "neutral", f"different operator of similar strength: {old.type} → {new.type}"
    rule = _PARAM_RULES.get(old.type)
    parts = rule(old, new) if rule else []
    if not parts:
        parts = [("neutral", f"{old.type} parameters changed")]
    return _combine(parts)


def _field_prefixes(path: str) -> list[str]:
    """``a[*].b`` -> ``["a", "a[*]", "a[*].b"]``: the paths the engine passes on the way down."""
    cuts = [i for i, ch in enumerate(path) if ch in ".["] + [len(path)]
    return [path[:i] for i in cuts if i > 0]


def effective_field_operator(transforms: Transforms, path: str) -> OperatorSpec:
    """The operator the engine applies at ``path``: its own rule (rules apply to the exact path they
    name), else ``keep`` below a ``keep_subtree`` parent, else inspection; a ``drop_field`` parent makes
    the path moot (``drop_field``)."""
    prefixes = _field_prefixes(path)
    kept = False
    for prefix in prefixes[:-1]:
        rule = transforms.fields.get(prefix)
        if rule is None:
            continue
        if rule.type == "drop_field":
            return rule
        kept = rule.type == "keep" and rule.keep_subtree
    if path in transforms.fields:
        return transforms.fields[path]
    return KeepOp() if kept else InspectOp()


def _transforms_changes(old: Transforms, new: Transforms) -> list[Change]:
    changes: list[Change] = []

    def add(section: str, subject: str, before: OperatorSpec, after: OperatorSpec, why: str = "") -> None:
        verdict = compare_operators(before, after)
        if verdict is not None:
            effect, note = verdict
            changes.append(
                Change(
                    section, subject, describe_operator(before), describe_operator(after), effect, note + why
                )
            )

    add("transforms", "default (unlisted entity types)", old.default, new.default)
    for entity in sorted(set(old.entities) | set(new.entities)):
        before = old.entities.get(entity, old.default)
        after = new.entities.get(entity, new.default)
        why = ""
        if entity not in new.entities:
            why = " (no longer listed: falls back to the default)"
        elif entity not in old.entities:
            why = " (newly listed; was the default)"
        add("transforms.entities", entity, before, after, why)
    for path in sorted(set(old.fields) | set(new.fields)):
        add(
            "transforms.fields",
            path,
            effective_field_operator(old, path),
            effective_field_operator(new, path),
        )
    if old.field_names != new.field_names:
        quarantine = new.field_names == "quarantine"
        changes.append(
            Change(
                "transforms",
                "field_names",
                old.field_names,
                new.field_names,
                "tightening" if quarantine else "loosening",
                "records whose field names hold PII are quarantined"
                if quarantine
                else "records whose field names hold PII are delivered with placeholder names",
            )
        )
    if old.field_names_key != new.field_names_key:
        changes.append(
            Change(
                "transforms",
                "field_names_key",
                old.field_names_key,
                new.field_names_key,
                "neutral",
                "field-name placeholders change: outputs no longer join on such columns",
            )
        )
    if old.subject_field != new.subject_field:
        changes.append(
            Change(
                "transforms",
                "subject_field",
                old.subject_field,
                new.subject_field,
                "neutral",
                "date shifts are now keyed to a different subject",
            )
        )
    return changes


# --- detection ------------------------------------------------------------------------------------------


def _recognizer_active(detection: Detection, name: str, kind: str) -> bool:
    """Whether recognizer ``name`` runs: listed entries say so; an unlisted predefined one runs when
    ``use_predefined`` loads Presidio's defaults (approximation: assumes it is among them). The
    project's own text recognizers are never among them: they run only where a policy lists them."""
    from .text_recognizers import TEXT_RECOGNIZERS

    for config in detection.recognizers:
        if config.name == name:
            return config.enabled
    return kind == "predefined" and detection.use_predefined and name not in TEXT_RECOGNIZERS


def _recognizer_detail_changes(old: RecognizerConfig, new: RecognizerConfig) -> list[tuple[Effect, str]]:
    parts: list[tuple[Effect, str]] = []
    added = set(new.deny_list) - set(old.deny_list)
    removed = set(old.deny_list) - set(new.deny_list)
    if added:
        parts.append(("tightening", f"deny_list adds {_listing(added)}"))
    if removed:
        parts.append(("loosening", f"deny_list drops {_listing(removed)}"))
    if old.supported_entity != new.supported_entity:
        parts.append(
            (
                "neutral",
                f"entity type {old.supported_entity} → {new.supported_entity}: "
                "findings now get another operator",
            )
        )
    if old.patterns != new.patterns:
        parts.append(("neutral", "patterns changed (regex or score): check the inline tests"))
    if old.context != new.context:
        parts.append(("neutral", "context words changed: scores near them move"))
    if old.deny_list_score != new.deny_list_score:
        parts.append(("neutral", f"deny_list_score {old.deny_list_score} → {new.deny_list_score}"))
    if old.supported_language != new.supported_language or old.type != new.type:
        parts.append(("neutral", "language or recognizer type changed"))
    return parts


def _recognizer_changes(old: Detection, new: Detection) -> list[Change]:
    changes: list[Change] = []
    old_by_name = {r.name: r for r in old.recognizers}
    new_by_name = {r.name: r for r in new.recognizers}
    for name in sorted(set(old_by_name) | set(new_by_name)):
        kind = (new_by_name.get(name) or old_by_name[name]).type
        was = _recognizer_active(old, name, kind)
        now = _recognizer_active(new, name, kind)
        section = "detection.recognizers"
        if was and not now:
            how = "disabled" if name in new_by_name else "removed"
            changes.append(
                Change(
                    section,
                    name,
                    "active",
                    how,
                    "loosening",
                    f"recognizer {how}: its entities are no longer detected by it",
                )
            )
        elif now and not was:
            how = "added" if name not in old_by_name else "enabled"
            changes.append(Change(section, name, "inactive", how, "tightening", f"recognizer {how}"))
        elif now and name in old_by_name and name in new_by_name:
            parts = _recognizer_detail_changes(old_by_name[name], new_by_name[name])
            if parts:
                effect, note = _combine(parts)
                changes.append(Change(section, name, "active", "active, changed", effect, note))
    return changes


def _set_changes(
    section: str, subject: str, old: Iterable[str], new: Iterable[str], added_effect: Effect, meaning: str
) -> list[Change]:
    """One change for entries added and one for entries removed; removal has the opposite effect."""
    before, after = set(old), set(new)
    out = []
    opposite: Effect = {"loosening": "tightening", "tightening": "loosening"}.get(added_effect, "neutral")
    if after - before:
        out.append(
            Change(section, subject, None, _listing(after - before), added_effect, f"added: {meaning}")
        )
    if before - after:
        out.append(Change(section, subject, _listing(before - after), None, opposite, f"removed: {meaning}"))
    return out


def _detection_changes(old: Detection, new: Detection) -> list[Change]:
    section = "detection"
    changes: list[Change] = []
    if old.score_threshold != new.score_threshold:
        raised = new.score_threshold > old.score_threshold
        changes.append(
            Change(
                section,
                "score_threshold",
                str(old.score_threshold),
                str(new.score_threshold),
                "loosening" if raised else "tightening",
                "raised: fewer findings pass" if raised else "lowered: more findings pass",
            )
        )
    if old.use_predefined != new.use_predefined:
        changes.append(
            Change(
                section,
                "use_predefined",
                str(old.use_predefined),
                str(new.use_predefined),
                "tightening" if new.use_predefined else "loosening",
                "Presidio's predefined recognizers are "
                + ("now loaded" if new.use_predefined else "no longer loaded"),
            )
        )
    if old.languages != new.languages:
        changes.append(
            Change(
                section,
                "languages",
                ", ".join(old.languages),
                ", ".join(new.languages),
                "neutral",
                "detection languages changed",
            )
        )
    changes += _recognizer_changes(old, new)
    if old.entities != new.entities:
        if old.entities is None or new.entities is None:
            restricted = new.entities is not None
            changes.append(
                Change(
                    section,
                    "entities",
                    "all" if old.entities is None else _listing(old.entities),
                    "all" if new.entities is None else _listing(new.entities or []),
                    "loosening" if restricted else "tightening",
                    "detection restricted to the listed types" if restricted else "restriction lifted",
                )
            )
        else:
            changes += _set_changes(
                section,
                "entities",
                old.entities,
                new.entities,
                "tightening",
                "entity types detection looks for",
            )
    changes += _set_changes(
        section, "allow_list", old.allow_list, new.allow_list, "loosening", "values never treated as PII"
    )
    changes += _set_changes(
        section,
        "nlp.labels_to_ignore",
        old.nlp.labels_to_ignore,
        new.nlp.labels_to_ignore,
        "loosening",
        "spaCy NER labels that never become findings",
    )
    if old.nlp.model != new.nlp.model:
        changes.append(
            Change(
                section,
                "nlp.model",
                old.nlp.model,
                new.nlp.model,
                "neutral",
                "different NER model: recall may move either way; compare samples",
            )
        )
    return changes


# --- residency ------------------------------------------------------------------------------------------

#: Every destination region the catalogue knows: residency is compared by deciding each of them.
_PROBE_REGIONS: tuple[str, ...] = tuple(
    sorted({r for table in regions.CLOUD_REGIONS.values() for r in table} | set(regions.ISO_3166_ALPHA2))
)


def _rules_text(rules: list[ResidencyRule], jurisdiction: str) -> str | None:
    """The rules covering ``jurisdiction`` (all must allow a region), as ``EU: EU; DE: eu-central-1``."""
    mine = [
        f"{'/'.join(r.jurisdictions)}: {', '.join(r.allowed_regions) or '(nothing)'}"
        for r in rules
        if r.covers(jurisdiction)
    ]
    return "; ".join(mine) if mine else None


def _reach(probes: list[str]) -> str:
    countries = {regions.region_country(p) or p for p in probes}
    return f"{_plural(len(probes), 'region')} in {_listing(countries)}"


def _residency_changes(old: ResidencyConfig | None, new: ResidencyConfig | None) -> list[Change]:
    """Compare what each jurisdiction may reach by deciding every known region under both policies.

    Deciding (rather than comparing rule text) gets the semantics right: a jurisdiction no rule covers
    is held (``no_rule``) whatever ``unknown`` says, so removing a rule is a tightening; but when
    several rules cover a jurisdiction all must allow a region, so removing one of them can loosen.
    """
    section = "residency"
    if old is None and new is None:
        return []
    if old is None or new is None:
        added = new is not None
        return [
            Change(
                section,
                "residency",
                "none" if old is None else "configured",
                "none" if new is None else "configured",
                "tightening" if added else "loosening",
                "records are now checked before delivery"
                if added
                else "no residency check: every record may go to every destination",
            )
        ]
    changes: list[Change] = []
    if old.unknown != new.unknown:
        changes.append(
            Change(
                section,
                "unknown",
                old.unknown,
                new.unknown,
                "loosening" if new.unknown == "allow" else "tightening",
                "records of unknown jurisdiction are now "
                + ("delivered" if new.unknown == "allow" else "held"),
            )
        )
    if old.jurisdiction != new.jurisdiction:
        changes.append(
            Change(
                section,
                "jurisdiction",
                json.dumps(old.jurisdiction.model_dump()),
                json.dumps(new.jurisdiction.model_dump()),
                "neutral",
                "how a record's jurisdiction is found changed: records may land elsewhere",
            )
        )
    named = {j for r in (*old.rules, *new.rules) for j in r.jurisdictions}
    for jurisdiction in sorted(named):
        opened = [
            p
            for p in _PROBE_REGIONS
            if new.decide(jurisdiction, p).allowed and not old.decide(jurisdiction, p).allowed
        ]
        closed = [
            p
            for p in _PROBE_REGIONS
            if old.decide(jurisdiction, p).allowed and not new.decide(jurisdiction, p).allowed
        ]
        parts: list[tuple[Effect, str]] = []
        if opened:
            parts.append(("loosening", f"may now reach {_reach(opened)}"))
        if closed:
            parts.append(("tightening", f"may no longer reach {_reach(closed)}"))
        before, after = _rules_text(old.rules, jurisdiction), _rules_text(new.rules, jurisdiction)
        if not parts and before != after:
            parts.append(("neutral", "rules rewritten; the regions allowed are the same"))
        if parts:
            effect, note = _combine(parts)
            changes.append(
                Change(
                    f"{section}.rules",
                    jurisdiction,
                    before or "no rule (held)",
                    after or "no rule (held)",
                    effect,
                    note,
                )
            )
    return changes


def _destination_changes(old: PolicyDocument, new: PolicyDocument) -> list[Change]:
    section = "destinations"
    changes: list[Change] = []
    for name in sorted(set(old.destinations) | set(new.destinations)):
        before, after = old.destinations.get(name), new.destinations.get(name)
        if before == after:
            continue
        if before is None or after is None:
            present = after or before
            assert present is not None
            text = f"{present.kind} in {present.region}"
            changes.append(
                Change(
                    section,
                    name,
                    None if before is None else text,
                    None if after is None else text,
                    "loosening" if before is None else "tightening",
                    "new destination records may be sent to" if before is None else "destination removed",
                )
            )
            continue
        effect, note = _combine(_destination_parts(before, after))
        changes.append(
            Change(
                section,
                name,
                f"{before.kind} in {before.region}",
                f"{after.kind} in {after.region}",
                effect,
                note,
            )
        )
    return changes


#: The destination fields each group of rules below describes; any other field that differs is named
#: by :func:`_other_field_parts`, so a setting added to the format later is never silent.
_GENERAL_FIELDS = frozenset({"kind", "region", "url", "constraints"})
_EGRESS_FIELDS = frozenset(EXTERNAL_ONLY)  # what _egress_parts describes
_ENCLAVE_FIELDS = frozenset({"model_digest", "tee", "task"})


def _destination_parts(before: DestinationConfig, after: DestinationConfig) -> list[tuple[Effect, str]]:
    """Every difference between two versions of one destination; never empty when they differ."""
    parts: list[tuple[Effect, str]] = []
    if before.kind != after.kind:
        effect: Effect = "loosening" if after.kind == "external_api" else "tightening"
        parts.append((effect, f"kind {before.kind} → {after.kind}"))
    if before.region != after.region:
        parts.append(("neutral", f"region {before.region} → {after.region}: check residency rules"))
    if before.url != after.url:
        parts.append(("neutral", "url changed"))
    if before.constraints != after.constraints:
        parts.append(("neutral", "constraints changed"))
    parts += _egress_parts(before, after)
    described = _GENERAL_FIELDS | _EGRESS_FIELDS
    # Across a kind change the enclave settings exist on one side only: the kind says what matters,
    # and the fallback names them rather than reading "tee sev-snp → default" for an external API.
    if before.kind == after.kind:
        parts += _enclave_parts(before, after)
        described |= _ENCLAVE_FIELDS
    return parts + _other_field_parts(before, after, described)


def _other_field_parts(
    before: DestinationConfig, after: DestinationConfig, described: frozenset[str]
) -> list[tuple[Effect, str]]:
    names = [
        name
        for name in type(before).model_fields
        if name not in described and getattr(before, name, None) != getattr(after, name, None)
    ]
    return [("neutral", f"other settings changed: {_listing(names)}")] if names else []


_TEE_DEFAULT = "default (--enclave-tee, else nitro)"


def _short_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _enclave_parts(before: DestinationConfig, after: DestinationConfig) -> list[tuple[Effect, str]]:
    """What the attested enclave must be (model digest, TEE type) and what it does (task)."""
    parts = _model_digest_parts(before.model_digest, after.model_digest)
    if before.tee != after.tee:
        parts.append(("neutral", f"tee {before.tee or _TEE_DEFAULT} → {after.tee or _TEE_DEFAULT}"))
    return parts + _task_parts(before.task, after.task)


def _model_digest_parts(before: str | None, after: str | None) -> list[tuple[Effect, str]]:
    if before == after:
        return []
    if before is None:
        assert after is not None
        return [("tightening", f"model_digest pinned to {_short_digest(after)}: the enclave must run it")]
    old = _short_digest(before)
    if after is None:
        note = f"model_digest {old} removed: any model is accepted unless --enclave-model-digest pins one"
        return [("loosening", note)]
    if before.removeprefix("sha256:") == after.removeprefix("sha256:"):
        return [("neutral", "model_digest rewritten, same digest")]
    return [("neutral", f"model_digest {old} → {_short_digest(after)}: the enclave must run another model")]


def _task_parts(
    before: EnclaveTaskConfig | None, after: EnclaveTaskConfig | None
) -> list[tuple[Effect, str]]:
    """Which sub-fields of the task changed, by name only (a prompt or label text is not repeated)."""
    if before == after:
        return []
    old = before or EnclaveTaskConfig(kind="analyze")  # no task: the service's own analysis
    new = after or EnclaveTaskConfig(kind="analyze")
    unset = " (no task means analyze)" if before is None or after is None else ""
    if old == new:
        return [("neutral", "task rewritten, same meaning" + unset)]
    names = [n for n in type(old).model_fields if n != "kind" and getattr(old, n) != getattr(new, n)]
    changed = [f"kind {old.kind} → {new.kind}"] if old.kind != new.kind else []
    if names:
        changed.append(_listing(names))
    return [("neutral", f"task changed: {', '.join(changed)}{unset}")]


#: How much an answer scan protects: unset is the same as off.
_SCAN_STRENGTH = {None: 0, "off": 0, "flag": 1, "redact": 2}


def _scan_answers_parts(before: str | None, after: str | None) -> list[tuple[Effect, str]]:
    if before == after:
        return []
    old, new = _SCAN_STRENGTH[before], _SCAN_STRENGTH[after]
    label = f"scan_answers {before or 'unset (off)'} → {after or 'unset (off)'}"
    if new < old:
        what = "only counted, no longer redacted" if after == "flag" else "no longer looked for"
        return [("loosening", f"{label}: personal data a model writes into answers is {what}")]
    if new > old:
        what = "now redacted" if after == "redact" else "now counted"
        return [("tightening", f"{label}: personal data a model writes into answers is {what}")]
    return [("neutral", f"{label}: same meaning")]


def _widening(
    label: str, before: list[str] | None, after: list[str] | None, expand: Callable[[str], Iterable[str]]
) -> list[tuple[Effect, str]]:
    """An allow list where None means "no restriction": wider is a loosening, narrower a tightening."""
    if before == after:
        return []
    if before is None or after is None:
        if before is None:
            return [("tightening", f"{label} restricted to {_listing(after or []) or 'nothing'}")]
        return [("loosening", f"{label} restriction removed (was {_listing(before) or 'nothing'})")]
    old = {x for item in before for x in expand(item)}
    new = {x for item in after for x in expand(item)}
    parts: list[tuple[Effect, str]] = []
    if new - old:
        parts.append(("loosening", f"{label} widened: +{_listing(new - old)}"))
    if old - new:
        parts.append(("tightening", f"{label} narrowed: -{_listing(old - new)}"))
    return parts or [("neutral", f"{label} rewritten, same meaning")]


def _egress_parts(before: DestinationConfig, after: DestinationConfig) -> list[tuple[Effect, str]]:
    """Changes to what an external_api destination may receive, and how it is reached."""
    parts: list[tuple[Effect, str]] = []
    removed = set(before.never_send) - set(after.never_send)
    added = set(after.never_send) - set(before.never_send)
    if removed:
        parts.append(("loosening", f"never_send no longer holds {_listing(removed)}"))
    if added:
        parts.append(("tightening", f"never_send now holds {_listing(added)}"))
    parts += _widening("allowed_entities", before.allowed_entities, after.allowed_entities, lambda t: [t])
    parts += _widening("jurisdictions", before.jurisdictions, after.jurisdictions, regions.countries_of)
    for name in ("provider", "model", "api_key_env"):  # url: compared with the enclave settings
        if getattr(before, name) != getattr(after, name):
            parts.append(("neutral", f"{name} changed"))
    if before.prompt != after.prompt:
        parts.append(("neutral", "prompt changed: check which fields it sends"))
    limits = ("max_tokens", "timeout_s", "max_concurrency", "max_retries")
    if any(getattr(before, n) != getattr(after, n) for n in limits):
        parts.append(("neutral", "request limits changed"))
    return parts + _scan_answers_parts(before.scan_answers, after.scan_answers)


# --- metadata, keys, tests ------------------------------------------------------------------------------


def _other_changes(old: PolicyDocument, new: PolicyDocument) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(set(old.keys) | set(new.keys)):
        before, after = old.keys.get(name), new.keys.get(name)
        if before != after:
            state = "added" if before is None else "removed" if after is None else "reference changed"
            changes.append(
                Change(
                    "keys",
                    name,
                    None if before is None else "declared",
                    None if after is None else "declared",
                    "neutral",
                    f"key {state}: keyed outputs no longer join with earlier ones",
                )
            )
    old_tests = {t.name: t for t in old.tests}
    new_tests = {t.name: t for t in new.tests}
    added = set(new_tests) - set(old_tests)
    removed = set(old_tests) - set(new_tests)
    edited = {n for n in set(old_tests) & set(new_tests) if old_tests[n] != new_tests[n]}
    if added or removed or edited:
        changes.append(
            Change(
                "tests",
                "inline tests",
                str(len(old_tests)),
                str(len(new_tests)),
                "neutral",
                f"{len(added)} added, {len(removed)} removed, {len(edited)} changed"
                + (f" (removed: {_listing(removed)})" if removed else ""),
            )
        )
    return changes


def _semver(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version)
    assert match is not None, version  # validated by the schema
    return int(match[1]), int(match[2]), int(match[3])


def _version_changes(old: PolicyDocument, new: PolicyDocument, meaning: list[Change]) -> list[Change]:
    before, after = old.metadata.version, new.metadata.version
    # tests do not change outputs (they are outside the meaning hash): editing them needs no bump
    meaning = [c for c in meaning if c.section != "tests"]
    changes: list[Change] = []
    if before != after:
        changes.append(Change("metadata", "version", before, after, "neutral", "version changed"))
    warning = None
    if meaning and before == after:
        warning = "the meaning changed but the version did not: bump it"
    elif _semver(after) < _semver(before):
        warning = "the version went backwards"
    elif any(c.effect == "loosening" for c in meaning) and _semver(after)[:2] <= _semver(before)[:2]:
        warning = "the policy loosened but neither the major nor the minor version increased"
    if warning:
        changes.append(Change("metadata", SEMVER_SUBJECT, before, after, "neutral", "warning: " + warning))
    return changes


def diff_policies(old: PolicyDocument, new: PolicyDocument) -> list[Change]:
    """Every difference in meaning between two resolved policies, section by section.

    Metadata other than the version (name, owners, description) does not change meaning and is not
    reported. A version warning (``subject == "semver"``) is added when the version does not reflect
    the changes.
    """
    meaning = [
        *_other_changes(old, new),
        *_detection_changes(old.detection, new.detection),
        *_transforms_changes(old.transforms, new.transforms),
        *_residency_changes(old.residency, new.residency),
        *_destination_changes(old, new),
    ]
    return _version_changes(old, new, meaning) + meaning


# --- samples --------------------------------------------------------------------------------------------


def read_samples(path: str | Path) -> list[dict | str]:
    """Read a ``--sample`` file: each non-empty line is a JSON object (a record) or else a text."""
    samples: list[dict | str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                samples.append(value)
                continue
        samples.append(line)
    return samples


def _leaves(value: Any, path: str, out: dict[str, str]) -> dict[str, str]:
    """Every scalar of a record by the engine's path syntax (``a.b[3].c``), as the text it inspects."""
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _leaves(item, f"{path}[{i}]", out)
    elif value is not None:
        out[path] = str(value)
    return out


def _redact_all(engine: RedactionEngine, records: list[dict | str]) -> list[tuple[str, Any]]:
    """(output, findings) per sample."""
    texts = [(i, r) for i, r in enumerate(records) if isinstance(r, str)]
    dicts = [(i, r) for i, r in enumerate(records) if not isinstance(r, str)]
    out: list[tuple[str, Any]] = [("", ())] * len(records)
    for (i, _), text_result in zip(texts, engine.redact_texts([t for _, t in texts]), strict=True):
        out[i] = (text_result.text, text_result.findings)
    for (i, _), record_result in zip(dicts, engine.redact_records([d for _, d in dicts]), strict=True):
        out[i] = (json.dumps(record_result.record, ensure_ascii=False), record_result.findings)
    return out


def _exposed(sample: dict | str, findings: Iterable[Any]) -> set[str]:
    """The original text of each finding in ``sample`` (what a ``keep`` would print in the clear)."""
    leaves = _leaves(sample, "", {}) if isinstance(sample, dict) else {}
    values: set[str] = set()
    for finding in findings:
        text = sample if isinstance(sample, str) else leaves.get(finding.field or "", "")
        value = text[finding.start:finding.end].strip()
        if len(value) >= 2:
            values.add(value)
    return values


def sample_outputs(
    old_engine: RedactionEngine, new_engine: RedactionEngine, records: list[dict | str]
) -> list[SampleRow]:
    """Redact each sample (text or record) under both policies."""
    before = _redact_all(old_engine, records)
    after = _redact_all(new_engine, records)
    rows = []
    for i, sample in enumerate(records):
        (old_out, old_found), (new_out, new_found) = before[i], after[i]
        types_before = tuple(sorted({f.entity_type for f in old_found}))
        types_after = tuple(sorted({f.entity_type for f in new_found}))
        exposed = frozenset(_exposed(sample, old_found) | _exposed(sample, new_found))
        rows.append(SampleRow(i, old_out, new_out, types_before, types_after, exposed))
    return rows


def _masked(text: str, exposed: frozenset[str]) -> str:
    """``text`` with every exposed original value replaced, longest first (a PR comment is public)."""
    for value in sorted(exposed, key=len, reverse=True):
        text = text.replace(value, "[kept value]")
    return text


# --- markdown -------------------------------------------------------------------------------------------


def md_cell(value: str | None) -> str:
    """Text made safe for one Markdown table cell: no HTML, no emphasis, no ``|`` or line breaks."""
    if value is None:
        return "—"
    text = html.escape(value, quote=False)
    for ch in "\\`*_[]|":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def headline(changes: list[Change]) -> str:
    """``**2 loosenings** ⚠️, 1 tightening, 0 neutral`` (warnings excluded from the counts)."""
    counted = [c for c in changes if c.subject != SEMVER_SUBJECT or c.section != "metadata"]
    counts = {effect: sum(c.effect == effect for c in counted) for effect in _ORDER}
    if not counted:
        return "**No change in meaning.**"
    loose = f"**{_plural(counts['loosening'], 'loosening')}** ⚠️" if counts["loosening"] else "no loosening ✅"
    return f"{loose}, {_plural(counts['tightening'], 'tightening')}, {counts['neutral']} neutral"


def _identity_rows(old: PolicyIdentity, new: PolicyIdentity) -> list[str]:
    rows = ["| | old | new |", "|---|---|---|"]
    fields = [
        ("name", old.name, new.name),
        ("version", old.version, new.version),
        ("meaning sha256", old.sha256, new.sha256),
        ("git", (old.git_revision or "—")[:12], (new.git_revision or "—")[:12]),
    ]
    rows += [f"| {label} | {md_cell(a)} | {md_cell(b)} |" for label, a, b in fields]
    return rows


def render_new_policy(identity: PolicyIdentity) -> str:
    """The comment for a policy file that did not exist at the base revision."""
    return "\n".join(
        [
            f"### New policy: {md_cell(identity.name)} {md_cell(identity.version)}",
            "",
            "Not present at the base revision: review it whole.",
            "",
            f"| meaning sha256 | {md_cell(identity.sha256)} |",
            "|---|---|",
            "",
        ]
    )


def render_markdown(
    changes: list[Change],
    old_identity: PolicyIdentity,
    new_identity: PolicyIdentity,
    sample_rows: list[SampleRow] | None = None,
) -> str:
    """A pull-request comment: headline, identities, warnings, the changes (loosenings first), samples."""
    lines = [
        f"### Policy diff: {md_cell(old_identity.name)} {md_cell(old_identity.version)} → "
        f"{md_cell(new_identity.version)}",
        "",
        headline(changes),
        "",
        *_identity_rows(old_identity, new_identity),
        "",
    ]
    warnings = [c for c in changes if c.section == "metadata" and c.subject == SEMVER_SUBJECT]
    lines += [f"> ⚠️ **Version:** {md_cell(c.note)}" for c in warnings]
    if warnings:
        lines.append("")
    listed = sorted((c for c in changes if c not in warnings), key=lambda c: _ORDER[c.effect])
    if listed:
        lines += ["| effect | section | subject | before | after | note |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {_ICON[c.effect]} | {md_cell(c.section)} | {md_cell(c.subject)} | {md_cell(c.before)} | "
            f"{md_cell(c.after)} | {md_cell(c.note)} |"
            for c in listed
        ]
        lines.append("")
    if sample_rows is not None:
        differ = sum(row.changed for row in sample_rows)
        lines += [
            "<details><summary>Sample outputs: "
            f"{_plural(len(sample_rows), 'record')}, {differ} changed</summary>",
            "",
            "The samples themselves are not shown; a value one policy leaves in the clear shows as "
            "[kept value].",
            "",
            "| # | found (old) | before | after | found (new) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row.index + 1}{' ✏️' if row.changed else ''} | {md_cell(', '.join(row.found_before))} | "
            f"{md_cell(_masked(row.before, row.exposed))} | {md_cell(_masked(row.after, row.exposed))} | "
            f"{md_cell(', '.join(row.found_after))} |"
            for row in sample_rows
        ]
        lines += ["", "</details>", ""]
    return "\n".join(lines)
