"""Residency: which destination regions a record's jurisdiction may reach (policy section ``residency``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JurisdictionSource(_Strict):
    """Where a record's jurisdiction comes from: a field, a source-level default, or a value mapping."""

    field: str | None = Field(None, description="dotted path of the field holding a country/jurisdiction code")
    default: str | None = Field(None, description="jurisdiction for every record of the source")
    mapping: dict[str, str] = Field(default_factory=dict, description="field value -> jurisdiction code")


class ResidencyRule(_Strict):
    jurisdictions: list[str] = Field(min_length=1, description="ISO 3166 codes or groups such as EU, EEA")
    allowed_regions: list[str] = Field(
        description="destination regions (cloud region ids such as eu-central-1, or groups such as EU)"
    )


class ResidencyConfig(_Strict):
    jurisdiction: JurisdictionSource = Field(default_factory=JurisdictionSource)
    unknown: Literal["hold", "allow"] = Field("hold", description="what to do when the jurisdiction is unknown")
    rules: list[ResidencyRule] = Field(default_factory=list)
