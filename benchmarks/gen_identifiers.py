"""Seeded generator of checksum-valid identifiers in free text and CSV-like records, with near-misses.

Every identifier is built from its public rules (issuer ranges, the IBAN registry, check-digit
arithmetic in ``redactline.policies.checksums``), never taken from a data set or a data generator's
word lists. Each document says which values in it are valid identifiers (they must not survive
redaction) and which are near-misses (invalid checksums, out-of-range card numbers, order numbers,
phone numbers, dates, amounts: they should not be flagged as identifiers).

Run: ``.venv/bin/python -m benchmarks.gen_identifiers [--seed 13] [--docs 2000] [--out FILE.jsonl]``.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from redactline.policies import checksums as cs

DIGITS = string.digits
LETTERS = string.ascii_uppercase


@dataclass
class Doc:
    text: str
    form: str  # "text" or "csv"
    valid: list[dict[str, str]] = field(default_factory=list)  # {"kind", "value"}
    near: list[dict[str, str]] = field(default_factory=list)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


def _groups(value: str, sizes: list[int], sep: str) -> str:
    parts, start = [], 0
    for size in sizes:
        if start >= len(value):
            break
        parts.append(value[start : start + size])
        start += size
    if start < len(value):
        parts.append(value[start:])
    return sep.join(parts)


# ---- cards ---------------------------------------------------------------------------------------

# kind -> (prefix chooser, lengths). Prefixes are drawn from the issuer ranges each network publishes.
CARD_KINDS: dict[str, tuple[Callable[[random.Random], str], tuple[int, ...]]] = {
    "card:visa": (lambda r: "4", (13, 16, 19)),
    "card:mastercard": (lambda r: str(r.randint(51, 55)), (16,)),
    "card:mastercard-2series": (lambda r: str(r.randint(2221, 2720)), (16,)),
    "card:amex": (lambda r: r.choice(["34", "37"]), (15,)),
    "card:discover": (
        lambda r: r.choice(["6011", str(r.randint(644, 649)), "65", str(r.randint(622126, 622925))]),
        (16, 19),
    ),
    "card:jcb": (lambda r: str(r.randint(3528, 3589)), (16, 17, 18, 19)),
    "card:jcb-15": (lambda r: r.choice(["1800", "2131"]), (15,)),
    "card:diners": (lambda r: r.choice([str(r.randint(300, 305)), "36", "38", "39"]), (14, 16)),
    "card:maestro": (
        lambda r: r.choice(["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"]),
        tuple(range(12, 20)),
    ),
    "card:unionpay": (lambda r: r.choice([str(r.randint(6200, 6220)), str(r.randint(6230, 6299)), "81"]),
                      (16, 17, 18, 19)),
    "card:mir": (lambda r: str(r.randint(2200, 2204)), (16, 19)),
    "card:rupay": (lambda r: r.choice(["60", "65", "508", "82"]), (16,)),
}


def card_number(rng: random.Random, kind: str) -> str:
    prefix_of, lengths = CARD_KINDS[kind]
    length = rng.choice(lengths)
    while True:
        prefix = prefix_of(rng)
        body = prefix + _digits(rng, length - len(prefix) - 1)
        number = body + cs.luhn_check_digit(body)
        if cs.is_valid_card(number):
            return number


def card_layout(rng: random.Random, number: str) -> str:
    style = rng.random()
    if style < 0.3:
        return number
    sep = " " if style < 0.75 else "-"
    if len(number) == 15:
        return _groups(number, [4, 6, 5], sep)
    if len(number) == 14 and rng.random() < 0.5:
        return _groups(number, [4, 6, 4], sep)
    return _groups(number, [4] * 5, sep)


# ---- IBAN ----------------------------------------------------------------------------------------

# Countries whose BBAN starts with a four-letter bank code (the others are numeric or mixed later).
_ALPHA_BANK = {"BG", "BH", "GB", "GI", "IE", "JO", "KW", "LC", "LV", "MT", "MU", "NL", "PK", "PS", "QA",
               "RO", "VG", "AZ", "GE", "FK", "SC", "YE", "IQ", "OM", "SV", "NI", "HN"}


def iban(rng: random.Random, country: str) -> str:
    length = cs.IBAN_LENGTHS[country]
    bank = "".join(rng.choice(LETTERS) for _ in range(4)) if country in _ALPHA_BANK else _digits(rng, 4)
    bban = (bank + _digits(rng, length))[: length - 4]
    return country + cs.iban_check_digits(country, bban) + bban


def iban_layout(rng: random.Random, value: str) -> str:
    return value if rng.random() < 0.4 else _groups(value, [4] * 9, " ")


# ---- national identifiers ------------------------------------------------------------------------


def dni(rng: random.Random) -> str:
    number = _digits(rng, 8)
    letter = cs.dni_letter(number)
    style = rng.random()
    if style < 0.5:
        return number + letter
    if style < 0.8:
        return f"{number}-{letter}"
    return f"{number[:2]}.{number[2:5]}.{number[5:]}-{letter}"


def nie(rng: random.Random) -> str:
    head = rng.choice("XYZ")
    number = _digits(rng, 7)
    letter = cs.dni_letter(str("XYZ".index(head)) + number)
    return f"{head}{number}{letter}" if rng.random() < 0.6 else f"{head}-{number}-{letter}"


def codice_fiscale(rng: random.Random) -> str:
    letters = "".join(rng.choice(LETTERS) for _ in range(6))
    day = rng.randint(1, 28) + (40 if rng.random() < 0.5 else 0)
    body = f"{letters}{rng.randint(0, 99):02d}{rng.choice('ABCDEHLMPRST')}{day:02d}"
    body += rng.choice(LETTERS) + _digits(rng, 3)
    return body + cs.codice_fiscale_check(body)


def bsn(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(1, 9)) + _digits(rng, 7)
        remainder = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True)) % 11
        if remainder < 10:
            number = body + str(remainder)
            return number if rng.random() < 0.6 else f"{number[:4]}.{number[4:6]}.{number[6:]}"


def steuer_id(rng: random.Random) -> str:
    while True:
        chosen = rng.sample(DIGITS, 9)
        body_digits = chosen + [rng.choice(chosen)]
        rng.shuffle(body_digits)
        body = "".join(body_digits)
        if body[0] == "0":
            continue
        number = body + cs.iso7064_mod11_10(body)
        if cs.is_valid_steuer_id(number):
            return number if rng.random() < 0.6 else f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"


def nir(rng: random.Random) -> str:
    dept = rng.choice([f"{rng.randint(1, 95):02d}", "2A", "2B", f"{rng.randint(1, 95):02d}"])
    body = f"{rng.choice('12')}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{dept}"
    body += f"{rng.randint(1, 990):03d}{rng.randint(1, 999):03d}"
    value = body + cs.nir_key(body)
    if rng.random() < 0.5:
        return value
    return " ".join([value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:]])


NATIONAL_KINDS: dict[str, Callable[[random.Random], str]] = {
    "es:dni": dni,
    "es:nie": nie,
    "it:codice-fiscale": codice_fiscale,
    "nl:bsn": bsn,
    "de:steuer-id": steuer_id,
    "fr:nir": nir,
}


# ---- near-misses ---------------------------------------------------------------------------------


def _wrong_check(value: str, rng: random.Random, valid: Callable[[str], bool]) -> str:
    """``value`` with its last digit changed so that ``valid`` fails."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    while True:
        index = positions[-1] if rng.random() < 0.7 else rng.choice(positions)
        changed = value[:index] + rng.choice([d for d in DIGITS if d != value[index]]) + value[index + 1 :]
        if not valid(changed):
            return changed


def near_miss(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(
        ["card-bad-luhn", "card-no-issuer", "iban-bad-check", "dni-bad-letter", "bsn-bad-check",
         "steuer-bad-check", "nir-bad-key", "order-number", "phone", "date", "amount", "tracking",
         "random-digits"]
    )
    if kind == "card-bad-luhn":
        number = card_number(rng, rng.choice(sorted(CARD_KINDS)))
        return kind, card_layout(rng, _wrong_check(number, rng, cs.is_valid_card))
    if kind == "card-no-issuer":
        while True:  # Luhn-valid 16 digits in no registered range (0, 7 and 9 lead nothing here)
            body = rng.choice("079") + _digits(rng, 14)
            number = body + cs.luhn_check_digit(body)
            if not cs.is_valid_card(number):
                return kind, card_layout(rng, number)
    if kind == "iban-bad-check":
        value = iban(rng, rng.choice(sorted(cs.IBAN_LENGTHS)))
        return kind, iban_layout(rng, _wrong_check(value, rng, cs.is_valid_iban))
    if kind == "dni-bad-letter":
        number = _digits(rng, 8)
        letter = rng.choice([c for c in "TRWAGMYFPDXBNJZSQVHLCKE" if c != cs.dni_letter(number)])
        return kind, number + letter
    if kind == "bsn-bad-check":
        return kind, _wrong_check(bsn(rng).replace(".", ""), rng, cs.is_valid_bsn)
    if kind == "steuer-bad-check":
        return kind, _wrong_check(steuer_id(rng).replace(" ", ""), rng, cs.is_valid_steuer_id)
    if kind == "nir-bad-key":
        return kind, _wrong_check(nir(rng), rng, cs.is_valid_nir)
    if kind == "order-number":
        return kind, rng.choice(
            [f"#{rng.randint(10000, 9999999)}", f"A-{_digits(rng, 8)}",
             f"{rng.randint(2019, 2025)}-{_digits(rng, 6)}", f"PO{_digits(rng, 10)}",
             f"T-{rng.randint(100000, 999999)}"]
        )
    if kind == "phone":
        return kind, rng.choice(
            [f"+1 {rng.randint(201, 989)} 555 {_digits(rng, 4)}",
             f"({rng.randint(201, 989)}) 555-{_digits(rng, 4)}",
             f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}", f"+49 30 {_digits(rng, 8)}",
             f"06 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}"]
        )
    if kind == "date":
        y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        return kind, rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{d:02d}.{m:02d}.{y}"])
    if kind == "amount":
        return kind, rng.choice([f"{rng.randint(1, 999)},{_digits(rng, 3)}.{_digits(rng, 2)}",
                                 f"EUR {rng.randint(10, 99999)}.{_digits(rng, 2)}"])
    if kind == "random-digits":  # some pass a checksum by chance: then flagging them is expected
        return kind, str(rng.randint(1, 9)) + _digits(rng, rng.randint(8, 18))
    return kind, f"1Z{''.join(rng.choice(LETTERS + DIGITS) for _ in range(16))}"


# ---- sentences -----------------------------------------------------------------------------------

NEUTRAL = [
    "Reference {v} was added to the file on Monday.",
    "Please double-check {v} before the end of the week.",
    "{v}",
    "The value {v} came from the old system.",
    "Updated entry: {v}; no further action needed.",
    "We received {v} in yesterday's upload.",
    "Item ({v}) was copied from the form.",
]
CONTEXT = {
    "card": ["Card number: {v}", "She paid with her credit card {v} at the desk.", "visa {v} exp 09/27",
             "The customer's debit card {v} was declined twice.", "cc# {v}"],
    "iban": ["IBAN: {v}", "Please wire the refund to {v} (SEPA transfer).", "bank account {v}",
             "Überweisung auf IBAN {v} bitte."],
    "es": ["DNI: {v}", "Su NIF es {v}.", "con documento de identidad {v}", "NIE {v} del cliente"],
    "it": ["Codice fiscale: {v}", "CF {v} del paziente", "il codice fiscale {v} risulta errato"],
    "nl": ["BSN: {v}", "Burgerservicenummer {v} van de klant", "bsn {v}"],
    "de": ["Steuer-ID: {v}", "Ihre Steueridentifikationsnummer (IdNr) lautet {v}.", "IdNr {v}"],
    "fr": ["NIR : {v}", "Numéro de sécurité sociale {v}", "sécu {v}, dossier complet"],
}
CSV_HEADERS = ["ticket_id", "country", "identifier", "amount", "status"]


def _context_of(kind: str) -> str:
    return kind.split(":")[0] if not kind.startswith("card") else "card"


def _sentence(rng: random.Random, kind: str, value: str) -> str:
    if rng.random() < 0.5:
        return rng.choice(NEUTRAL).format(v=value)
    return rng.choice(CONTEXT[_context_of(kind)]).format(v=value)


def _valid_identifier(rng: random.Random) -> tuple[str, str]:
    family = rng.random()
    if family < 0.45:
        kind = rng.choice(sorted(CARD_KINDS))
        return kind, card_layout(rng, card_number(rng, kind))
    if family < 0.75:
        country = rng.choice(sorted(cs.IBAN_LENGTHS))
        return f"iban:{country}", iban_layout(rng, iban(rng, country))
    kind = rng.choice(sorted(NATIONAL_KINDS))
    return kind, NATIONAL_KINDS[kind](rng)


def generate(seed: int = 13, docs: int = 2000) -> Iterator[Doc]:
    """``docs`` documents: free text (one to three sentences) or a CSV-like header plus row."""
    rng = random.Random(seed)
    for _ in range(docs):
        valid = [_valid_identifier(rng) for _ in range(rng.choice([1, 1, 2]))]
        near = [near_miss(rng) for _ in range(rng.choice([0, 1, 2]))]
        if rng.random() < 0.3:
            kind, value = valid[0]
            other = near[0][1] if near else f"{rng.randint(1, 999)}.{_digits(rng, 2)}"
            country = kind.split(":")[1] if kind.startswith("iban") else kind.split(":")[0].upper()
            country = "US" if country == "CARD" else country
            row = [f"T-{rng.randint(100000, 999999)}", country, value, other, "open"]
            doc = Doc("\n".join([",".join(CSV_HEADERS), ",".join(row)]), "csv")
            doc.valid.append({"kind": kind, "value": value})
            if near:
                doc.near.append({"kind": near[0][0], "value": near[0][1]})
            yield doc
            continue
        parts: list[str] = []
        doc = Doc("", "text")
        for kind, value in valid:
            parts.append(_sentence(rng, kind, value))
            doc.valid.append({"kind": kind, "value": value})
        for kind, value in near:
            parts.append(rng.choice(NEUTRAL).format(v=value))
            doc.near.append({"kind": kind, "value": value})
        rng.shuffle(parts)
        doc.text = " ".join(parts)
        yield doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--out", help="JSONL file (default: standard output)")
    args = parser.parse_args(argv)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        for doc in generate(args.seed, args.docs):
            out.write(json.dumps(asdict(doc), ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
