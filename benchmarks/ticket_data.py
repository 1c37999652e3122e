"""A seeded generator of support-ticket rows with PII columns, for profiling tests and benchmarks.

Every value is invented here, from syllables and digits (no word list from a data generator, no real
corpus): people's names are pronounceable but mostly unknown to NER, which is the case per-cell
detection misses. Columns: ``ticket_id`` (``T-100000``...), ``customer_name``, ``email``, ``phone``,
``ssn``, ``card`` (Luhn-valid, 4-series), ``address``, ``city``, ``country`` (2-letter code),
``notes`` (free text that quotes none of the row's PII, so a grep for planted values over the whole
output measures the columns alone).

``python -m benchmarks.ticket_data N OUT.csv [--seed S]`` writes a CSV.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

COLUMNS = ["ticket_id", "customer_name", "email", "phone", "ssn", "card", "address", "city", "country",
           "notes"]
PII_COLUMNS = ["customer_name", "email", "phone", "ssn", "card", "address", "city"]

_ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "j", "k", "kl", "l", "m", "n", "p", "pr", "r", "s",
           "st", "t", "tr", "v", "w", "z", "th", "sh", "ch"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ei", "io", "ou", "y"]
_CODAS = ["", "", "n", "l", "r", "s", "th", "nd", "rk", "lm", "x", "v"]
_STREET_TYPES = ["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way", "Place"]
_COUNTRIES = ["US", "GB", "DE", "FR", "NL", "IE", "ES", "IT", "CA", "AU"]
_NOTES = [
    "Customer reports the invoice total is wrong after the last upgrade.",
    "Login fails with an expired session error on the mobile app since Monday.",
    "Requested a refund for a duplicate charge; waiting for the billing team.",
    "Package arrived damaged, photos attached, replacement requested.",
    "Cannot reset the password, the reset email never arrives.",
    "Asked to close the account at the end of the month and export the data.",
    "Wants to change the delivery slot to the afternoon for all future orders.",
    "Subscription renewed twice this year, please check the plan settings.",
]
_NOTE_WORDS = {w.strip(".,;").lower() for note in _NOTES for w in note.split()}


def _word(rng: random.Random, syllables: int) -> str:
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)
    return word.capitalize()


def _name_part(rng: random.Random) -> str:
    while True:
        part = _word(rng, rng.choice((1, 2, 2, 3)))
        if len(part) >= 4 and part.lower() not in _NOTE_WORDS:
            return part


def _luhn_complete(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will be appended to the right
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])  # 000, 666 and 9xx are never issued
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def ticket_rows(n: int, seed: int = 13) -> list[dict[str, str]]:
    """``n`` ticket rows, the same for the same ``seed``."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for i in range(n):
        first, last = _name_part(rng), _name_part(rng)
        name = f"{first} {last}" if rng.random() > 0.1 else f"{first} {_name_part(rng)} {last}"
        domain = rng.choice(["example.com", "example.org", "example.net"])
        card = _luhn_complete("4" + "".join(str(rng.randint(0, 9)) for _ in range(14)))
        card = " ".join(card[k:k + 4] for k in range(0, 16, 4)) if rng.random() < 0.5 else card
        phone = rng.choice([
            f"+1 {rng.randint(201, 989)} 555 {rng.randint(100, 9999):04d}",
            f"({rng.randint(201, 989)}) 555-{rng.randint(100, 9999):04d}",
            f"+44 20 7946 {rng.randint(0, 9999):04d}",
        ])
        rows.append({
            "ticket_id": f"T-{100000 + i}",
            "customer_name": name,
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{domain}",
            "phone": phone,
            "ssn": _ssn(rng),
            "card": card,
            "address": f"{rng.randint(1, 9999)} {_name_part(rng)} {rng.choice(_STREET_TYPES)}",
            "city": _name_part(rng) + rng.choice(["", "", "ville", "ton", "burg", " Falls"]),
            "country": rng.choice(_COUNTRIES),
            "notes": rng.choice(_NOTES),
        })
    return rows


def planted_values(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Per PII column, every value the rows hold (names also by part): none may reach an output."""
    out: dict[str, list[str]] = {c: [] for c in PII_COLUMNS}
    for row in rows:
        for column in PII_COLUMNS:
            out[column].append(row[column])
        out["customer_name"].extend(row["customer_name"].split())
    return out


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    write_csv(ticket_rows(args.n, args.seed), args.out)


if __name__ == "__main__":
    main()
