"""LOCATION: towns and cities from a public gazetteer, where spaCy's NER misses them.

spaCy's small English model finds a town mostly by its capital letter and the prose around it:
"moved to ipswich", "flying out of leeds tmrw" or "based in pune" pass unseen. The names come from
GeoNames' ``cities15000`` (CC BY 4.0), selected by ``benchmarks/derive_place_names.py`` into
``data/place_names.txt`` with a tier each:

* tier ``A`` (not an English word): matched when capitalised anywhere ("Ipswich"), in lower case only
  after a cue (a preposition such as in/to/from/near/at, or an address position);
* tier ``B`` (an English noun such as "sale", or a short name): matched when capitalised after a cue,
  in lower case only after a strong cue ("moved to", "based in", "out of", "lives in").

A cue is the word(s) just before the name on the same line; an address position is a line that is
the name alone (maybe with a postcode) or a name after the comma that follows a numbered street
("12 High St, ipswich"). Matching is whole-word and case-insensitive over the text's word tokens,
one dictionary look-up a word: no regex of thirty thousand alternatives.
"""

from __future__ import annotations

import functools
from importlib import resources

import regex

from .text_structure import SpanRecognizer

MAX_WORDS = 4
_TOKEN = regex.compile(r"\p{L}[\p{L}\p{M}'’\-]*")
_POSSESSIVE = regex.compile(r"(?:['’]s?|-)$")
_GAP = regex.compile(r"\.?[ \t]+")  # between the words of one name ("St. Albans", "Wagga Wagga")
_BLANKS = regex.compile(r"[ \t]+")

#: A word just before the name that marks a place ("in leeds", "to Sale").
WEAK_CUES = frozenset({
    "in", "to", "from", "near", "at", "into", "via", "around", "outside", "toward", "towards", "across",
    "visiting", "visit", "leaving",
})
#: Phrases just before the name that leave little doubt ("moved to sale", "based in london").
STRONG_CUES = frozenset(
    tuple(phrase.split())
    for phrase in (
        "moved to", "move to", "moving to", "relocated to", "relocating to", "based in", "based out of",
        "lives in", "live in", "lived in", "living in", "born in", "raised in", "grew up in", "out of",
        "flying to", "flying into", "flying from", "fly to", "fly into", "flew to", "flew into",
        "flew from", "flight to", "flight from", "trip to", "travelling to", "traveling to",
        "heading to", "headed to", "driving to", "drive to", "stationed in", "office in", "visiting",
        "staying in", "stay in", "stayed in",
    )
)
_STREET_BEFORE = regex.compile(r"\d[^\n,]*,[ \t]*$")  # "12 High St, " before the name
_LINE_TAIL = regex.compile(r"[ \t,]*(?:[A-Z]{2,3}|[A-Z0-9]{2,4}[ \t]?[A-Z0-9]{3}|\d{3,6})?[ \t]*(?:\n|$)")
_LINE_HEAD = regex.compile(r"(?:^|\n)[ \t>|]*$")


def load_names(text: str, source: str = "place_names.txt") -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """First word -> [(words of a name, tier)], longest name first, from the data file's text.
    A malformed line fails closed with its line number."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        tier, sep, name = line.partition("\t")
        words = tuple(t.group(0) for t in _TOKEN.finditer(name))
        malformed = not sep or tier not in ("A", "B") or not words or len(words) > MAX_WORDS
        if malformed or name != name.casefold():
            raise ValueError(f"{source}:{number}: expected 'A|B<TAB>case-folded name of 1-{MAX_WORDS} words'")
        index.setdefault(words[0], []).append((words, tier))
    if not index:
        raise ValueError(f"{source}: no place names")
    for entries in index.values():
        entries.sort(key=lambda entry: -len(entry[0]))
    return index


@functools.cache
def names() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """The installed gazetteer (read once, from a wheel or a zip as well as from the source tree)."""
    data = resources.files(__package__).joinpath("data").joinpath("place_names.txt")
    return load_names(data.read_text(encoding="utf-8"))


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, case-folded word) of each word; a trailing possessive or hyphen is left out."""
    out = []
    for match in _TOKEN.finditer(text):
        word = match.group(0)
        trimmed = _POSSESSIVE.sub("", word) if len(word) > 2 and word[-1] in "'’-s" else word
        end = match.start() + len(trimmed)
        if trimmed:
            out.append((match.start(), end, trimmed.casefold()))
    return out


def _joined(text: str, tokens: list[tuple[int, int, str]], i: int, n: int) -> bool:
    """True if tokens i..i+n-1 are separated only by blanks (or a dot and blanks) on one line."""
    return all(_GAP.fullmatch(text, tokens[k][1], tokens[k + 1][0]) for k in range(i, i + n - 1))


def _cue(text: str, tokens: list[tuple[int, int, str]], i: int) -> tuple[bool, bool]:
    """(weak, strong): whether the words just before token ``i`` (same line, blanks between) are a cue."""
    before: list[str] = []
    k = i - 1
    limit = tokens[i][0]
    while k >= 0 and len(before) < 3:
        start, end, word = tokens[k]
        if not _BLANKS.fullmatch(text, end, limit):
            break
        before.insert(0, word)
        limit = start
        k -= 1
    weak = bool(before) and before[-1] in WEAK_CUES
    strong = any(tuple(before[-n:]) in STRONG_CUES for n in range(1, len(before) + 1))
    return weak or strong, strong


def _address_position(text: str, start: int, end: int) -> bool:
    """The name alone on its line (maybe with a postcode or state code after it), or after the comma
    that follows a numbered street line ("12 High St, ipswich")."""
    line_start = text.rfind("\n", 0, start) + 1
    if _STREET_BEFORE.search(text[line_start:start]):
        return True
    return bool(_LINE_HEAD.search(text, 0, start) and _LINE_TAIL.match(text, end)) and "\n" in text.strip()


class PlaceNameRecognizer(SpanRecognizer):
    """LOCATION: GeoNames town and city names, capitalised or after a cue (see the module docstring)."""

    ENTITY = "LOCATION"
    DEFAULT_SCORE = 0.6

    def spans(self, text: str) -> list[tuple[int, int]]:
        index = names()
        tokens = _tokens(text)
        found: list[tuple[int, int]] = []
        i = 0
        while i < len(tokens):
            matched = 0
            for words, tier in index.get(tokens[i][2], ()):
                n = len(words)
                if i + n > len(tokens) or tuple(t[2] for t in tokens[i : i + n]) != words:
                    continue
                if n > 1 and not _joined(text, tokens, i, n):
                    continue
                start, end = tokens[i][0], tokens[i + n - 1][1]
                if self._accept(text, tokens, i, start, end, tier):
                    found.append((start, end))
                    matched = n
                    break
            i += matched or 1
        return found

    @staticmethod
    def _accept(text: str, tokens: list[tuple[int, int, str]], i: int, start: int, end: int,
                tier: str) -> bool:
        capitalised = text[start].isupper() and text[tokens[i][0]:end].split()[-1][:1].isupper()
        if capitalised and tier == "A":
            return True
        weak, strong = _cue(text, tokens, i)
        if strong or (weak and (capitalised or tier == "A")):
            return True
        return (capitalised or tier == "A") and _address_position(text, start, end)
