"""Seeded generator of false-positive bait in support-ticket text, with a little real PII beside it.

Bait is what spaCy's NER likes to tag although it names no one: ticket / order / invoice ids
(``T-100000``, ``INV-2024-0042``), two-letter country codes, common acronyms (``IBAN``, ``SSN``,
``CEO``), product names with model codes, plain numbers and relative time (``3500 units``, ``last
month``). Real PII (phone numbers in several layouts, including ``+1 415 555 0172``, e-mail addresses,
made-up names) is there to check that removing false positives does not uncover PII. Every word
list is written here; names are built from syllables, never taken from a data set or a generator.

Output: JSON Lines in the ``redactline eval`` corpus format (``text`` + ``spans`` of PII, each with
``start``, ``end``, ``type``) plus ``bait``: ``[{"start", "end", "kind"}]``.

Run: ``.venv/bin/python -m benchmarks.gen_fp [--seed 7] [--docs 1500] [--out FILE.jsonl]``.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field


def _w(words: str) -> list[str]:
    return words.split()


COUNTRIES = _w("US GB DE FR ES NL SE NO DK FI PL CZ AT CH BE PT GR HU RO BG CA MX BR AR AU NZ JP KR IN")
COUNTRIES.append("ZA")
ACRONYMS = _w("IBAN SSN ID CEO CFO VAT PIN ATM ASAP FAQ PDF API VPN USB SMS SKU ETA DOB HR SLA")
PRODUCT_SERIES = _w("Nimbus Vertex Aero Quanta Solis Terra Orbit Pulse Nova Zenith")
PRODUCT_NOUNS = _w("router tablet kettle monitor headset dock printer camera speaker thermostat")
PRODUCT_TIERS = _w("Pro Max Lite Plus Mini Ultra Air")
ID_PREFIXES = _w("T INV ORD CASE SR REF RMA PO TKT REQ")
UNITS = _w("units requests items pages licences seats rows orders files messages")
RELATIVE = (
    "last month", "next week", "the weekend", "this morning", "a few days ago", "later today",
    "the following year", "every morning", "a couple of weeks", "tomorrow",
)  # fmt: skip
SYLLABLES = _w("ka lo mi ren dor sa vel ti na bor lin ez ar mo qui sel dan ru fe ol")


@dataclass
class Doc:
    parts: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (text, pii, bait)

    def add(self, text: str, pii: str | None = None, bait: str | None = None) -> Doc:
        self.parts.append((text, pii, bait))
        return self

    def record(self) -> dict[str, object]:
        text, spans, bait, cursor = [], [], [], 0
        for piece, pii, kind in self.parts:
            if pii:
                spans.append({"start": cursor, "end": cursor + len(piece), "type": pii})
            if kind:
                bait.append({"start": cursor, "end": cursor + len(piece), "kind": kind})
            text.append(piece)
            cursor += len(piece)
        return {"text": "".join(text), "spans": spans, "bait": bait}


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def ticket_id(rng: random.Random) -> str:
    prefix = rng.choice(ID_PREFIXES)
    form = rng.randrange(4)
    if form == 0:
        return f"{prefix}-{rng.randint(100000, 999999)}"
    if form == 1:
        return f"{prefix}-{rng.randint(2019, 2026)}-{_digits(rng, 4)}"
    if form == 2:
        return f"{prefix}{_digits(rng, rng.randint(5, 8))}"
    letters = string.ascii_uppercase
    return f"{prefix}-{_digits(rng, 4)}-{rng.choice(letters)}{rng.choice(letters)}"


def product(rng: random.Random) -> str:
    series = rng.choice(PRODUCT_SERIES)
    if rng.random() < 0.5:
        return f"{series} {rng.choice(PRODUCT_TIERS)}"
    return f"{series} {rng.choice(string.ascii_uppercase)}{rng.randint(100, 9900)}"


def name(rng: random.Random) -> str:
    def word() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()

    return f"{word()} {word()}"


def phone(rng: random.Random) -> str:
    area, mid, last = rng.randint(201, 989), rng.randint(200, 999), _digits(rng, 4)
    return rng.choice(
        [
            f"+1 {area} {mid} {last}",
            f"+1 ({area}) {mid}-{last}",
            f"+1-{area}-{mid}-{last}",
            f"+44 20 {rng.randint(7000, 8999)} {_digits(rng, 4)}",
            f"+49 30 {_digits(rng, 8)}",
        ]
    )


def email(rng: random.Random) -> str:
    user = f"{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}.{_digits(rng, 2)}"
    return f"{user}@example.{rng.choice(['com', 'org', 'net'])}"


def _ticket(rng: random.Random) -> Doc:
    d = Doc()
    opener = rng.randrange(5)
    if opener == 0:
        d.add("Ticket ").add(ticket_id(rng), bait="ticket_id").add(" was reopened")
    elif opener == 1:
        d.add("Re: ").add(ticket_id(rng), bait="ticket_id").add(" refund request")
    elif opener == 2:
        d.add(ticket_id(rng), bait="ticket_id").add(" - customer asks about the invoice")
    elif opener == 3:
        d.add("Order ").add(ticket_id(rng), bait="ticket_id").add(" shipped to ")
        d.add(rng.choice(COUNTRIES), bait="country_code")
    else:
        d.add("Invoice ").add(ticket_id(rng), bait="ticket_id").add(" for ")
        d.add(str(rng.randint(120, 9800)), bait="number").add(f" {rng.choice(UNITS)}")
    d.add(". ")
    middle = rng.randrange(6)
    if middle == 0:
        d.add("Please send the ").add(rng.choice(ACRONYMS), bait="acronym").add(" again")
    elif middle == 1:
        d.add("The ").add(product(rng), bait="product").add(f" {rng.choice(PRODUCT_NOUNS)} stopped working ")
        d.add(rng.choice(RELATIVE), bait="relative_time")
    elif middle == 2:
        d.add("Country: ").add(rng.choice(COUNTRIES), bait="country_code").add(", plan: ")
        d.add(product(rng), bait="product")
    elif middle == 3:
        d.add("We processed ").add(str(rng.randint(120, 99000)), bait="number").add(f" {rng.choice(UNITS)} ")
        d.add(rng.choice(RELATIVE), bait="relative_time")
    elif middle == 4:
        d.add("The ").add(rng.choice(ACRONYMS), bait="acronym").add(" field on the form is empty")
    else:
        d.add("Escalated to the ").add(rng.choice(["CEO", "CFO", "HR", "SLA"]), bait="acronym")
        d.add(" team, see ").add(ticket_id(rng), bait="ticket_id")
    d.add(". ")
    closer = rng.randrange(4)
    if closer == 0:
        d.add("Call me at ").add(phone(rng), pii="PHONE_NUMBER").add(".")
    elif closer == 1:
        d.add("Contact: ").add(name(rng), pii="PERSON").add(", ").add(email(rng), pii="EMAIL_ADDRESS")
    elif closer == 2:
        d.add("Reach ").add(name(rng), pii="PERSON").add(" on ").add(phone(rng), pii="PHONE_NUMBER")
    else:
        d.add("Thanks, the ").add(product(rng), bait="product").add(" team")
    return d


def _cell(rng: random.Random) -> Doc:
    """A lone CSV cell: the context NER has the least of."""
    kind = rng.randrange(5)
    if kind == 0:
        return Doc().add(ticket_id(rng), bait="ticket_id")
    if kind == 1:
        return Doc().add(rng.choice(COUNTRIES), bait="country_code")
    if kind == 2:
        return Doc().add(rng.choice(ACRONYMS), bait="acronym")
    if kind == 3:
        return Doc().add(product(rng), bait="product")
    return Doc().add(phone(rng), pii="PHONE_NUMBER")


def generate(seed: int = 7, docs: int = 1500) -> Iterator[dict[str, object]]:
    rng = random.Random(seed)
    for _ in range(docs):
        yield (_cell(rng) if rng.random() < 0.3 else _ticket(rng)).record()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for record in generate(args.seed, args.docs):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
