"""Postal addresses as whole blocks: a street line, then its unit, town, region, postcode and country.

A street line is found by its structure (never by a list of streets or towns):

* house number(s) + capitalised words + a street-type word ("3240 Meadow Drive", "12 Harrow Close");
* a street-type word first, as in Romance and Slavic languages ("8 rue des Lilas", "Via Roma 12");
* a compound street name + house number ("Lindenstraße 23", "Storgatan 3");
* house number + capitalised words + house number, where a street type is not written
  ("637 Strojírenská 1006"): only at the start of a line (maybe quoted or after a label such as
  "User:"), of a sentence, or after an address cue ("lives at", "to");
* a PO box, or a US military address ("PSC 2322, Box 6025" + "APO AE 09123").

From there the block goes on over what follows on the same line or on the next ones, each piece
separated by a comma, a line break or spaces: a unit ("Apt. 4", "Suite 300"), capitalised place words
("Maple Falls", "SPRINGDALE HEIGHTS", "Saint-Aubin-les-Prés"), a region code ("NSW") and postcodes
(digits, UK and Canadian layouts). It stops at a lower-case or common word ("for", "Thanks"), at a
label ("Mobile:"), at a sentence end and at a blank line, and after a few pieces. "The corner of A
and B" takes both streets. A ZIP or postcode is therefore found only next to a street or a town.

Mono-case text (all-caps notes, all-lower chats) is read through ``text_structure.normalise_case``
(same length), so the capitalisation cues hold there too.
"""

from __future__ import annotations

import regex

from .text_structure import COMMON_WORDS, SpanRecognizer, case_of, normalise_case

_CAP = r"\p{Lu}[\p{L}'’\-]*\.?"  # a capitalised (or all-caps) word, maybe abbreviated
_NUM = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,5})?"
_PARTICLE = r"(?:de|del|della|delle|dei|di|da|das|do|dos|des|du|la|le|les|l'|d'|y|e|am|an|der|im|van|von|sur)"
_STREET_TYPE = (
    r"(?i:street|st\.?|avenue|ave\.?|road|rd\.?|boulevard|blvd\.?|lane|ln\.?|drive|dr\.?|court|ct\.?|"
    r"place|pl\.?|square|sq\.?|terrace|way|circle|cir\.?|highway|hwy\.?|parkway|pkwy\.?|crescent|close|"
    r"grove|gardens|row|alley|trail|walk|mews|heights|greens?|hill|loop|plaza|quay|wharf|"
    r"straße|strasse|str\.|weg|platz|gasse|allee|chaussee|damm|ufer|straat|laan|vej|gade|gatan|vägen)"
)
_TYPE_FIRST = (
    r"(?i:via|viale|vicolo|piazza|piazzale|largo|corso|rue|avenue|av\.|boulevard|bd\.?|chemin|impasse|"
    r"allée|quai|place|route|calle|c/|avenida|avda\.?|plaza|paseo|camino|carrer|carretera|ronda|rua|"
    r"travessa|praça|estrada|ulica|ul\.|aleja|al\.|plac|strada|str\.|odos|leoforos)"
)
# Type words that start a street name even without a house number before them: not English words
# that also begin ordinary sentences ("Place", "Route", "Avenue").
_TYPE_FIRST_NAMED = (
    r"(?i:via|viale|vicolo|piazza|piazzale|corso|rue|chemin|impasse|allée|calle|avenida|paseo|camino|"
    r"carrer|carretera|rua|travessa|praça|estrada|ulica|ul\.|aleja|strada|odos|leoforos)"
)
_COMPOUND = (
    r"\p{Lu}[\p{L}\-]*?(?i:straße|strasse|str\.|weg|platz|gasse|allee|damm|ufer|ring|straat|laan|gracht|"
    r"plein|steeg|vej|gade|gatan|vägen|gata|veien|vegen|gate|utca|katu|tie|kuja|polku)"
)
_H = r"[ \t]+"  # horizontal white space

_NAMED_FIRST = (
    rf"(?-i:\b(?=\p{{Lu}}){_TYPE_FIRST_NAMED}){_H}(?:{_PARTICLE}{_H})*{_CAP}"
    rf"(?:{_H}(?:{_PARTICLE}{_H})*{_CAP}){{0,3}}"
)
STREET = regex.compile(
    "|".join(
        [
            # English order: number(s), words, street type, maybe a trailing number
            rf"(?P<en>\b(?:{_NUM},?{_H}){{1,2}}(?:(?:{_CAP}|{_PARTICLE}){_H}){{0,4}}{_CAP}{_H}{_STREET_TYPE}"
            rf"(?!\p{{L}})(?:{_H}{_NUM}\b)?)",
            # street type first: a leading number or a capitalised type word
            rf"(?P<first>\b(?:{_NUM},?{_H}){{1,2}}{_TYPE_FIRST}{_H}(?:{_PARTICLE}{_H})*{_CAP}"
            rf"(?:{_H}(?:{_PARTICLE}{_H})*{_CAP}){{0,3}}(?:,?{_H}(?:n[º°o]?\.?{_H}?)?{_NUM}\b)?"
            rf"|{_NAMED_FIRST}(?:,?{_H}(?:n[º°o]?\.?{_H}?)?{_NUM}\b)?)",
            # compound street name + number
            rf"(?P<compound>\b(?:{_NUM}{_H})?{_COMPOUND}{_H}{_NUM}\b)",
            # number, words, number (no street type written): checked for a cue below
            rf"(?P<bare>\b(?:{_NUM}{_H}){{1,2}}(?:{_CAP}{_H}){{0,3}}{_CAP}{_H}{_NUM}\b)",
            # PO box; US military mail
            r"(?P<box>\b(?i:p\.?[ \t]?o\.?[ \t]?box|post[ \t]office[ \t]box|postfach|apartado|"
            r"casella[ \t]postale)"
            r"[ \t]*\d{1,6}\b)",
            r"(?P<mil>\b(?:PSC|Unit|CMR)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{1,5}"
            r"(?:[ \t]*\n?[ \t]*(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5})?)",
            rf"(?P<ship>\b(?:USNS|USNV|USS|USCGC)[ \t]+{_CAP}(?:[ \t]+{_CAP}){{0,2}}"
            r"[ \t]*,?[ \t]*\n?[ \t]*(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5})",
        ]
    )
)
# Every other kind of street line has a digit: a text without one needs only this search.
STREET_WITHOUT_DIGITS = regex.compile(rf"(?P<first>{_NAMED_FIRST})")
_ANY_DIGIT = regex.compile(r"\d")
# "Address:" (and its kin) labels the value after it, on the same line or on the lines below it.
_LABEL = regex.compile(
    r"(?im)^[ \t]*(?:(?:home|mailing|postal|billing|shipping|delivery|street|business|office|work|"
    r"correspondence)[ \t]+)?(?:address|addr\.|ship[ \t]+to|deliver[ \t]+to|adresse|anschrift|indirizzo|"
    r"direcci[oó]n|endere[cç]o)[ \t]*:[ \t]*(?:\n[ \t]*)?"
)
_LABELLED_LINE = regex.compile(r"[^\n:]{1,80}(?=\n|$)")
_MAX_LABELLED_LINES = 5
# A bare "number words number" street line needs a line start (maybe quoted, maybe after a label such as
# "User:"), a sentence start or an address cue before it.
_CUE = regex.compile(
    r"(?i:(?:^|\n)[ \t]*(?:[>|}?#*]{1,3}[ \t]*)?(?:\p{L}[\p{L} ]{0,20}:[ \t]*)?|[.?!][ \t]+"
    r"|(?:address|addressed|located|lives?|living|resid\w*|moved|"
    r"send|sent|ship\w*|deliver\w*|mail\w*|post|to|at|is|in|from)[ \t]*:?[ \t]*)$"
)
_UNIT = regex.compile(
    r"(?i:apt\.?|apartment|suite|ste\.?|unit|flat|floor|fl\.|room|rm\.?|bldg\.?|building|#)[ \t]*#?[ \t]*"
    r"[\w\-]{1,6}\b"
)
_POSTCODE = regex.compile(
    r"(?:\d{3,6}(?:[ \-]\d{2,4})?|(?-i:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})|"
    r"(?-i:[A-CEGHJ-NPR-TVXY]\d[A-CEGHJ-NPR-TV-Z][ \t]?\d[A-CEGHJ-NPR-TV-Z]\d))(?![\w\-])"
)
_REGION = regex.compile(r"(?-i:[A-Z]{2,3})(?![\w])")  # "OR", "NSW": checked on the original text
_PLACE_WORD = regex.compile(rf"(?:{_CAP}|{_PARTICLE}(?=[ \t]+\p{{Lu}}))(?![\w])")
# Between pieces: a comma, a line break (the next line maybe quoted: "> ", "| ", "}}") or spaces.
_SEPARATOR = regex.compile(r"[ \t]*(?:\n[ \t]*,|,[ \t]*\n?|\n(?:[ \t]*[>|}?#*]{1,3})?)[ \t]*|[ \t]+")
_CORNER_BEFORE = regex.compile(r"(?i:(?:the[ \t]+)?corner[ \t]+of[ \t]+)$")
_AND_STREET = regex.compile(rf"[ \t]+(?i:and|&)[ \t]+((?:{_CAP}[ \t]+){{0,3}}{_CAP})(?![\w])")

# Capitalised words that end a block: sign-offs, greetings and labels that follow addresses.
_ENDERS = "attn attention tel phone mobile cell fax email e-mail web www ref re subject cc bcc regards yours"
_STOP = COMMON_WORDS | frozenset(_ENDERS.split()) | {"cheers", "best", "kind", "many", "warm", "note", "ps"}
_MAX_PIECES = 6
_MAX_WORDS = 5


class AddressBlockRecognizer(SpanRecognizer):
    """STREET_ADDRESS: a street line and the unit, town, region, postcode and country lines after it."""

    ENTITY = "STREET_ADDRESS"
    DEFAULT_SCORE = 0.9

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every address block in ``text``, merged where they touch."""
        source = normalise_case(text) if case_of(text) else text
        found: list[tuple[int, int]] = []
        streets = STREET if _ANY_DIGIT.search(source) else STREET_WITHOUT_DIGITS
        for match in streets.finditer(source):
            start, end = match.span()
            if match.lastgroup == "bare" and not _CUE.search(source, 0, start):
                continue
            corner = _CORNER_BEFORE.search(source, 0, start)
            if corner:
                start = corner.start()
            end = _extend(source, end, text)
            if corner:
                other = _AND_STREET.match(source, end)
                if other:
                    end = _extend(source, other.end(), text)
            found.append((start, _sentence_end(source, start, end)))
        for label in _LABEL.finditer(source) if ":" in source else ():
            block = _labelled_block(source, label.end())
            if block is not None:
                found.append(block)
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def _sentence_end(text: str, start: int, end: int) -> int:
    """``end`` without a full stop that closes a sentence rather than an abbreviation ("France.",
    not "St." or "Apt.": an abbreviation is a word of at most four letters)."""
    if end > start and text[end - 1] == "." and len(regex.split(r"\s", text[start : end - 1])[-1]) > 4:
        return end - 1
    return end


def _labelled_block(text: str, pos: int) -> tuple[int, int] | None:
    """The lines of the value an address label introduces: up to a blank line, a line with a label
    of its own ("Phone:") or ``_MAX_LABELLED_LINES`` lines."""
    end = None
    cursor = pos
    for _ in range(_MAX_LABELLED_LINES):
        line = _LABELLED_LINE.match(text, cursor)
        if not line or not line.group(0).strip():
            break
        end = line.end()
        nxt = regex.match(r"\n[ \t]*", text[end:])
        if not nxt:
            break
        cursor = end + nxt.end()
    if end is None:
        return None
    return pos, len(text[:end].rstrip(" \t.?!"))


def _piece(text: str, pos: int, original: str) -> int | None:
    """End of the address piece starting at ``pos`` (a unit, postcode, region code or up to
    ``_MAX_WORDS`` place words, maybe followed by a postcode), or None when none starts there.
    ``text`` may be a case-normalised copy of ``original``."""
    unit = _UNIT.match(text, pos)
    if unit:
        return unit.end()
    code = _POSTCODE.match(text, pos)
    if code:
        return code.end()
    end = None
    region = _REGION.match(original, pos)
    # in all-caps text every word looks like a region code: there, common words are not one
    if region and original[region.end() : region.end() + 1] != ":" and (
        text is original or region.group(0).lower() not in _STOP
    ):
        end = region.end()
        gap = regex.match(r"[ \t]+", text[end:])
        after = _POSTCODE.match(text, end + gap.end()) if gap else None
        return after.end() if after else end
    cursor = pos
    words = 0
    while words < _MAX_WORDS:
        word = _PLACE_WORD.match(text, cursor)
        if not word or word.group(0).lower().rstrip(".") in _STOP:
            break
        words += 1
        end = cursor = word.end()
        gap = regex.match(r"[ \t]+", text[cursor:])
        if not gap:
            break
        cursor += gap.end()
    if end is None:
        return None
    if text.startswith(":", end):  # "Mobile:" is a label, not a town
        return None
    code = regex.match(r"[ \t]+", text[end:])
    if code:
        after = _POSTCODE.match(text, end + code.end())
        if after:
            end = after.end()
    return end


def _extend(text: str, end: int, original: str) -> int:
    """``end`` moved over the pieces that follow a street line."""
    for _ in range(_MAX_PIECES):
        sep = _SEPARATOR.match(text, end)
        if not sep:
            break
        if sep.group(0).count("\n") > 1:
            break
        nxt = _piece(text, sep.end(), original)
        if nxt is None:
            break
        end = nxt
    return end
