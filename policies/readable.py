"""Text as a reader (or a model) reads it: NFKC, invisible format characters removed.

Detection works on code points, readers do not: ``Zebu\\u200blon``, ``zebulon.q\\uff20rtleak.com`` or
a card number in full-width digits read as the plain value, yet the recognizers miss them. Where text
leaves for a model (the proxy), it is detected and sent in this form, so a value in disguise is found
(or the disguise is gone). Text that is already readable (all ASCII text) is returned as it is.
"""

from __future__ import annotations

import unicodedata


def readable(text: str) -> str:
    """``text`` in NFKC with every format character (category Cf: zero-width spaces and joiners, soft
    hyphens, bidi controls, tag characters) removed."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    if any(unicodedata.category(c) == "Cf" for c in text):
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
        text = unicodedata.normalize("NFKC", text)  # removing a character can expose a new composition
    return text
