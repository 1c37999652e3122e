"""Residency decisions and the region catalogue (pure policy code, no Beam)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from redactline.policies import regions
from redactline.policies.residency import (
    NO_RULE,
    REGION_NOT_ALLOWED,
    UNKNOWN_JURISDICTION,
    ResidencyConfig,
    check_region,
)


def config(**overrides) -> ResidencyConfig:
    data = {
        "jurisdiction": {"field": "customer.country", "mapping": {"Deutschland": "DE"}},
        "rules": [
            {"jurisdictions": ["EU"], "allowed_regions": ["EU"]},
            {"jurisdictions": ["DE"], "allowed_regions": ["eu-central-1", "europe-west3"]},
            {"jurisdictions": ["US", "CA"], "allowed_regions": ["US", "EU"]},
        ],
    }
    data.update(overrides)
    return ResidencyConfig.model_validate(data)


def test_catalogue_has_every_iso_code_and_regions_resolve_to_countries():
    assert len(regions.ISO_3166_ALPHA2) == 249
    assert regions.GROUPS["EU"] <= regions.GROUPS["EEA"] and len(regions.GROUPS["EU"]) == 27
    assert all(c in regions.ISO_3166_ALPHA2 for g in regions.GROUPS.values() for c in g)
    for table in regions.CLOUD_REGIONS.values():
        assert all(c in regions.ISO_3166_ALPHA2 for c in table.values())
    assert regions.region_country("eu-central-1") == "DE"
    assert regions.region_country("gcp:europe-west9") == "FR"
    assert regions.region_country("westeurope") == "NL"
    assert regions.region_country("aws:westeurope") is None  # provider prefix must match the table
    assert regions.normalize_jurisdiction(" uk ") == "GB"
    assert regions.normalize_jurisdiction("ZZ") is None


def test_field_mapping_source_level_and_default_resolution():
    cfg = config()
    assert cfg.resolve_jurisdiction({"customer": {"country": "fr"}}) == "FR"
    assert cfg.resolve_jurisdiction({"customer": {"country": "deutschland"}}) == "DE"
    # a field present with a value nobody knows is unknown, never the source-level fallback
    assert cfg.resolve_jurisdiction({"customer": {"country": "Atlantis"}}, "DE") is None
    assert cfg.resolve_jurisdiction({"customer": {}}, "de") == "DE"
    with_default = config(jurisdiction={"field": "c", "default": "EU"})
    assert with_default.resolve_jurisdiction({}) == "EU"


def test_decisions_fail_closed():
    cfg = config()
    assert cfg.decide("FR", "eu-west-3").allowed
    assert cfg.decide("FR", "us-east-1").reason == REGION_NOT_ALLOWED
    # DE is covered by the EU rule and the stricter DE rule: both must allow
    assert cfg.decide("DE", "europe-west3").allowed
    assert cfg.decide("DE", "eu-west-1").reason == REGION_NOT_ALLOWED
    assert cfg.decide("US", "eu-central-1").allowed
    assert cfg.decide("BR", "eu-central-1").reason == NO_RULE
    # a record only known to be "EU" is not covered by the DE rule, but by the EU one
    assert cfg.decide("EU", "eu-west-1").allowed
    unknown = cfg.decide(None, "eu-central-1")
    assert not unknown.allowed and unknown.reason == UNKNOWN_JURISDICTION
    assert config(unknown="allow").decide(None, "eu-central-1").allowed


def test_bad_codes_and_regions_are_rejected_at_validation():
    with pytest.raises(ValidationError, match="unknown jurisdiction"):
        config(rules=[{"jurisdictions": ["XX"], "allowed_regions": ["EU"]}])
    with pytest.raises(ValidationError, match="unknown region"):
        config(rules=[{"jurisdictions": ["DE"], "allowed_regions": ["mars-north-1"]}])
    with pytest.raises(ValidationError):
        config(unknown="ignore")
    with pytest.raises(ValueError, match="mars-north-1"):
        check_region("mars-north-1")
