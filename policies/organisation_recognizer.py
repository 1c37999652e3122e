"""ORGANIZATION names by their legal-form or institution word ("Brightwell Analytics Ltd",
"Norvale Bank", "ACME HOLDINGS PLC", "Kestrel & Finch LLP", "Müller GmbH").

spaCy's small model misses long or all-caps company names and often cuts them short; a registered
company name almost always ends in a legal form, and that ending is a structural cue that needs no
list of companies. The name is the run of capitalised words (or "&", "-", "of", "and" between them)
right before the legal form, at most six words.
"""

from __future__ import annotations

import regex

from .text_structure import COMMON_WORDS, SpanRecognizer

_WORD = r"(?:\p{Lu}[\p{L}\d'’.\-]*|\d+[\p{L}]*|&)"
_JOIN = r"(?:[ \t]+(?:of|and|for|de|du|des|der|und|&)[ \t]+|[ \t]+|[ \t]*-[ \t]*)"
# Legal forms and institution words, as written and in capitals ("Inc.", "INC."); case matters:
# "trust" or "bank" in running text is not a name's end.
_FORMS_TEXT = (
    "Inc. Inc Incorporated Ltd. Ltd Limited LLC L.L.C. LLP PLC plc Corp. Corp Corporation Co.Ltd. "
    "Co.,Ltd. Co. GmbH AG SE SA S.A. SAS SARL SpA S.p.A. SRL NV N.V. BV B.V. ASA AB Oy Oyj A/S ApS KK "
    "K.K. Holdings Holding Bancorp Bancorporation Bank Trust Fund ETF"
)
_FORMS = _FORMS_TEXT.split()
_FORM = "|".join(
    regex.escape(form) for form in sorted({*_FORMS, *(f.upper() for f in _FORMS)}, key=len, reverse=True)
)
ORGANISATION = regex.compile(rf"(?<![\p{{L}}\d])(?:{_WORD}{_JOIN}){{1,6}}(?:{_FORM})(?![\p{{L}}\d])")


class OrganisationSuffixRecognizer(SpanRecognizer):
    """ORGANIZATION: capitalised words ending in a legal form or institution word."""

    ENTITY = "ORGANIZATION"
    DEFAULT_SCORE = 0.6

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = []
        for match in ORGANISATION.finditer(text):
            start, end = match.span()
            words = match.group(0).split()
            # drop leading common words ("The", "At") that a sentence start capitalised
            while words and words[0].lower() in COMMON_WORDS:
                start = text.index(words[1], start + len(words[0])) if len(words) > 1 else end
                words = words[1:]
            if len(words) >= 2:
                found.append((start, end))
        return found
