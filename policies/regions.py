"""Built-in catalogue for residency decisions: ISO 3166-1 countries, country groups, cloud regions.

Pure data plus small lookups; no I/O. A *jurisdiction* is an ISO 3166-1 alpha-2 code (``DE``) or a
group code (``EU``). A *destination region* is a cloud region id (``eu-central-1``, ``europe-west3``,
``germanywestcentral``, optionally prefixed ``aws:``/``gcp:``/``azure:``) or a country code; either
way it resolves to the one country where the data would be stored.
"""

from __future__ import annotations


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ISO 3166-1 alpha-2 officially assigned codes (249).
ISO_3166_ALPHA2: frozenset[str] = _codes(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES
    ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE
    IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU
    NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM
    SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE
    VG VI VN VU WF WS YE YT ZA ZM ZW
    """
)

# Common non-ISO spellings that name an ISO country unambiguously.
ALIASES: dict[str, str] = {"UK": "GB", "EL": "GR"}

_EU = _codes("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE")

# Country groups usable wherever a jurisdiction or an allowed region is expected.
GROUPS: dict[str, frozenset[str]] = {
    "EU": _EU,
    "EEA": _EU | {"IS", "LI", "NO"},
    "EFTA": frozenset({"IS", "LI", "NO", "CH"}),
}

_AWS = {
    "us-east-1": "US", "us-east-2": "US", "us-west-1": "US", "us-west-2": "US",
    "us-gov-east-1": "US", "us-gov-west-1": "US", "ca-central-1": "CA", "ca-west-1": "CA",
    "mx-central-1": "MX", "sa-east-1": "BR", "af-south-1": "ZA", "ap-east-1": "HK",
    "ap-south-1": "IN", "ap-south-2": "IN", "ap-southeast-1": "SG", "ap-southeast-2": "AU",
    "ap-southeast-3": "ID", "ap-southeast-4": "AU", "ap-southeast-5": "MY", "ap-southeast-7": "TH",
    "ap-northeast-1": "JP", "ap-northeast-2": "KR", "ap-northeast-3": "JP", "eu-central-1": "DE",
    "eu-central-2": "CH", "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR", "eu-south-1": "IT",
    "eu-south-2": "ES", "eu-north-1": "SE", "il-central-1": "IL", "me-south-1": "BH",
    "me-central-1": "AE", "cn-north-1": "CN", "cn-northwest-1": "CN",
}  # fmt: skip

_GCP = {
    "us-central1": "US", "us-east1": "US", "us-east4": "US", "us-east5": "US", "us-south1": "US",
    "us-west1": "US", "us-west2": "US", "us-west3": "US", "us-west4": "US",
    "northamerica-northeast1": "CA", "northamerica-northeast2": "CA", "northamerica-south1": "MX",
    "southamerica-east1": "BR", "southamerica-west1": "CL", "europe-west1": "BE", "europe-west2": "GB",
    "europe-west3": "DE", "europe-west4": "NL", "europe-west6": "CH", "europe-west8": "IT",
    "europe-west9": "FR", "europe-west10": "DE", "europe-west12": "IT", "europe-north1": "FI",
    "europe-north2": "SE", "europe-central2": "PL", "europe-southwest1": "ES", "asia-east1": "TW",
    "asia-east2": "HK", "asia-northeast1": "JP", "asia-northeast2": "JP", "asia-northeast3": "KR",
    "asia-south1": "IN", "asia-south2": "IN", "asia-southeast1": "SG", "asia-southeast2": "ID",
    "australia-southeast1": "AU", "australia-southeast2": "AU", "me-central1": "QA",
    "me-central2": "SA", "me-west1": "IL", "africa-south1": "ZA",
}  # fmt: skip

_AZURE = {
    "eastus": "US", "eastus2": "US", "centralus": "US", "northcentralus": "US", "southcentralus": "US",
    "westcentralus": "US", "westus": "US", "westus2": "US", "westus3": "US", "canadacentral": "CA",
    "canadaeast": "CA", "brazilsouth": "BR", "mexicocentral": "MX", "northeurope": "IE",
    "westeurope": "NL", "francecentral": "FR", "francesouth": "FR", "germanywestcentral": "DE",
    "germanynorth": "DE", "swedencentral": "SE", "norwayeast": "NO", "norwaywest": "NO",
    "switzerlandnorth": "CH", "switzerlandwest": "CH", "uksouth": "GB", "ukwest": "GB",
    "italynorth": "IT", "polandcentral": "PL", "spaincentral": "ES", "eastasia": "HK",
    "southeastasia": "SG", "japaneast": "JP", "japanwest": "JP", "koreacentral": "KR",
    "koreasouth": "KR", "centralindia": "IN", "southindia": "IN", "westindia": "IN",
    "australiaeast": "AU", "australiasoutheast": "AU", "australiacentral": "AU", "uaenorth": "AE",
    "uaecentral": "AE", "southafricanorth": "ZA", "southafricawest": "ZA", "qatarcentral": "QA",
    "israelcentral": "IL",
}  # fmt: skip

# provider -> region id -> ISO country where that region stores data.
CLOUD_REGIONS: dict[str, dict[str, str]] = {"aws": _AWS, "gcp": _GCP, "azure": _AZURE}


def normalize_jurisdiction(value: object) -> str | None:
    """Canonical jurisdiction code for ``value`` (ISO alpha-2 or group), or None if unknown.

    Case and surrounding whitespace are ignored; ``UK``/``EL`` map to ``GB``/``GR``.
    """
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = ALIASES.get(code, code)
    if code in ISO_3166_ALPHA2 or code in GROUPS:
        return code
    return None


def countries_of(jurisdiction: str) -> frozenset[str]:
    """The ISO countries a canonical jurisdiction code stands for (one for a country, many for a group)."""
    if jurisdiction in GROUPS:
        return GROUPS[jurisdiction]
    return frozenset({jurisdiction})


def region_country(region: str) -> str | None:
    """The ISO country of a destination region (cloud region id, ``provider:id`` or country code)."""
    text = region.strip()
    provider, sep, rid = text.partition(":")
    if sep:
        table = CLOUD_REGIONS.get(provider.lower())
        return table.get(rid.lower()) if table else None
    for table in CLOUD_REGIONS.values():
        if text.lower() in table:
            return table[text.lower()]
    code = normalize_jurisdiction(text)
    return code if code in ISO_3166_ALPHA2 else None


def is_known_region_or_group(value: str) -> bool:
    """True for anything usable in ``allowed_regions``: a cloud region, a country code or a group."""
    return region_country(value) is not None or normalize_jurisdiction(value) is not None


def region_matches(allowed: str, region: str) -> bool:
    """Whether a destination ``region`` is covered by one ``allowed`` entry.

    An entry covers a region when it names the same cloud region, the region's country, or a group
    containing that country. A cloud-region entry never widens to its whole country.
    """
    country = region_country(region)
    if country is None:
        return False
    if region_country(allowed) is not None and normalize_jurisdiction(allowed) is None:
        # a cloud region id: exact match only (provider prefix optional on either side)
        return allowed.strip().lower().split(":")[-1] == region.strip().lower().split(":")[-1]
    code = normalize_jurisdiction(allowed)
    return code is not None and country in countries_of(code)


def parse_jurisdiction(value: str | None, flag: str = "--jurisdiction") -> str | None:
    """``value`` as a canonical code, None when not given; ValueError naming ``flag`` when not understood."""
    if value is None:
        return None
    code = normalize_jurisdiction(value)
    if code is None:
        raise ValueError(f"{flag} {value}: not an ISO 3166-1 alpha-2 code or a group")
    return code
