"""Which of a policy's languages a text is written in: a cheap, deterministic, explainable decision.

Used only when ``detection.languages`` lists more than one language. Each language has a fixed list of
its most common function words (articles, pronouns, prepositions, conjunctions, auxiliaries), written
by hand and chosen so that no word is in two lists or a common word of the other language ("a", "on",
"me" are English and French; "ai", "ton", "an" are English words too: they are in neither). A text's
words are lower-cased and counted against each list; the language with the
most hits wins if it has at least :data:`MIN_HITS` and strictly more than any other. Otherwise (a lone
name, an identifier, a tie) the text goes to the policy's first language. Names, numbers and
addresses carry no function words, so they never tip the decision; a few words of running text do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ENGLISH = """
    the and of to is in that it for you was with as are be this have at or by from not but we they he she
    his her my your our their will can would i has had were there what which who been do does did if him
    them us about into than then these those when where
"""
_FRENCH = """
    le la les et est un une des du de dans que qui pour pas sur avec au aux ce cette ces il elle nous vous
    je mais ou où sont été être avoir avez avons ont sa ses leur leurs mon ma mes votre vos notre nos par
    se ne lui y très aussi comme chez depuis
"""
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_ENGLISH.split()), "fr": frozenset(_FRENCH.split())
}
MIN_HITS = 2
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def _words(text: str) -> list[str]:
    words: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        # French elision: "l'adresse", "d'un", "qu'il" count their article or pronoun
        head, _, tail = word.replace("’", "'").partition("'")
        words.extend((head, tail) if tail else (head,))
    return words


def language_hits(text: str, languages: Sequence[str]) -> dict[str, int]:
    """Per language, the words of ``text`` found in its function-word list."""
    counts = dict.fromkeys(languages, 0)
    lists = [(lang, FUNCTION_WORDS.get(lang, frozenset())) for lang in languages]
    for word in _words(text):
        for lang, words in lists:
            if word in words:
                counts[lang] += 1
    return counts


def detect_language(text: str, languages: Sequence[str]) -> str:
    """The language of ``text`` among ``languages`` (the first one when no language clearly leads)."""
    if len(languages) == 1:
        return languages[0]
    counts = language_hits(text, languages)
    ranked = sorted(counts.values(), reverse=True)
    best = max(counts, key=lambda lang: counts[lang])
    if ranked[0] >= MIN_HITS and ranked[0] > ranked[1]:
        return best
    return languages[0]
