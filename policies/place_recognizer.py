"""LOCATION: country names, and the town lines a country line closes in an address or letter head.

Country names come from the ``phonenumbers`` package's locale data (``phonenumbers.geodata.locale``,
Apache License 2.0, from Google's libphonenumber): the name of every region in English, French,
German, Spanish, Italian, Portuguese, Dutch, Swedish and Polish. They are matched as whole words,
written as the data spells them or in capitals, optionally followed by a parenthesised qualifier
("Cyprus (Greek)").

In a multi-line text a line that is a country name (maybe with a postcode) usually ends a postal
block: the one or two short capitalised lines just above it are its town and region
("Torres de Albánchez" / "Spain"); they are reported too.
"""

from __future__ import annotations

import functools

import regex

from .text_structure import COMMON_WORDS, SpanRecognizer, line_spans

_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "sv", "pl")


@functools.cache
def country_names() -> frozenset[str]:
    """Every region name of ``phonenumbers``' locale data in ``_LANGUAGES`` (references resolved)."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    names: set[str] = set()
    for by_language in LOCALE_DATA.values():
        for language in _LANGUAGES:
            name = by_language.get(language)
            for _ in range(4):  # "*aa" points at another language's entry
                if name is None or not name.startswith("*"):
                    break
                name = by_language.get(name[1:])
            if name and len(name) > 3:
                names.add(name)
    return frozenset(names)


@functools.cache
def _lookup() -> frozenset[str]:
    names = country_names()
    return frozenset({*names, *(n.upper() for n in names)})


# Runs of capitalised words (with the short joining words country names use); each run is looked up
# in the name set, longest sub-run first: no regex of a thousand alternatives to compile.
_RUN = regex.compile(
    r"\p{Lu}[\p{L}'’.\-]*(?:[ \t]+(?:\p{Lu}[\p{L}'’.\-]*|of|and|the|du|de|des|la|le|et|und|da|do|di|"
    r"del|y|i|&))*"
)
_TOKEN = regex.compile(r"[^ \t]+")
_QUALIFIER = regex.compile(r"[ \t]*\([\p{L} ]{2,20}\)")


def _countries(text: str) -> list[tuple[int, int]]:
    """(start, end) of each country name in ``text``, with a parenthesised qualifier after it."""
    names = _lookup()
    found = []
    for run in _RUN.finditer(text):
        tokens = [(run.start() + t.start(), run.start() + t.end()) for t in _TOKEN.finditer(run.group(0))]
        i = 0
        while i < len(tokens):
            for j in range(min(len(tokens), i + 6), i, -1):
                start, end = tokens[i][0], tokens[j - 1][1]
                phrase = text[start:end].rstrip(".,")
                if phrase in names:
                    end = start + len(phrase)
                    qualifier = _QUALIFIER.match(text, end)
                    found.append((start, qualifier.end() if qualifier else end))
                    i = j - 1
                    break
            i += 1
    return found


_TOWN_WORD = r"(?:\p{Lu}[\p{L}'’.\-]*|\p{Ll}{1,3}|\d{3,6})"
_TOWN_LINE = regex.compile(rf"{_TOWN_WORD}(?:[ \t,]+{_TOWN_WORD}){{0,4}}")
_POSTCODE_TAIL = regex.compile(r"[ \t,]*(?:\d{3,6}(?:[ \-]\d{2,4})?)?")


class PlaceRecognizer(SpanRecognizer):
    """LOCATION: country names; in multi-line text, the town lines above a country line."""

    ENTITY = "LOCATION"
    DEFAULT_SCORE = 0.6

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = _countries(text)
        if "\n" not in text or not found:
            return found
        lines = line_spans(text)
        countries = set(found)
        for index, (start, end) in enumerate(lines):
            country = next((c for c in countries if c[0] == start), None)
            if country is None:
                continue
            tail = _POSTCODE_TAIL.match(text, country[1])
            if tail.end() != end:
                continue  # the line says more than a country
            found.append((start, end))  # with its postcode
            below_start = start
            for above in (index - 1, index - 2):
                if above < 0:
                    break
                line_start, line_end = lines[above]
                if text.count("\n", line_end, below_start) != 1:
                    break  # a blank line ends the block
                below_start = line_start
                line = text[line_start:line_end].strip(" \t,")
                if not _TOWN_LINE.fullmatch(line) or line.split()[0].lower() in COMMON_WORDS:
                    break
                found.append((line_start, line_end))
        return sorted(set(found))
