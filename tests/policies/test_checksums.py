"""Check-digit arithmetic and issuer tables (policies/checksums.py): published valid examples pass, and
any one-character change of a valid identifier fails."""

from __future__ import annotations

import pytest

from redactline.policies import checksums as cs


def _one_digit_changes(value: str) -> list[str]:
    """Every copy of ``value`` with one digit replaced by another (all of them must fail the check)."""
    out = []
    for index, char in enumerate(value):
        if char.isdigit():
            out.extend(value[:index] + d + value[index + 1 :] for d in "0123456789" if d != char)
    return out


# ---- cards ---------------------------------------------------------------------------------------


def test_luhn_known_numbers() -> None:
    assert cs.luhn_valid("4111111111111111")
    assert cs.luhn_valid("79927398713")  # the textbook example
    assert not cs.luhn_valid("79927398710")
    assert not cs.luhn_valid("4111-1111")  # digits only
    assert cs.luhn_check_digit("7992739871") == "3"


def test_luhn_catches_every_single_digit_error() -> None:
    assert not any(cs.luhn_valid(wrong) for wrong in _one_digit_changes("5555555555554444"))


@pytest.mark.parametrize(
    ("body", "network"),
    [
        ("222100000000000", "Mastercard"),  # 2-series, lower end
        ("272099999999999", "Mastercard"),  # 2-series, upper end
        ("550000000000000", "Mastercard"),
        ("411111111111111111", "Visa"),  # 19 digits
        ("37144963539843", "American Express"),
        ("601100099013942", "Discover"),
        ("353011133330000", "JCB"),
        ("18000000000000", "JCB 15-digit"),
        ("21310000000000", "JCB 15-digit"),
        ("3056930902590", "Diners Club Carte Blanche"),
        ("67596498264", "Maestro"),  # 12 digits
        ("620000000000000000", "UnionPay"),  # 19 digits
        ("220000000000000", "Mir"),
        ("608000000000000", "RuPay"),
    ],
)
def test_issuer_ranges(body: str, network: str) -> None:
    number = body + cs.luhn_check_digit(body)
    assert network in cs.card_networks(number)
    assert cs.is_valid_card(number)


@pytest.mark.parametrize(
    "body",
    [
        "222000000000000",  # just below the 2-series
        "272100000000000",  # just above it
        "70000000000000",  # no network starts with 7
        "0411111111111",  # leading zero
        "34000000000000000",  # Amex is 15 digits only
        "1234567890",  # too short
    ],
)
def test_outside_issuer_ranges(body: str) -> None:
    assert not cs.is_valid_card(body + cs.luhn_check_digit(body))


def test_card_separators() -> None:
    assert cs.is_valid_card("4111 1111 1111 1111")
    assert cs.is_valid_card("4111-1111-1111-1111")
    assert not cs.is_valid_card("4111 1111 1111 1112")


# ---- IBAN ----------------------------------------------------------------------------------------


def test_published_ibans() -> None:
    assert cs.is_valid_iban("DE89 3704 0044 0532 0130 00")
    assert cs.is_valid_iban("GB82WEST12345698765432")
    assert cs.is_valid_iban("fr14 2004 1010 0505 0001 3m02 606")  # lower case is read as upper
    assert not cs.is_valid_iban("GB82WEST12345698765433")
    assert not cs.is_valid_iban("DE89 3704 0044 0532 0130 0")  # one short for DE
    assert not cs.is_valid_iban("XX89 3704 0044 0532 0130 00")  # no such country


@pytest.mark.parametrize("country", sorted(cs.IBAN_LENGTHS))
def test_every_registry_country(country: str) -> None:
    length = cs.IBAN_LENGTHS[country]
    bban = ("0123456789" * 4)[: length - 4]
    iban = country + cs.iban_check_digits(country, bban) + bban
    assert len(iban) == length
    assert cs.is_valid_iban(iban)
    assert cs.is_valid_iban(" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)))
    assert not any(cs.is_valid_iban(wrong) for wrong in _one_digit_changes(iban))
    assert not cs.is_valid_iban(iban + "0")


def test_registry_table_shape() -> None:
    assert len(cs.IBAN_LENGTHS) >= 89
    assert all(len(c) == 2 and c.isupper() and 15 <= n <= 33 for c, n in cs.IBAN_LENGTHS.items())


# ---- national identifiers ------------------------------------------------------------------------


def test_spanish_dni_and_nie() -> None:
    assert cs.is_valid_dni("12345678Z")
    assert cs.is_valid_dni("12.345.678-Z")
    assert cs.dni_letter("00000000") == "T"
    assert not cs.is_valid_dni("12345678A")
    assert cs.is_valid_nie("X1234567L")
    assert cs.is_valid_nie("Y-1234567-X")
    assert cs.is_valid_nie("Z1234567R")
    assert not cs.is_valid_nie("X1234567A")
    assert not cs.is_valid_nie("A1234567L")


def test_italian_codice_fiscale() -> None:
    assert cs.is_valid_codice_fiscale("RSSMRA85T10A562S")
    assert cs.is_valid_codice_fiscale("rssmra85t10a562s")
    assert not cs.is_valid_codice_fiscale("RSSMRA85T10A562T")
    assert not cs.is_valid_codice_fiscale("RSSMRA85T99A562S")  # day 99
    # omocodia: the last digit replaced by its letter (2 -> N), check letter recomputed
    omocode = "RSSMRA85T10A56N"
    assert cs.is_valid_codice_fiscale(omocode + cs.codice_fiscale_check(omocode))


def test_dutch_bsn() -> None:
    assert cs.is_valid_bsn("123456782")
    assert cs.is_valid_bsn("1112.22.333")
    assert not cs.is_valid_bsn("123456789")
    assert not cs.is_valid_bsn("000000000")
    assert not any(cs.is_valid_bsn(wrong) for wrong in _one_digit_changes("123456782"))


def test_german_steuer_id() -> None:
    for valid in ("86095742719", "47036892816", "65929970489", "57549285017", "25768131411"):
        assert cs.is_valid_steuer_id(valid), valid
    assert cs.is_valid_steuer_id("86 095 742 719")
    assert not cs.is_valid_steuer_id("86095742710")  # check digit
    assert not cs.is_valid_steuer_id("06095742719")  # leading zero
    assert not cs.is_valid_steuer_id("12345678903")  # every digit once: no repeated digit
    assert cs.iso7064_mod11_10("8609574271") == "9"


def test_french_nir() -> None:
    assert cs.is_valid_nir("2 69 05 49 588 157 80")
    assert cs.is_valid_nir("269054958815780")
    assert not cs.is_valid_nir("269054958815781")
    assert not cs.is_valid_nir("569054958815780")  # sex digit 5
    assert not cs.is_valid_nir("269134958815780")  # month 13
    for dept, value in (("2A", "19"), ("2B", "18")):
        body = f"1840{'3'}{dept}12345678"[:13]
        assert body[5:7] == dept
        key = f"{97 - int(body.replace(dept, value)) % 97:02d}"
        assert cs.nir_key(body) == key
        assert cs.is_valid_nir(body + key)
        assert not cs.is_valid_nir(body + f"{(int(key) + 1) % 100:02d}")
