"""Seeded generator of labelled free text with names and addresses (the dev corpus's JSONL shape).

Run: ``.venv/bin/python -m benchmarks.gen_freetext [--count N] [--seed S] [--out FILE]``.

Each line is ``{"id", "text", "spans": [{"start", "end", "type", "value"}], "template"}``: letters,
support chats with speaker labels, emails with signatures, narrative dialogue ("said X to Y"),
multi-line postal addresses in US, UK, German and French layouts, and all-caps / all-lower notes.

Every name, street and place part below is invented and written by hand for this file (no list
is taken from a data generator or from any corpus the project evaluates on), so the figures
``bench_freetext`` reports are on text the recognizers were not written against.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable

FIRST = [
    "Marlo", "Tessaly", "Orvin", "Brisa", "Kelden", "Ysolde", "Dacian", "Mirela", "Toren", "Alvie",
    "Quenby", "Rosalind", "Idris", "Fenna", "Ludo", "Carys", "Anselm", "Veda", "Jorah", "Nilsa",
    "Eamon", "Sabeth", "Tobiah", "Linnea", "Oriel", "Petrik", "Zaida", "Hollis", "Maelis", "Corwin",
]
LAST = [
    "Vantreese", "Oakhurst", "Pellinore", "Strand", "Quillfeather", "Dornbusch", "Marchetti",
    "Halloway", "Brennigan", "Okonkwo", "Lindqvist", "Fairweather", "Castellanos", "Whitlock",
    "Ravensworth", "Moreau", "Tillbrook", "Esterhazy", "Kowalczyk", "Abernathy", "Duvernay",
    "Sandoval", "Merriweather", "Holtmann", "Achterberg", "Petrossian", "Gallardo", "Thornbury",
]
STREET = [
    "Larkspur", "Wexley", "Amberfield", "Cobble Hill", "Harrowgate", "Juniper", "Millbrook",
    "Stonemere", "Ferncliff", "Ashdown", "Bramblewood", "Kestrel", "Quarry", "Wrenfield",
]
US_SUFFIX = ["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard", "Way", "Place"]
UK_SUFFIX = ["Road", "Lane", "Close", "Crescent", "Grove", "Terrace", "Mews", "Gardens"]
DE_STEM = ["Linden", "Birken", "Kastanien", "Mühlen", "Brunnen", "Ahorn", "Holunder", "Eichen"]
DE_SUFFIX = ["straße", "weg", "gasse", "allee", "ring", "platz"]
FR_TYPE = ["rue", "avenue", "boulevard", "chemin", "impasse", "allée"]
FR_NAME = ["des Tilleuls", "du Moulin", "de la Forge", "des Vignes", "du Lavoir", "de la Source"]
US_CITY = ["Maple Falls", "Cedarton", "Brookhaven Ridge", "Elmsworth", "Pine Hollow", "Ravenport"]
US_STATE = ["OR", "VT", "NM", "KS", "ME", "WI", "TN", "ID"]
UK_TOWN = ["Ashby Wold", "Little Brampton", "Kingsmere", "Oakhampton Vale", "Thornwick", "Harlow Cross"]
DE_CITY = ["Birkenfelde", "Neustrelau", "Waldheim am See", "Oberlinden", "Kaltenbrück"]
FR_CITY = ["Saint-Aubin-les-Prés", "Montclair-sur-Loue", "Villeroche", "Beaulieu-le-Vieux", "Pradelles"]
ORG = ["Harrowgate Logistics", "Brightwell Analytics Ltd", "Kestrel & Finch LLP", "Norvale Bank",
       "Quillon Systems Inc."]

# Non-PII filler: ordinary sentences, some starting with capitalised words that are not names.
FILLER = [
    "The parcel was delayed because of the weather.",
    "Please check the invoice attached to this message.",
    "Our team will review the request by the end of the week.",
    "The refund should appear on your statement soon.",
    "I have updated the order and the delivery window.",
    "Could you confirm the new delivery address for the order?",
    "Thanks for your patience while we sorted this out.",
    "The meeting notes are in the shared folder.",
    "Customer Support has escalated the ticket to Billing.",
    "The Premium plan includes priority handling and a longer warranty.",
]
# Title-case headings that open some texts: capitalised words that are not names.
HEADINGS = [
    "Delivery Update", "Order Confirmation", "Account Notice", "Meeting Notes", "Quarterly Review",
    "Returns Policy", "Service Announcement", "Warranty Claim",
]
CHAT_AGENT_LINES = [
    "How can I help you today?",
    "Sure, can you confirm the address on the account?",
    "Thank you, I have updated the record.",
    "Is there anything else I can do for you?",
]


class Doc:
    """Text built piece by piece, remembering where each PII value went."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[dict] = []
        self.length = 0

    def add(self, text: str, kind: str | None = None) -> Doc:
        if kind is not None and text:
            end = self.length + len(text)
            self.spans.append({"start": self.length, "end": end, "type": kind, "value": text})
        self.parts.append(text)
        self.length += len(text)
        return self

    def text(self) -> str:
        return "".join(self.parts)


def _person(rng: random.Random, doc: Doc, full: bool = True) -> None:
    first = rng.choice(FIRST)
    if full:
        doc.add(f"{first} {rng.choice(LAST)}", "PERSON")
    else:
        doc.add(first, "PERSON")


def _address(rng: random.Random, doc: Doc, sep: str = "\n") -> None:
    """A postal address in one of four layouts; ``sep`` joins its lines."""
    style = rng.choice(["us", "uk", "de", "fr"])
    num = str(rng.randint(1, 9999))
    if style == "us":
        doc.add(f"{num} {rng.choice(STREET)} {rng.choice(US_SUFFIX)}", "STREET_ADDRESS")
        if rng.random() < 0.5:
            unit = f"{rng.choice(['Apt.', 'Suite', 'Unit'])} {rng.randint(1, 999)}"
            doc.add(sep).add(unit, "STREET_ADDRESS")
        doc.add(sep).add(rng.choice(US_CITY), "GPE").add(", ").add(rng.choice(US_STATE), "GPE")
        doc.add(" ").add(f"{rng.randint(10000, 99999)}", "ZIP_CODE")
    elif style == "uk":
        doc.add(f"{num} {rng.choice(STREET)} {rng.choice(UK_SUFFIX)}", "STREET_ADDRESS")
        doc.add(sep).add(rng.choice(UK_TOWN), "GPE")
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        code = f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(1, 29)} {rng.randint(1, 9)}"
        code += f"{rng.choice(letters)}{rng.choice(letters)}"
        doc.add(sep).add(code, "ZIP_CODE")
    elif style == "de":
        doc.add(f"{rng.choice(DE_STEM)}{rng.choice(DE_SUFFIX)} {rng.randint(1, 120)}", "STREET_ADDRESS")
        doc.add(sep).add(f"{rng.randint(10000, 99999)}", "ZIP_CODE").add(" ").add(rng.choice(DE_CITY), "GPE")
        if rng.random() < 0.5:
            doc.add(sep).add("Deutschland", "GPE")
    else:
        doc.add(f"{rng.randint(1, 150)} {rng.choice(FR_TYPE)} {rng.choice(FR_NAME)}", "STREET_ADDRESS")
        doc.add(sep).add(f"{rng.randint(10000, 95999)}", "ZIP_CODE").add(" ").add(rng.choice(FR_CITY), "GPE")
        if rng.random() < 0.5:
            doc.add(sep).add("France", "GPE")


def letter(rng: random.Random) -> Doc:
    doc = Doc()
    _person(rng, doc)
    doc.add("\n")
    _address(rng, doc)
    doc.add("\n\nDear ")
    _person(rng, doc)
    doc.add(",\n\n").add(" ".join(rng.sample(FILLER, 2))).add("\n\n")
    doc.add(rng.choice(["Kind regards,", "Yours sincerely,", "Best regards,", "Regards,"])).add("\n")
    _person(rng, doc)
    return doc


def chat(rng: random.Random) -> Doc:
    doc = Doc()
    customer = rng.choice(FIRST)
    agent = rng.choice([f for f in FIRST if f != customer])
    upper = rng.random() < 0.3

    def label(name: str) -> None:
        doc.add(name.upper() if upper else name, "PERSON").add(": ")

    label(agent)
    doc.add(CHAT_AGENT_LINES[0]).add("\n")
    label(customer)
    doc.add("Hi, my parcel never arrived. ").add(rng.choice(FILLER)).add("\n")
    label(agent)
    doc.add(CHAT_AGENT_LINES[1]).add("\n")
    label(customer)
    doc.add("It is ")
    _address(rng, doc, sep=", ")
    doc.add(".\n")
    label(agent)
    doc.add(rng.choice(CHAT_AGENT_LINES[2:]))
    return doc


def email(rng: random.Random) -> Doc:
    doc = Doc()
    if rng.random() < 0.4:
        doc.add(rng.choice(HEADINGS)).add("\n\n")
    doc.add(rng.choice(["Hi ", "Hello ", "Dear "]))
    _person(rng, doc, full=False)
    doc.add(",\n\n").add(" ".join(rng.sample(FILLER, 2))).add("\n\n")
    first = rng.choice(FIRST)
    doc.add(rng.choice(["Thanks,", "Cheers,", "Best,"])).add("\n").add(first, "PERSON").add("\n--\n")
    doc.add(f"{first} {rng.choice(LAST)}", "PERSON").add("\n").add(rng.choice(ORG), "ORGANIZATION").add("\n")
    _address(rng, doc)
    return doc


def narrative(rng: random.Random) -> Doc:
    doc = Doc()
    _person(rng, doc, full=rng.random() < 0.5)
    doc.add(rng.choice([" said to ", " wrote to ", " told "]))
    _person(rng, doc, full=rng.random() < 0.5)
    doc.add(" that the order had been shipped to ")
    _address(rng, doc, sep=", ")
    doc.add(". ").add(rng.choice(FILLER))
    return doc


def address_block(rng: random.Random) -> Doc:
    doc = Doc()
    if rng.random() < 0.4:
        doc.add(rng.choice(HEADINGS)).add("\n")
    doc.add(rng.choice(["Ship to:\n", "Billing address:\n", "Please send the replacement to\n"]))
    _person(rng, doc)
    doc.add("\n")
    _address(rng, doc)
    doc.add("\n\n").add(rng.choice(FILLER))
    return doc


def _same_length(text: str, lower: bool) -> str:
    """Upper- or lower-cased character by character, keeping any character whose case mapping is
    longer ("ß" -> "SS"), so span offsets stay valid."""
    change = str.lower if lower else str.upper
    return "".join(c2 if len(c2 := change(c)) == 1 else c for c in text)


def caps_note(rng: random.Random) -> Doc:
    inner = rng.choice([narrative, address_block])(rng)
    lower = rng.random() < 0.3
    doc = Doc()
    doc.add("note: " if lower else "NOTE: ")
    for span in inner.spans:
        span["start"] += doc.length
        span["end"] += doc.length
    text = inner.text()
    doc.parts.append(_same_length(text, lower))
    doc.length += len(text)
    for span in inner.spans:
        span["value"] = _same_length(span["value"], lower)
        doc.spans.append(span)
    return doc


TEMPLATES: dict[str, Callable[[random.Random], Doc]] = {
    "letter": letter,
    "chat": chat,
    "email": email,
    "narrative": narrative,
    "address_block": address_block,
    "caps_note": caps_note,
}


def generate_from(templates: dict[str, Callable[[random.Random], Doc]], count: int, seed: int) -> list[dict]:
    """``count`` documents, the templates taken in turn, from one seeded random stream."""
    rng = random.Random(seed)
    names = list(templates)
    out = []
    for index in range(count):
        template = names[index % len(names)]
        doc = templates[template](rng)
        text = doc.text()
        for span in doc.spans:  # the generator's own bookkeeping must hold
            assert text[span["start"] : span["end"]] == span["value"], span
        out.append({"id": index, "text": text, "spans": doc.spans, "template": template})
    return out


def generate(count: int, seed: int) -> list[dict]:
    return generate_from(TEMPLATES, count, seed)


def generator_cli(
    make: Callable[[int, int], list[dict]], argv: list[str] | None, *, description: str, count: int, seed: int
) -> int:
    """``--count N --seed S --out FILE|-``: write ``make(count, seed)`` as JSON Lines."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--count", type=int, default=count)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    lines = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in make(args.count, args.seed))
    if args.out == "-":
        sys.stdout.write(lines)
    else:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(lines)
    return 0


def main(argv: list[str] | None = None) -> int:
    return generator_cli(generate, argv, description=__doc__.splitlines()[0], count=600, seed=13)


if __name__ == "__main__":
    raise SystemExit(main())
