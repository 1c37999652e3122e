"""Fake people for the tests' inputs, and the scans that prove none of them reaches an output."""

from __future__ import annotations

import re
from pathlib import Path

# Fake PII used by the tests' own inputs; none of it may appear in any output, log or manifest.
PEOPLE = [
    ("Margaret Sullivan", "margaret.sullivan@example.org", "212-555-0147"),
    ("Robert Whitfield", "bob.whitfield@example.net", "415-555-0199"),
    ("Evangeline Moreau", "evangeline.moreau@example.com", "646-555-0112"),
    ("Daniel Kowalski", "d.kowalski@example.org", "312-555-0175"),
]


def pii_values(people: list[tuple[str, str, str]] = PEOPLE) -> list[str]:
    """Every identifying string of ``people`` (names, their parts, emails, phone numbers)."""
    values: list[str] = []
    for name, email, phone in people:
        values += [name, *name.split(), email, phone]
    return values


def person_record(i: int, country: str = "DE") -> dict[str, str]:
    """A flat record for person ``i`` (cycling through :data:`PEOPLE`) whose ``notes`` quote their PII."""
    name, email, phone = PEOPLE[i % len(PEOPLE)]
    return {
        "id": str(i),
        "name": name,
        "email": email,
        "phone": phone,
        "country": country,
        "notes": f"{name} asked us to call {phone} or write to {email}.",
    }


def scan_for(paths: list[Path], needles: list[str], extra_text: str = "") -> list[tuple[str, str]]:
    """(where, needle) for every needle found as a whole word in the files (recursively) or ``extra_text``.

    Whole words only, so a first name such as "Tim" does not match "eventTime".
    """
    patterns = {n: re.compile(rb"(?<![A-Za-z0-9])" + re.escape(n.encode()) + rb"(?![A-Za-z0-9])")
                for n in set(needles)}
    hits = []
    files: list[Path] = []
    for p in paths:
        files += [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
    blobs = [(str(f), f.read_bytes()) for f in files] + [("terminal/logs", extra_text.encode())]
    for where, data in blobs:
        hits += [(where, n) for n, pat in patterns.items() if pat.search(data)]
    return hits
