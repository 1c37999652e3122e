"""Residency: which destination regions a record's jurisdiction may reach (policy section ``residency``).

Decisions fail closed:

* a record whose jurisdiction cannot be determined (missing, or a value that is not an ISO 3166 code, a
  group such as ``EU``, or a ``mapping`` key) is held as ``unknown_jurisdiction`` unless the policy says
  ``unknown: allow`` explicitly;
* a known jurisdiction that no rule covers is held as ``no_rule``;
* when several rules cover a jurisdiction, *every* one of them must allow the region (the strictest wins).

A rule covers a record's jurisdiction when every country the jurisdiction stands for is among the
rule's countries, so a rule for ``EU`` covers a ``DE`` record, and a rule for ``DE`` does not cover a
record that is only known to be from the ``EU``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import regions
from .paths import get_path

# Held reason codes. Stable: manifests count by them.
UNKNOWN_JURISDICTION = "unknown_jurisdiction"
NO_RULE = "no_rule"
REGION_NOT_ALLOWED = "region_not_allowed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _known_jurisdiction(value: str) -> str:
    code = regions.normalize_jurisdiction(value)
    if code is None:
        raise ValueError(f"unknown jurisdiction {value!r}: expected an ISO 3166-1 alpha-2 code or one of "
                         f"{sorted(regions.GROUPS)}")
    return code


class JurisdictionSource(_Strict):
    """Where a record's jurisdiction comes from: a field, a source-level default, or a value mapping."""

    field: str | None = Field(
        None, description="dotted path of the field holding a country/jurisdiction code"
    )
    default: str | None = Field(None, description="jurisdiction for every record of the source")
    mapping: dict[str, str] = Field(default_factory=dict, description="field value -> jurisdiction code")

    @field_validator("default")
    @classmethod
    def _check_default(cls, value: str | None) -> str | None:
        return None if value is None else _known_jurisdiction(value)

    @field_validator("mapping")
    @classmethod
    def _check_mapping(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: _known_jurisdiction(v) for k, v in value.items()}


class ResidencyRule(_Strict):
    """Records of ``jurisdictions`` may go to destinations in ``allowed_regions`` only."""

    jurisdictions: list[str] = Field(min_length=1, description="ISO 3166 codes or groups such as EU, EEA")
    allowed_regions: list[str] = Field(
        description="destination regions (cloud region ids such as eu-central-1, or groups such as EU)"
    )

    @field_validator("jurisdictions")
    @classmethod
    def _check_jurisdictions(cls, value: list[str]) -> list[str]:
        return [_known_jurisdiction(v) for v in value]

    @field_validator("allowed_regions")
    @classmethod
    def _check_regions(cls, value: list[str]) -> list[str]:
        for item in value:
            if not regions.is_known_region_or_group(item):
                raise ValueError(f"unknown region {item!r}: expected a cloud region id (aws/gcp/azure), "
                                 "an ISO 3166-1 alpha-2 code or a group")
        return value

    def covers(self, jurisdiction: str) -> bool:
        """Whether this rule speaks for every country of ``jurisdiction`` (a canonical code)."""
        mine = frozenset().union(*(regions.countries_of(j) for j in self.jurisdictions))
        return regions.countries_of(jurisdiction) <= mine

    def allows(self, region: str) -> bool:
        return any(regions.region_matches(a, region) for a in self.allowed_regions)


@dataclass(frozen=True)
class ResidencyDecision:
    """Outcome for one record: ``allowed``, else ``reason`` is one of the held reason codes."""

    allowed: bool
    jurisdiction: str | None
    reason: str | None = None


class ResidencyConfig(_Strict):
    """The policy's ``residency`` section: how to find a record's jurisdiction and where it may go."""

    jurisdiction: JurisdictionSource = Field(default_factory=JurisdictionSource)
    unknown: Literal["hold", "allow"] = Field(
        "hold", description="what to do when the jurisdiction is unknown (never silently allowed)"
    )
    rules: list[ResidencyRule] = Field(default_factory=list)

    def resolve_jurisdiction(
        self, fields: dict[str, Any], source_jurisdiction: str | None = None
    ) -> str | None:
        """The canonical jurisdiction of a record, or None when it cannot be determined.

        Order: the configured field (through ``mapping``), else the source-level setting passed in,
        else the policy's ``default``. A field that is present but holds an unrecognised value gives
        None; it never falls back to a default that could allow more than the value says.
        """
        if self.jurisdiction.field:
            value = get_path(fields, self.jurisdiction.field)
            if value is not None and str(value).strip() != "":
                return self._map(value)
        if source_jurisdiction is not None:
            return regions.normalize_jurisdiction(source_jurisdiction)
        return self.jurisdiction.default

    def _map(self, value: Any) -> str | None:
        text = str(value).strip()
        mapping = self.jurisdiction.mapping
        if text in mapping:
            return mapping[text]
        folded = {k.casefold(): v for k, v in mapping.items()}
        if text.casefold() in folded:
            return folded[text.casefold()]
        return regions.normalize_jurisdiction(text)

    def decide(self, jurisdiction: str | None, region: str) -> ResidencyDecision:
        """May a record of ``jurisdiction`` (canonical code or None) reach destination ``region``?"""
        if jurisdiction is None:
            return ResidencyDecision(self.unknown == "allow", None, None if self.unknown == "allow"
                                     else UNKNOWN_JURISDICTION)
        covering = [rule for rule in self.rules if rule.covers(jurisdiction)]
        if not covering:
            return ResidencyDecision(False, jurisdiction, NO_RULE)
        if all(rule.allows(region) for rule in covering):
            return ResidencyDecision(True, jurisdiction)
        return ResidencyDecision(False, jurisdiction, REGION_NOT_ALLOWED)

    def decide_record(self, fields: dict[str, Any], region: str,
                      source_jurisdiction: str | None = None) -> ResidencyDecision:
        """Resolve the jurisdiction of ``fields`` and decide for ``region`` in one call."""
        return self.decide(self.resolve_jurisdiction(fields, source_jurisdiction), region)


def check_region(region: str) -> str:
    """Validate a destination region; raises ValueError naming it when the catalogue does not know it."""
    if regions.region_country(region) is None:
        raise ValueError(f"unknown destination region {region!r}")
    return region


