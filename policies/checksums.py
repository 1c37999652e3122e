"""Check-digit arithmetic and issuer tables for identifiers with public check digits.

Pure functions on strings (no Presidio, no regexes over free text): payment card numbers (Luhn and
the issuer ranges), IBAN (the registry's country lengths and ISO 7064 mod 97-10), Spanish DNI/NIE,
Italian codice fiscale, Dutch BSN, German Steuer-IdNr, French NIR, UK NHS number. Each
``is_valid_*`` takes the candidate as written (separators allowed where the identifier's usual layout
has them) and says whether it is a well-formed, checksum-valid identifier. ``identifier_recognizers``
builds on them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

_SEPARATORS = re.compile(r"[\s.\-/]")


def compact(value: str) -> str:
    """``value`` without white space, dots, hyphens and slashes, upper-cased."""
    return _SEPARATORS.sub("", value).upper()


# ---- payment cards -------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """True if the ASCII digit string passes the Luhn (mod 10) check (ISO/IEC 7812-1 annex B)."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body`` + digit Luhn-valid."""
    for candidate in "0123456789":
        if luhn_valid(body + candidate):
            return candidate
    raise ValueError("body must be ASCII digits")


class IssuerRange(NamedTuple):
    network: str
    low: str  # inclusive prefix range: an account number whose first len(low) digits are in [low, high]
    high: str
    lengths: tuple[int, ...]


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


# Issuer identification number (IIN) ranges and account-number lengths. Sources: ISO/IEC 7812-1 (the
# numbering scheme), the networks' own published ranges (Mastercard's 2-series 222100-272099 announced
# in 2014 and live since 2017; Discover Global Network's IIN range table for Discover, Diners Club
# International and the UnionPay co-brand 622126-622925; JCB's 3528-3589 and its legacy 15-digit 1800 /
# 2131 numbers; UnionPay's 62 and 81 ranges; NSPK's Mir 2200-2204; NPCI's RuPay ranges), as compiled in
# the "Payment card number" article of the English Wikipedia (IIN table, 2024). Overlapping entries are
# fine: a number is in range if any entry accepts its prefix and length. Left out: UATP (airline
# accounts, any 15-digit number starting with 1), which would claim half of all French NIRs.
ISSUER_RANGES: tuple[IssuerRange, ...] = (
    IssuerRange("American Express", "34", "34", (15,)),
    IssuerRange("American Express", "37", "37", (15,)),
    IssuerRange("Visa", "4", "4", (13, 16, 19)),
    IssuerRange("Mastercard", "51", "55", (16,)),
    IssuerRange("Mastercard", "2221", "2720", (16,)),
    IssuerRange("Discover", "6011", "6011", _span(16, 19)),
    IssuerRange("Discover", "644", "649", _span(16, 19)),
    IssuerRange("Discover", "65", "65", _span(16, 19)),
    IssuerRange("Discover/UnionPay co-brand", "622126", "622925", _span(16, 19)),
    IssuerRange("JCB", "3528", "3589", _span(16, 19)),
    # The whole 35 block: JCB's published range is 3528-3589, but card-type tables (and generators
    # of test data) treat any 35 number as JCB; a Luhn-valid 35 number is far likelier a card.
    IssuerRange("JCB (35 block)", "35", "35", _span(16, 19)),
    IssuerRange("JCB (legacy ranges)", "3088", "3094", (16,)),
    IssuerRange("JCB (legacy ranges)", "3096", "3102", (16,)),
    IssuerRange("JCB (legacy ranges)", "3112", "3120", (16,)),
    IssuerRange("JCB (legacy ranges)", "3158", "3159", (16,)),
    IssuerRange("JCB (legacy ranges)", "3337", "3349", (16,)),
    IssuerRange("JCB 15-digit", "1800", "1800", (15,)),
    IssuerRange("JCB 15-digit", "2131", "2131", (15,)),
    IssuerRange("Diners Club Carte Blanche", "300", "305", _span(14, 19)),
    IssuerRange("Diners Club International", "3095", "3095", _span(14, 19)),
    IssuerRange("Diners Club International", "36", "36", _span(14, 19)),
    IssuerRange("Diners Club International", "38", "39", _span(14, 19)),
    IssuerRange("Maestro", "50", "50", _span(12, 19)),
    IssuerRange("Maestro", "56", "69", _span(12, 19)),
    IssuerRange("Maestro", "5893", "5893", _span(12, 19)),
    IssuerRange("Maestro (legacy 0604, listed in card-type tables)", "0604", "0604", _span(12, 19)),
    IssuerRange("UnionPay", "62", "62", _span(16, 19)),
    IssuerRange("UnionPay", "81", "81", _span(16, 19)),
    IssuerRange("Mir", "2200", "2204", _span(16, 19)),
    IssuerRange("BORICA", "2205", "2205", (16,)),
    IssuerRange("RuPay", "60", "60", (16,)),
    IssuerRange("RuPay", "65", "65", (16,)),
    IssuerRange("RuPay", "82", "82", (16,)),
    IssuerRange("RuPay", "508", "508", (16,)),
    IssuerRange("RuPay (JCB co-brand)", "353", "353", (16,)),
    IssuerRange("RuPay (JCB co-brand)", "356", "356", (16,)),
    IssuerRange("Troy", "9792", "9792", (16,)),
    IssuerRange("Verve", "506099", "506198", (16, 18, 19)),
    IssuerRange("Verve", "507865", "507964", (16, 18, 19)),
    IssuerRange("Verve", "650002", "650027", (16, 18, 19)),
    IssuerRange("Dankort", "5019", "5019", (16,)),
    IssuerRange("InterPayment", "636", "636", _span(16, 19)),
    IssuerRange("InstaPayment", "637", "639", (16,)),
    IssuerRange("Humo", "9860", "9860", (16,)),
    IssuerRange("UzCard", "8600", "8600", (16,)),
)
CARD_LENGTHS = (12, 19)  # the shortest and longest account numbers of any network above


def card_networks(digits: str) -> list[str]:
    """Networks whose registered ranges hold this account number (prefix and length); [] if none."""
    length = len(digits)
    return [
        entry.network
        for entry in ISSUER_RANGES
        if length in entry.lengths and entry.low <= digits[: len(entry.low)] <= entry.high
    ]


def is_valid_card(value: str) -> bool:
    """A 12-19-digit number (spaces or hyphens allowed) in a registered issuer range that passes Luhn."""
    digits = re.sub(r"[ \-]", "", value)
    if not CARD_LENGTHS[0] <= len(digits) <= CARD_LENGTHS[1] or not digits.isascii() or not digits.isdigit():
        return False
    return bool(card_networks(digits)) and luhn_valid(digits)


# ---- IBAN ----------------------------------------------------------------------------------------

# Country code -> IBAN length, from the SWIFT IBAN Registry (ISO 13616), release 99 (2025), every
# country listed there including the newer entries (Burundi, Djibouti, Falklands, Honduras, Mongolia,
# Nicaragua, Oman, Somalia, Yemen, ...). Territories using another country's IBAN format write that
# country's code (French overseas departments write FR), so they need no entry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def mod97(value: str) -> int:
    """ISO 7064 MOD 97-10 remainder of an alphanumeric string (letters count as 10..35)."""
    remainder = 0
    for char in value:
        number = int(char, 36)  # "0".."9" -> 0..9, "A".."Z" -> 10..35
        remainder = (remainder * (100 if number > 9 else 10) + number) % 97
    return remainder


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits of the IBAN for ``country`` and ``bban``."""
    return f"{98 - mod97(bban.upper() + country.upper() + '00'):02d}"


def is_valid_iban(value: str) -> bool:
    """A registered country code, that country's length and mod 97 == 1 (spaces allowed anywhere)."""
    iban = re.sub(r"\s", "", value).upper()
    if not iban.isascii() or not iban.isalnum() or IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    if not iban[2:4].isdigit():
        return False
    return mod97(iban[4:] + iban[:4]) == 1


# ---- Spain: DNI / NIE ----------------------------------------------------------------------------

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"  # Real Decreto 1553/2005: letter = number mod 23


def dni_letter(number: str) -> str:
    return _DNI_LETTERS[int(number) % 23]


def is_valid_dni(value: str) -> bool:
    """Spanish DNI: 8 digits and the mod-23 control letter."""
    code = compact(value)
    return re.fullmatch(r"\d{8}[A-Z]", code) is not None and dni_letter(code[:8]) == code[8]


def is_valid_nie(value: str) -> bool:
    """Spanish NIE: X/Y/Z (read as 0/1/2), 7 digits and the DNI's mod-23 control letter."""
    code = compact(value)
    if re.fullmatch(r"[XYZ]\d{7}[A-Z]", code) is None:
        return False
    return dni_letter(str("XYZ".index(code[0])) + code[1:8]) == code[8]


# ---- Italy: codice fiscale -----------------------------------------------------------------------

# DM 23/12/1976: characters in odd positions (1st, 3rd, ...) map through this table, even ones to
# their own value (digit or A=0..Z=25); the check letter is the sum mod 26.
_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
# Omocodia: digits replaced by these letters (0..9) when two people would share a code.
_CF_OMOCODE = "LMNPQRSTUV"
_CF_SHAPE = re.compile(
    r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
)


def _cf_value(char: str) -> int:
    return ord(char) - (48 if char.isdigit() else 65)


def codice_fiscale_check(first15: str) -> str:
    total = sum(
        _CF_ODD[_cf_value(char)] if index % 2 == 0 else _cf_value(char) for index, char in enumerate(first15)
    )
    return chr(65 + total % 26)


def is_valid_codice_fiscale(value: str) -> bool:
    """Italian codice fiscale of a person: the 16-character shape and its check letter."""
    code = compact(value)
    if _CF_SHAPE.fullmatch(code) is None:
        return False
    day = int("".join(str(_CF_OMOCODE.index(c)) if c in _CF_OMOCODE else c for c in code[9:11]))
    if not (1 <= day <= 31 or 41 <= day <= 71):  # women: day + 40
        return False
    return codice_fiscale_check(code[:15]) == code[15]


# ---- Netherlands: BSN ----------------------------------------------------------------------------


def is_valid_bsn(value: str) -> bool:
    """Dutch burgerservicenummer: 9 digits passing the 11-proof (weights 9..2 and -1)."""
    digits = compact(value)
    if re.fullmatch(r"\d{9}", digits) is None or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0


# ---- Germany: steuerliche Identifikationsnummer ------------------------------------------------


def iso7064_mod11_10(digits: str) -> str:
    """ISO 7064 MOD 11,10 check digit of a digit string."""
    product = 10
    for char in digits:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return "0" if check == 10 else str(check)


def is_valid_steuer_id(value: str) -> bool:
    """German Steuer-IdNr: 11 digits, no leading 0, in the first 10 exactly one digit twice or three
    times (never three in a row) and the others at most once (BZSt rules), ISO 7064 MOD 11,10 check."""
    digits = compact(value)
    if re.fullmatch(r"[1-9]\d{10}", digits) is None:
        return False
    body = digits[:10]
    counts = Counter(body)
    repeated = [d for d, n in counts.items() if n > 1]
    if len(repeated) != 1 or counts[repeated[0]] > 3:
        return False
    if counts[repeated[0]] == 3 and repeated[0] * 3 in body:
        return False
    return iso7064_mod11_10(body) == digits[10]


# ---- France: NIR (numéro de sécurité sociale) -------------------------------------------------


def nir_key(first13: str) -> str:
    """The two-digit key of a NIR: 97 - (number mod 97), Corsica's 2A / 2B read as 19 / 18."""
    code = first13.upper()
    number = code[:5] + {"2A": "19", "2B": "18"}.get(code[5:7], code[5:7]) + code[7:]
    return f"{97 - int(number) % 97:02d}"


def is_valid_nir(value: str) -> bool:
    """French NIR: sex digit, year, month (01-12 or INSEE's 20-42/50-99 for unknown months),
    department (two digits, 2A/2B for Corsica, 97x/98x overseas), commune, order number, mod-97 key."""
    code = compact(value)
    if re.fullmatch(r"[1-478]\d{4}(?:\d{2}|2[AB])\d{8}", code) is None:
        return False
    month = int(code[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return nir_key(code[:13]) == code[13:]


# ---- United Kingdom: NHS number ------------------------------------------------------------------


def is_valid_nhs(value: str) -> bool:
    """UK NHS number (also Scotland's CHI and Northern Ireland's H&C number, same check): 10 digits, the
    last the mod-11 check digit of the first 9 (weights 10..2; 11 - remainder, 11 read as 0, 10 never
    issued). One random 10-digit number in 11 passes."""
    digits = compact(value)
    if re.fullmatch(r"\d{10}", digits) is None or digits == "0000000000":
        return False
    check = 11 - sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    return check != 10 and check % 11 == int(digits[9])
