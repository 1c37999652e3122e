"""The built-in policies in policies/library: they validate, their inline tests pass, PCI masking never
lets the middle digits of a PAN through, and HIPAA generalises ZIP codes, dates and ages."""

from __future__ import annotations

from pathlib import Path

import pytest

from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine
from redactline.policies.testing import format_text, run_policy_tests

LIBRARY = Path(__file__).resolve().parents[2] / "policies" / "library"
NAMES = ["general-pii", "hipaa-safe-harbor", "pci-dss"]


@pytest.fixture(scope="module")
def engines() -> dict[str, RedactionEngine]:
    """One engine per library policy, shared by the module (each build loads spaCy)."""
    return {name: load_policy(LIBRARY / f"{name}.yaml", environ={}).engine() for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_policy_validates_without_keys(name: str) -> None:
    policy = load_policy(LIBRARY / f"{name}.yaml", environ={})
    assert policy.name == name
    assert policy.keys == {}
    assert len(policy.document.tests) >= 10


@pytest.mark.parametrize("name", NAMES)
def test_inline_tests_pass(name: str, engines: dict[str, RedactionEngine]) -> None:
    engine = engines[name]
    results = run_policy_tests(engine.policy, engine=engine)
    assert results
    assert all(r.passed for r in results), format_text(results)


# --- PCI DSS: first 6 / last 4 at most --------------------------------------------------------------


def _luhn_complete(prefix_and_body: str) -> str:
    """Append the Luhn check digit."""
    total = 0
    for index, char in enumerate(reversed(prefix_and_body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return prefix_and_body + str((10 - total % 10) % 10)


def _group(number: str, sizes: list[int], sep: str) -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(number[start : start + size])
        start += size
    return sep.join(parts)


CARDS = [
    # (digits without check digit, grouping, separator)
    ("453201987654321", [4, 4, 4, 4], " "),  # Visa 16
    ("524398765432109", [4, 4, 4, 4], "-"),  # Mastercard 16
    ("37829876543210", [4, 6, 5], " "),  # Amex 15
    ("601198765432109", [16], ""),  # Discover 16, plain
    ("622126987654321876", [19], ""),  # 19-digit
    ("222100987654321", [4, 4, 4, 4], " "),  # Mastercard 2-series
    ("21319876543210", [4, 6, 5], "-"),  # JCB 15-digit
    ("67591234567", [12], ""),  # Maestro, 12 digits
    ("62123456789012345", [4, 4, 4, 4, 2], " "),  # UnionPay 18
]


@pytest.mark.parametrize(("body", "sizes", "sep"), CARDS)
def test_pci_middle_digits_never_survive(body: str, sizes: list[int], sep: str, engines) -> None:
    number = _luhn_complete(body)
    shown = _group(number, sizes, sep)
    out = engines["pci-dss"].redact_text(f"Please charge {shown} today.").text
    digits = "".join(c for c in out if c.isdigit())
    assert digits == number[:6] + number[-4:], out
    middle = number[6:-4]
    for width in range(4, len(middle) + 1):
        assert middle[:width] not in digits
    assert out.startswith("Please charge ") and out.endswith(" today.")


def test_pci_non_luhn_number_is_masked_too(engines) -> None:
    number = _luhn_complete("453201987654321")
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    out = engines["pci-dss"].redact_text(f"card {wrong}").text
    assert out == f"card {wrong[:6]}{'*' * 6}{wrong[-4:]}"


def test_pci_cvv_and_track_data(engines) -> None:
    number = _luhn_complete("453201987654321")
    engine = engines["pci-dss"]
    assert engine.redact_text("cvc2: 907").text == "cvc2: "
    out = engine.redact_text(f"t2 ;{number}=29121010000000000000?").text
    assert number[6:-4] not in out and "2912" not in out


# --- HIPAA Safe Harbor ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ZIP: 94110", "ZIP: 941"),
        ("ZIP code 82301-1234", "ZIP code 000"),  # 823 is a restricted prefix
        ("The patient, aged 91, was admitted.", "The patient, aged 90+, was admitted."),
        ("The patient, aged 89, was admitted.", "The patient, aged 89, was admitted."),
        ("Born on July 4, 1931.", "Born on 1931."),
        ("Seen 2019-11-02 in clinic.", "Seen 2019 in clinic."),
    ],
)
def test_hipaa_free_text(text: str, expected: str, engines) -> None:
    assert engines["hipaa-safe-harbor"].redact_text(text).text == expected


def test_hipaa_city_and_state_zip_do_not_survive(engines) -> None:
    out = engines["hipaa-safe-harbor"].redact_text("She moved to Cambridge, MA 02139 last year.").text
    assert "Cambridge" not in out and "02139" not in out


# spaCy tags "age 89" as DATE and "MA 02139" as ORG. The stronger finding (the age, the ZIP) keeps its
# own span so the generalising operator sees only its value; the weaker finding's leftover characters
# are still covered by their own operator (fail closed).
@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("The patient, age 89, was admitted.", "89,", "<AGE>"),
        ("The patient, age 93, was admitted.", "90+,", "93"),
        ("Cambridge, MA 02139", "021", "02139"),
    ],
)
def test_hipaa_generalize_after_overlap(text: str, kept: str, gone: str, engines) -> None:
    out = engines["hipaa-safe-harbor"].redact_text(text).text
    assert kept in out and gone not in out


def test_hipaa_record_fields(engines) -> None:
    record = {
        "patient": {
            "zip": "03640",
            "dob": "12/25/1920",
            "age": "101",
            "photo": "base64-bytes",
            "biometrics": {"iris": "template"},
            "note": "no identifiers here",
        }
    }
    out = engines["hipaa-safe-harbor"].redact_record(record).record["patient"]
    assert out["zip"] == "000"  # 036 is a restricted prefix
    assert out["dob"] == "1920"
    assert out["age"] == "90+"
    assert "photo" not in out and "biometrics" not in out
    assert out["note"] == "no identifiers here"


def test_general_pii_pseudonyms_are_consistent(engines) -> None:
    out = engines["general-pii"].redact_text("Contact: Olga Petrova. Later Olga Petrova called.").text
    assert "Olga" not in out and "Petrova" not in out
    assert out.count("<PERSON_1>") == 2


GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"  # made-up characters, GitHub's shape
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x9Zq3Lk2Yw8\nVb5Nc1Xd4Fe7Gh0Jk3Lm6Np9Qr2\n"
       "-----END RSA PRIVATE KEY-----")


def test_general_pii_redacts_planted_secrets(engines: dict[str, RedactionEngine]) -> None:
    engine = engines["general-pii"]
    text = f"token {GITHUB_TOKEN} and db postgres://svc:Xk9-pLq2@db/app and\n{PEM}"
    out = engine.redact_text(text).text
    for secret in (GITHUB_TOKEN, "Xk9-pLq2", "MIIEowIBAAKCAQEA7x9Zq3Lk2Yw8"):
        assert secret not in out
    assert "db/app" in out  # only the password of the URL is taken
