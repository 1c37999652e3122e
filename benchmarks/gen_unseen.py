"""An independent, seeded generator of labelled test data, written apart from the recognizers.

Run: ``.venv/bin/python -m benchmarks.gen_unseen text|ids|tickets [--count N] [--seed S] [--out FILE]``.

The older generators (``gen_freetext``, ``gen_identifiers``, ``ticket_data``) were written alongside
the recognizers and may share their blind spots. This one uses its own sentence shapes, locales and
formats, and knows nothing of the recognizers' tables:

* ``text``: free text in the dev corpus's JSONL shape (``{"id", "text", "spans", "template"}``):
  quoted e-mail replies, greetings, sign-offs and signatures, single first names in prose ("ask
  Priya"), lower-case names, chat logs with bracketed times, addresses with the unit before the
  number ("Apt. 4, 12 High St"), PO boxes, Irish, Australian and Indian address blocks, and phone
  numbers in E.164, national, dotted and extension forms (en-US, en-GB, en-IE, en-AU, en-IN; German,
  Dutch, Spanish and Italian names in English text);
* ``ids``: card numbers of every issuer range and length (spaces, hyphens, none), IBANs of many
  countries in print (groups of four) and electronic (compact) form, SSNs with and without hyphens;
  each valid by its own arithmetic here (Luhn, ISO 7064 mod 97), written from the public rules;
* ``tickets``: a support-ticket CSV whose header names vary (``cust_nm``, ``Full Name``,
  ``e-mail``, ``tel.``, ``postcode``, ``iban``, ``dob``) with free-text notes.

Word lists are written by hand for this file: very common given names and surnames of each locale
(common knowledge, no list copied from a data generator or a corpus the project evaluates on), real
town names and ordinary street names.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import string
import sys
from pathlib import Path

from .gen_freetext import Doc  # a span-tracking container only: no sentence shapes or word lists

# ---- word lists (hand-written; very common names of each locale) -------------------------------

FIRST = {
    "us": [
        "James",
        "Mary",
        "Robert",
        "Linda",
        "Michael",
        "Jennifer",
        "David",
        "Jessica",
        "Ashley",
        "Tyler",
        "Brandon",
        "Megan",
        "Kevin",
        "Nicole",
        "Jason",
        "Amanda",
    ],
    "gb": [
        "Oliver",
        "Amelia",
        "Harry",
        "Isla",
        "George",
        "Poppy",
        "Alfie",
        "Freya",
        "Charlotte",
        "Thomas",
        "Sophie",
        "William",
        "Eleanor",
        "Callum",
    ],
    "ie": [
        "Aoife",
        "Niamh",
        "Ciaran",
        "Siobhan",
        "Declan",
        "Sinead",
        "Padraig",
        "Orla",
        "Cian",
        "Roisin",
        "Eoin",
        "Grainne",
    ],
    "au": ["Lachlan", "Chloe", "Jack", "Matilda", "Cooper", "Ruby", "Mitchell", "Kylie", "Brendan", "Tahlia"],
    "in": [
        "Priya",
        "Rahul",
        "Anil",
        "Sunita",
        "Arjun",
        "Deepa",
        "Vikram",
        "Kavya",
        "Rohan",
        "Ananya",
        "Suresh",
        "Lakshmi",
        "Aditya",
        "Meera",
    ],
    "de": ["Lukas", "Jürgen", "Katrin", "Stefan", "Anja", "Tobias", "Sabine", "Florian"],
    "nl": ["Daan", "Femke", "Joost", "Sanne", "Bram", "Lotte", "Maarten", "Anouk"],
    "es": ["Javier", "Lucía", "Carmen", "Alejandro", "Pilar", "Sergio", "Rocío", "Álvaro"],
    "it": ["Giulia", "Matteo", "Francesca", "Lorenzo", "Chiara", "Alessandro", "Federica", "Davide"],
}
LAST = {
    "us": [
        "Johnson",
        "Williams",
        "Miller",
        "Davis",
        "Rodriguez",
        "Anderson",
        "Thompson",
        "Jackson",
        "Harris",
        "Clark",
        "Lewis",
        "Walker",
        "Young",
        "Hernandez",
    ],
    "gb": [
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Evans",
        "Wright",
        "Roberts",
        "Hughes",
        "Edwards",
        "Green",
        "Hall",
        "Wood",
    ],
    "ie": [
        "Murphy",
        "Kelly",
        "O'Brien",
        "Walsh",
        "Byrne",
        "Ryan",
        "O'Connor",
        "Doyle",
        "McCarthy",
        "Gallagher",
        "Kavanagh",
        "Nolan",
    ],
    "au": ["Nguyen", "Mitchell", "Campbell", "Kelly", "Stewart", "Morris", "Cooper", "Ward"],
    "in": [
        "Patel",
        "Sharma",
        "Singh",
        "Gupta",
        "Reddy",
        "Iyer",
        "Nair",
        "Kumar",
        "Joshi",
        "Mehta",
        "Banerjee",
        "Rao",
        "Desai",
        "Pillai",
    ],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Schäfer"],
    "nl": ["de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "de Boer", "van den Berg"],
    "es": ["García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"],
    "it": ["Rossi", "Russo", "Bianchi", "Esposito", "Romano", "Colombo", "Ricci", "Marino"],
}
LOCALES = list(FIRST)

# Street names, street types, towns and postcode shapes by address locale.
STREET_NAME = [
    "High",
    "Church",
    "Station",
    "Victoria",
    "Mill",
    "Park",
    "King",
    "Queen",
    "Main",
    "Oak",
    "Elm",
    "Maple",
    "Bridge",
    "Green",
    "Albert",
    "George",
    "Chapel",
    "School",
]
STREET_TYPE_LONG = [
    "Street",
    "Road",
    "Avenue",
    "Lane",
    "Drive",
    "Close",
    "Crescent",
    "Terrace",
    "Parade",
    "Court",
    "Place",
    "Way",
]
STREET_TYPE_SHORT = ["St", "Rd", "Ave", "Ln", "Dr", "St.", "Rd.", "Ave."]
UNIT = ["Apt.", "Apt", "Flat", "Unit", "Suite", "Apartment", "#"]
TOWNS = {
    "us": [
        ("Tucson", "AZ"),
        ("Boise", "ID"),
        ("Spokane", "WA"),
        ("Dayton", "OH"),
        ("Savannah", "GA"),
        ("Fresno", "CA"),
        ("Lubbock", "TX"),
        ("Duluth", "MN"),
        ("Albany", "NY"),
        ("Reno", "NV"),
    ],
    "gb": [
        "Leeds",
        "Nuneaton",
        "Harrogate",
        "Swindon",
        "Ipswich",
        "Dundee",
        "Wrexham",
        "Carlisle",
        "Stockport",
        "Bath",
    ],
    "ie": ["Galway", "Kilkenny", "Ballina", "Tralee", "Athlone", "Dundalk", "Sligo", "Ennis"],
    "au": [
        ("Toowoomba", "QLD"),
        ("Ballarat", "VIC"),
        ("Wagga Wagga", "NSW"),
        ("Bunbury", "WA"),
        ("Mildura", "VIC"),
        ("Cairns", "QLD"),
        ("Geelong", "VIC"),
        ("Dubbo", "NSW"),
    ],
    "in": ["Pune", "Bengaluru", "Chennai", "Hyderabad", "Jaipur", "Kochi", "Indore", "Nagpur"],
}
INDIAN_AREAS = ["Indiranagar", "Koramangala", "Kothrud", "Anna Nagar", "Banjara Hills", "Vaishali Nagar"]
ORGS = [
    "Hollis & Reed Ltd",
    "Northgate Freight",
    "Bluewater Pharmacy",
    "Castlebar Motors",
    "Sunrise Textiles Pvt Ltd",
    "Keller Haustechnik GmbH",
]

# Non-PII sentences in the same register (support mail), to measure what is kept.
FILLER = [
    "The replacement unit was dispatched this morning.",
    "We have reversed the late fee on your account.",
    "Your subscription renews on the first of next month.",
    "The technician could not find the fault on the line.",
    "Please keep the original packaging until the return is processed.",
    "I tried restarting the router twice but nothing changed.",
    "The app keeps logging me out after the latest update.",
    "Can you send the receipt again, the first one was blank?",
    "We apologise for the inconvenience this has caused.",
    "The warranty covers parts but not labour.",
    "Delivery is booked for Thursday between nine and noon.",
    "Our records show two payments for the same order.",
]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# ---- values ------------------------------------------------------------------------------------


def person(rng: random.Random, locale: str | None = None) -> tuple[str, str]:
    loc = locale or rng.choice(LOCALES)
    return rng.choice(FIRST[loc]), rng.choice(LAST[loc])


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def phone(rng: random.Random, locale: str) -> str:
    """A phone number in a layout people write in that locale (E.164, national, dots, extension)."""
    if locale == "us":
        area, line = rng.randint(201, 989), f"555{_digits(rng, 4)}"
        form = rng.randrange(6)
        return [
            f"+1{area}{line}",
            f"({area}) {line[:3]}-{line[3:]}",
            f"{area}.{line[:3]}.{line[3:]}",
            f"{area}-{line[:3]}-{line[3:]} ext. {rng.randint(10, 999)}",
            f"+1 {area} {line[:3]} {line[3:]}",
            f"1-{area}-{line[:3]}-{line[3:]}",
        ][form]
    if locale == "gb":
        return rng.choice(
            [
                f"020 7946 {_digits(rng, 4)}",
                f"+44 7700 900{_digits(rng, 3)}",
                f"07700 900{_digits(rng, 3)}",
                f"+44 (0)113 496 {_digits(rng, 4)}",
                f"0161 496 {_digits(rng, 4)} x{rng.randint(10, 99)}",
            ]
        )
    if locale == "ie":
        return rng.choice(
            [
                f"+353 87 {_digits(rng, 3)} {_digits(rng, 4)}",
                f"087 {_digits(rng, 3)} {_digits(rng, 4)}",
                f"(01) {_digits(rng, 3)} {_digits(rng, 4)}",
                f"+35391{_digits(rng, 6)}",
            ]
        )
    if locale == "au":
        return rng.choice(
            [
                f"0412 {_digits(rng, 3)} {_digits(rng, 3)}",
                f"+61 4{_digits(rng, 2)} {_digits(rng, 3)} {_digits(rng, 3)}",
                f"(02) 9{_digits(rng, 3)} {_digits(rng, 4)}",
                f"+61731{_digits(rng, 6)}",
            ]
        )
    return rng.choice(
        [
            f"+91 98{_digits(rng, 3)} {_digits(rng, 5)}",
            f"098{_digits(rng, 3)} {_digits(rng, 5)}",
            f"+91-80-{_digits(rng, 4)}-{_digits(rng, 4)}",
            f"9{_digits(rng, 9)}",
        ]
    )


def _uk_postcode(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUWY"
    return (
        f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(1, 29)} {rng.randint(1, 9)}"
        f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    )


def _eircode(rng: random.Random) -> str:
    return (
        f"{rng.choice('ACDEFHKNPRTVWXY')}{rng.randint(10, 99)} {rng.choice('ACDEFHKNPRTVWXY')}"
        f"{rng.randint(1, 9)}{rng.choice('ACDEFHKNPRTVWXY')}{rng.randint(1, 9)}"
    )


def street(rng: random.Random) -> str:
    name = rng.choice(STREET_NAME)
    kind = rng.choice(STREET_TYPE_LONG if rng.random() < 0.6 else STREET_TYPE_SHORT)
    return f"{name} {kind}"


def address(rng: random.Random, doc: Doc, locale: str, sep: str) -> None:
    """An address in one of several shapes; ``sep`` joins its parts (a newline or ", ")."""
    shape = rng.randrange(4)
    if shape == 0:  # unit before number: "Apt. 4, 12 High St"
        doc.add(f"{rng.choice(UNIT)} {rng.randint(1, 40)}", "STREET_ADDRESS").add(
            ", " if rng.random() < 0.5 else sep
        )
        doc.add(f"{rng.randint(1, 250)} {street(rng)}", "STREET_ADDRESS")
    elif shape == 1:  # PO box
        box = rng.choice(["PO Box", "P.O. Box", "Post Office Box", "PO BOX"])
        doc.add(f"{box} {rng.randint(10, 9999)}", "STREET_ADDRESS")
    elif shape == 2 and locale == "au":  # unit/number
        doc.add(f"{rng.randint(1, 30)}/{rng.randint(1, 200)} {street(rng)}", "STREET_ADDRESS")
    elif locale == "in":
        doc.add(
            f"Flat {rng.randint(101, 904)}, {rng.choice(['Sai', 'Shanti', 'Lotus', 'Green'])} "
            f"{rng.choice(['Residency', 'Apartments', 'Enclave'])}",
            "STREET_ADDRESS",
        )
        doc.add(sep).add(f"{rng.randint(1, 20)}th Cross", "STREET_ADDRESS").add(", ")
        doc.add(rng.choice(INDIAN_AREAS), "LOCATION")
    else:
        doc.add(f"{rng.randint(1, 400)} {street(rng)}", "STREET_ADDRESS")
    doc.add(sep)
    if locale == "us":
        town, state = rng.choice(TOWNS["us"])
        doc.add(town, "LOCATION").add(", ").add(state, "LOCATION").add(" ").add(_digits(rng, 5), "ZIP_CODE")
    elif locale == "gb":
        doc.add(rng.choice(TOWNS["gb"]), "LOCATION").add(sep if rng.random() < 0.5 else " ")
        doc.add(_uk_postcode(rng), "ZIP_CODE")
    elif locale == "ie":
        doc.add(
            f"Co. {rng.choice(['Galway', 'Mayo', 'Kerry', 'Clare'])}"
            if rng.random() < 0.4
            else rng.choice(TOWNS["ie"]),
            "LOCATION",
        )
        doc.add(sep).add(_eircode(rng), "ZIP_CODE")
    elif locale == "au":
        town, state = rng.choice(TOWNS["au"])
        doc.add(town, "LOCATION").add(" ").add(state, "LOCATION").add(" ").add(
            str(rng.randint(2000, 7999)), "ZIP_CODE"
        )
    else:
        doc.add(rng.choice(TOWNS["in"]), "LOCATION").add(rng.choice([" - ", " "])).add(
            f"{rng.randint(110, 860)}{_digits(rng, 3)}", "ZIP_CODE"
        )


def email_of(first: str, last: str, rng: random.Random) -> str:
    last = last.replace(" ", "").replace("'", "").lower()
    local = rng.choice(
        [f"{first.lower()}.{last}", f"{first[0].lower()}{last}", f"{first.lower()}{rng.randint(1, 99)}"]
    )
    local = local.encode("ascii", "ignore").decode()
    domain = rng.choice(["mail.example.com", "example.co.uk", "example.ie", "example.in", "example.au"])
    return f"{local}@{domain}"


# ---- free-text templates -------------------------------------------------------------------------


def t_quoted_reply(rng: random.Random, doc: Doc) -> None:
    f1, l1 = person(rng)
    f2, _ = person(rng)
    doc.add("Thanks, that works for me.\n\n")
    doc.add(
        f"On {rng.choice(WEEKDAYS)}, {rng.randint(1, 28)} {rng.choice(MONTHS)} 2025 "
        f"at 09:{rng.randint(10, 59)}, "
    )
    doc.add(f"{f1} {l1}", "PERSON").add(" <").add(email_of(f1, l1, rng), "EMAIL_ADDRESS").add("> wrote:\n")
    doc.add("> Hi ").add(f2, "PERSON").add(",\n> ").add(rng.choice(FILLER)).add("\n> ").add(
        rng.choice(FILLER)
    )
    doc.add("\n> Best,\n> ").add(f1, "PERSON")


def t_single_first_name(rng: random.Random, doc: Doc) -> None:
    a, _ = person(rng)
    b, _ = person(rng)
    shape = rng.randrange(4)
    if shape == 0:
        doc.add("If the invoice is still wrong, ask ").add(a, "PERSON").add(" in accounts. ")
    elif shape == 1:
        doc.add(a, "PERSON").add(" will call you back before five. ")
    elif shape == 2:
        doc.add("I spoke with ").add(a, "PERSON").add(" and ").add(b, "PERSON").add(" this morning. ")
    else:
        doc.add("Handing over to ").add(a, "PERSON").add(" for the rest of the week. ")
    doc.add(rng.choice(FILLER))


def t_lowercase(rng: random.Random, doc: Doc) -> None:
    first, last = person(rng)
    loc = rng.choice(["us", "gb", "au"])
    town = TOWNS[loc][rng.randrange(len(TOWNS[loc]))]
    town = town[0] if isinstance(town, tuple) else town
    doc.add("talked to ").add(f"{first.lower()} {last.lower()}", "PERSON").add(" yesterday, she moved to ")
    doc.add(town.lower(), "LOCATION").add(" and wants the bill sent there. call her on ")
    doc.add(phone(rng, loc), "PHONE_NUMBER")


def t_signature(rng: random.Random, doc: Doc) -> None:
    loc = rng.choice(["gb", "ie", "au", "in", "us"])
    first, last = person(rng, rng.choice([loc, "de", "nl", "es", "it"]))
    doc.add(rng.choice(FILLER)).add("\n\n").add(
        rng.choice(["Cheers,", "Kind regards,", "Many thanks,", "Thanks!", "--"])
    )
    doc.add("\n").add(f"{first} {last}" if rng.random() < 0.7 else first, "PERSON")
    if rng.random() < 0.5:
        doc.add(" | ").add(rng.choice(["Accounts Payable", "Customer Care", "Operations"]))
    doc.add("\n").add(rng.choice(ORGS), "ORGANIZATION")
    doc.add("\n").add(rng.choice(["M: ", "Tel: ", "Mob. ", "Ph ", "Direct: "])).add(
        phone(rng, loc), "PHONE_NUMBER"
    )


def t_greeting(rng: random.Random, doc: Doc) -> None:
    first, last = person(rng)
    shape = rng.randrange(4)
    if shape == 0:
        doc.add("Hi ").add(first, "PERSON").add(",\n\n")
    elif shape == 1:
        doc.add("Good morning ").add(f"Mr {last}" if rng.random() < 0.5 else f"Ms {last}", "PERSON").add(
            ",\n\n"
        )
    elif shape == 2:
        doc.add("Hey ").add(first.lower(), "PERSON").add(" - ")
    else:
        doc.add("Hello ").add(f"{first} {last}", "PERSON").add(",\n")
    doc.add(rng.choice(FILLER)).add(" ").add(rng.choice(FILLER))


def t_address_block(rng: random.Random, doc: Doc) -> None:
    loc = rng.choice(["us", "gb", "ie", "au", "in"])
    first, last = person(rng, loc)
    doc.add("Please update the delivery details to:\n\n").add(f"{first} {last}", "PERSON").add("\n")
    address(rng, doc, loc, "\n")
    doc.add("\n\n").add(rng.choice(FILLER))


def t_inline_address(rng: random.Random, doc: Doc) -> None:
    loc = rng.choice(["us", "gb", "ie", "au", "in"])
    doc.add(rng.choice(["Our new address is ", "The parcel went to ", "Registered office: ", "Ship to "]))
    address(rng, doc, loc, ", ")
    doc.add(". ").add(rng.choice(FILLER))


def t_chat(rng: random.Random, doc: Doc) -> None:
    agent, _ = person(rng)
    cf, cl = person(rng)
    loc = rng.choice(["us", "gb", "ie", "au", "in"])
    doc.add(f"[10:{rng.randint(10, 59)}] ").add(agent, "PERSON").add(
        " (agent): Thanks for waiting, who am I speaking with?\n"
    )
    doc.add(f"[10:{rng.randint(10, 59)}] ").add(f"{cf} {cl}", "PERSON").add(": it's ").add(
        f"{cf} {cl}", "PERSON"
    )
    doc.add(", best number is ").add(phone(rng, loc), "PHONE_NUMBER").add("\n")
    doc.add(f"[10:{rng.randint(10, 59)}] ").add(agent, "PERSON").add(" (agent): ").add(rng.choice(FILLER))


def t_phone_prose(rng: random.Random, doc: Doc) -> None:
    loc = rng.choice(["us", "gb", "ie", "au", "in"])
    first, _ = person(rng, loc)
    doc.add(rng.choice(["You can reach ", "Please ring ", "Text "])).add(first, "PERSON")
    doc.add(rng.choice([" on ", " at "])).add(phone(rng, loc), "PHONE_NUMBER")
    doc.add(rng.choice([" or ", " / "])).add(phone(rng, loc), "PHONE_NUMBER").add(". ").add(
        rng.choice(FILLER)
    )


def t_narrative(rng: random.Random, doc: Doc) -> None:
    f1, l1 = person(rng)
    f2, l2 = person(rng)
    loc = rng.choice(["gb", "ie", "us"])
    town = TOWNS[loc][rng.randrange(len(TOWNS[loc]))]
    town = town[0] if isinstance(town, tuple) else town
    doc.add("According to ").add(f"{f1} {l1}", "PERSON").add(
        ", the courier left the box with a neighbour in "
    )
    doc.add(town, "LOCATION").add(". ").add(f"{f2} {l2}", "PERSON").add(" from ").add(
        rng.choice(ORGS), "ORGANIZATION"
    )
    doc.add(" confirmed it. ").add(rng.choice(FILLER))


def t_filler_only(rng: random.Random, doc: Doc) -> None:
    doc.add(" ".join(rng.sample(FILLER, 3)))


TEMPLATES = [
    t_quoted_reply,
    t_single_first_name,
    t_lowercase,
    t_signature,
    t_greeting,
    t_address_block,
    t_inline_address,
    t_chat,
    t_phone_prose,
    t_narrative,
    t_filler_only,
]


def generate_text(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        template = TEMPLATES[i % len(TEMPLATES)]
        doc = Doc()
        template(rng, doc)
        out.append(
            {"id": f"unseen-{i}", "text": doc.text(), "spans": doc.spans, "template": template.__name__}
        )
    return out


# ---- checksum identifiers --------------------------------------------------------------------------


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


# (network, prefixes, lengths): issuer ranges as the networks publish them (common knowledge).
CARD_RANGES = [
    ("visa", ["4"], [13, 16, 19]),
    ("mastercard", ["51", "53", "55"], [16]),
    ("mastercard-2", ["2221", "2300", "2500", "2720"], [16]),
    ("amex", ["34", "37"], [15]),
    ("discover", ["6011", "644", "649", "65"], [16, 19]),
    ("diners", ["36", "300", "305", "38"], [14]),
    ("jcb", ["3528", "3560", "3589"], [16, 17, 18, 19]),
    ("jcb-15", ["2131", "1800"], [15]),
    ("unionpay", ["62", "6221"], [16, 17, 18, 19]),
    ("maestro", ["50", "56", "58", "6759", "6304"], [12, 13, 15, 19]),
    ("mir", ["2200", "2204"], [16]),
    ("rupay", ["60", "508"], [16]),
]


def card(rng: random.Random) -> tuple[str, str]:
    network, prefixes, lengths = rng.choice(CARD_RANGES)
    length = rng.choice(lengths)
    prefix = rng.choice(prefixes)
    number = luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))
    style = rng.randrange(3)
    if style == 0:
        return network, number
    sep = " " if style == 1 else "-"
    if length == 15 and network == "amex" or length == 14:
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[k : k + 4] for k in range(0, length, 4)]
    return network, sep.join(groups)


# IBAN layouts: country -> BBAN pattern ("n" digit, "a" upper-case letter, "c" either).
IBAN_BBAN = {
    "DE": "n" * 18,
    "GB": "aaaa" + "n" * 14,
    "FR": "n" * 10 + "c" * 11 + "nn",
    "ES": "n" * 20,
    "IT": "a" + "n" * 10 + "c" * 12,
    "NL": "aaaa" + "n" * 10,
    "BE": "n" * 12,
    "IE": "aaaa" + "n" * 14,
    "AT": "n" * 16,
    "CH": "n" * 5 + "c" * 12,
    "PL": "n" * 24,
    "PT": "n" * 21,
    "SE": "n" * 20,
    "NO": "n" * 11,
    "DK": "n" * 14,
    "FI": "n" * 14,
    "LU": "nnn" + "c" * 13,
    "MT": "aaaa" + "n" * 5 + "c" * 18,
    "SA": "nn" + "c" * 18,
    "AE": "n" * 19,
    "TR": "n" * 5 + "0" + "c" * 16,
    "BR": "n" * 23 + "a" + "c",
    "GR": "n" * 7 + "c" * 16,
    "CZ": "n" * 20,
    "RO": "aaaa" + "c" * 16,
    "HU": "n" * 24,
}


def _iban_check(country: str, bban: str) -> str:
    moved = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in moved))
    return f"{98 - number % 97:02d}"


def iban(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(list(IBAN_BBAN))
    pick = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}
    bban = "".join(rng.choice(pick[c]) if c in pick else c for c in IBAN_BBAN[country])
    value = country + _iban_check(country, bban) + bban
    if rng.random() < 0.5:  # print form
        value = " ".join(value[k : k + 4] for k in range(0, len(value), 4))
    return f"iban:{country}", value


def ssn(rng: random.Random) -> tuple[str, str]:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    group, serial = rng.randint(1, 99), rng.randint(1, 9999)
    style = rng.randrange(3)
    return "ssn", [
        f"{area:03d}-{group:02d}-{serial:04d}",
        f"{area:03d}{group:02d}{serial:04d}",
        f"{area:03d} {group:02d} {serial:04d}",
    ][style]


ID_SENTENCES = [
    ("card", "Please charge {v} for the annual plan."),
    ("card", "card no. {v} exp 09/27"),
    ("card", "The payment on {v} was declined twice."),
    ("card", "Refund back to the card ending in {v}, thanks."),
    ("card", "{v}"),
    ("card", "My {n} is {v}."),
    ("iban", "Please pay the refund into {v}."),
    ("iban", "IBAN: {v}"),
    ("iban", "Bank details - {v} (current account)"),
    ("iban", "Kontoverbindung {v}"),
    ("ssn", "SSN {v} for the tax form."),
    ("ssn", "social security number: {v}"),
    ("ssn", "My social is {v}."),
    ("ssn", "SSN on file: {v}"),
]


def generate_ids(count: int, seed: int) -> list[dict]:
    """Documents with one or two valid identifiers each: ``{"text", "ids": [{"kind", "value"}]}``."""
    rng = random.Random(seed)
    makers = {"card": card, "iban": iban, "ssn": ssn}
    docs = []
    for _ in range(count):
        parts, ids = [], []
        for _ in range(rng.choice([1, 1, 2])):
            family, template = rng.choice(ID_SENTENCES)
            kind, value = makers[family](rng)
            parts.append(template.format(v=value, n=kind.split("-")[0]))
            ids.append({"kind": kind, "value": value})
        if rng.random() < 0.5:
            parts.insert(0, rng.choice(FILLER))
        docs.append({"text": " ".join(parts), "ids": ids})
    return docs


# ---- tickets CSV -----------------------------------------------------------------------------------

# Header variants per column; a ticket file uses one variant per column, chosen by the seed.
HEADERS = {
    "id": ["ticket_no", "Ticket #", "case_ref"],
    "name": ["cust_nm", "Full Name", "customer", "Name", "contact_name"],
    "email": ["e-mail", "Email Address", "email", "EMAIL"],
    "phone": ["tel.", "Phone", "mobile_no", "Contact Number"],
    "ssn": ["ssn", "SSN", "social_security_no"],
    "card": ["card_number", "Card No.", "cc_num", "payment card"],
    "address": ["address", "Street Address", "addr_line1", "Address Line 1"],
    "city": ["city", "Town", "town_city"],
    "postcode": ["zip", "postcode", "Postal Code", "ZIP"],
    "iban": ["iban", "IBAN", "bank_iban"],
    "dob": ["dob", "Date of Birth", "birth_date"],
    "notes": ["notes", "Description", "agent_notes"],
}
PII_FIELDS = ["name", "email", "phone", "ssn", "card", "address", "city", "postcode", "iban", "dob"]
NOTES = [
    "Customer says {first} from our {town} branch promised a callback.",
    "Called back, spoke to {first}; card was replaced.",
    "Duplicate charge, refund approved by {first} {last}.",
    "Wants paper statements sent to the {town} office.",
    "No answer on the mobile, left a voicemail.",
    "Asked for the direct debit date to move to the 15th.",
    "escalated to {first_lower} in billing",
]


def ticket_rows(count: int, seed: int) -> tuple[list[str], list[dict[str, str]], list[dict[str, str]]]:
    """(header, rows keyed by header, the planted notes values per row)."""
    rng = random.Random(seed)
    header = {key: rng.choice(options) for key, options in HEADERS.items()}
    rows, notes_values = [], []
    for i in range(count):
        loc = rng.choice(["us", "gb", "ie", "au", "in"])
        first, last = person(rng, loc if rng.random() < 0.6 else None)
        doc = Doc()
        address(rng, doc, loc, ", ")
        parts = [s for s in doc.spans]
        street_part = ", ".join(s["value"] for s in parts if s["type"] == "STREET_ADDRESS")
        town = next(
            (s["value"] for s in parts if s["type"] == "LOCATION" and s["value"] not in INDIAN_AREAS), ""
        )
        code = next((s["value"] for s in parts if s["type"] == "ZIP_CODE"), "")
        name = rng.choice(
            [f"{first} {last}", f"{last}, {first}", f"{first} {last}".upper(), first + " " + last[0] + "."]
        )
        nf, nl = person(rng)
        ntown = rng.choice(TOWNS["gb"] + TOWNS["ie"] + TOWNS["in"])
        note = rng.choice(NOTES).format(first=nf, last=nl, first_lower=nf.lower(), town=ntown)
        values = {
            "id": f"{rng.choice(['TCK', 'SR', 'INC'])}-{2025}{i:05d}",
            "name": name,
            "email": email_of(first, last, rng),
            "phone": phone(rng, loc),
            "ssn": ssn(rng)[1] if loc == "us" or rng.random() < 0.3 else "",
            "card": card(rng)[1],
            "address": street_part,
            "city": town,
            "postcode": code,
            "iban": iban(rng)[1] if rng.random() < 0.7 else "",
            "dob": rng.choice(
                [
                    f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2004)}",
                    f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                ]
            ),
            "notes": note,
        }
        rows.append({header[k]: v for k, v in values.items()})
        planted = [v for v in (nf, nl, nf.lower(), ntown) if v in note]
        notes_values.append({"values": planted})
    return [header[k] for k in HEADERS], rows, notes_values


def write_tickets(path: Path, count: int, seed: int) -> tuple[list[str], list[dict[str, str]], list[dict]]:
    header, rows, notes = ticket_rows(count, seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return header, rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["text", "ids", "tickets"])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.what == "tickets":
        if not args.out:
            parser.error("tickets needs --out FILE.csv")
        write_tickets(args.out, args.count, args.seed)
        return 0
    docs = (
        generate_text(args.count, args.seed) if args.what == "text" else generate_ids(args.count, args.seed)
    )
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    for doc in docs:
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
