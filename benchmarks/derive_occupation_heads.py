"""Derive the JOB_TITLE recognizer's occupation head nouns from the U.S. SOC 2018 Direct Match Title File.

Why: the head nouns decide which noun phrases can be job titles. A list written by hand after reading an
evaluation corpus's misses would be tuned to that corpus; this list comes from a public classification
by fixed rules, so anyone can rebuild it byte for byte and no rule looks at our corpora.

Source: U.S. Bureau of Labor Statistics, Standard Occupational Classification 2018, "Direct Match Title
File" (November 2017, updated April 15, 2020), a work of the U.S. Government and so in the public
domain (17 U.S.C. 105). The copy in ``benchmarks/data/`` is the CSV export from the public GitHub
repository butterswords/xai-bias-word-lists (``Professions/soc_2018_direct_match_title_file.csv`` at
commit 6e8b898ca6b79d87be2916cae533e48d8ac3a07f); every one of its 6,520 titles also appears in the
BLS ``.xlsx`` stored beside it there. Its SHA-256 is pinned below: a changed source fails loudly.

Rules, applied to each row in file order (mechanical; no word is added or removed by hand):

1. Rows of SOC major group 55 (military-specific occupations) are skipped: their titles name units
   and arms ("Field Artillery Officer", "Special Forces ...") rather than civilian job wording.
2. The title's core: parenthesised parts removed, then cut at the first comma, " - ", or preposition
   word (of, for, in, to, on, at, with, except, from, by): "Commissioner of Internal Revenue" ->
   "Commissioner". Its last word is the head; "Host/Hostess" gives both "host" and "hostess".
3. A head must be one alphabetic word of 3+ letters written in lower or title case (acronyms such as
   "CEO", "RN" and hyphenated or numbered tokens are dropped); it is lower-cased.
4. A head ending in "s" (not "ss") is a plural or a mass noun: it becomes its singular (last letter
   dropped) when that singular is itself a head of some title, and is dropped otherwise ("operations").
5. Heads ending in an abstract-noun or adjective suffix (-ing -ion -ment -ness -ity -ence -ance -ogy
   -ics -ship -al) are dropped: they are what is left of a truncated phrase, not a person.
6. A head is kept when any of these holds:
   a. it ends in an agent-noun suffix (-er -or -ist -ian -ant -ent -eer -ee -ess -man -woman -person
      -smith -wright);
   b. it is the head of at least ``MIN_TITLES`` (3) titles: SOC uses it as an occupational head noun;
   c. a whole title is this single word ("Nanny", "Paramedic", "Priest"): the classification itself
      names the occupation with it.

Run: ``.venv/bin/python -m benchmarks.derive_occupation_heads`` (writes the data file) or with
``--check`` (exit 1 when the committed file differs from what the source and rules give).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from benchmarks.derived_data import pinned_bytes, write_or_check

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "benchmarks" / "data" / "soc_2018_direct_match_title_file.csv"
OUTPUT = REPO / "policies" / "data" / "occupation_heads.txt"
SOURCE_SHA256 = "fb87cdc5098972a16a7529ef9932fec9411fb9c0fe54f701cea45ebd4ee68df3"
#: Fixed so that ``--check`` is reproducible; change it when the source or the rules change.
DERIVED_ON = "2026-12-02"
MIN_TITLES = 3

_TITLE_COLUMN = "2018 SOC Direct Match Title"
_CODE_COLUMN = "2018 SOC Code"
_CUT = re.compile(r",|\s[-\u2013]\s|\s(?:of|for|in|to|on|at|with|except|from|by)\s", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]{3,}")
_AGENT_SUFFIXES = ("er", "or", "ist", "ian", "ant", "ent", "eer", "ee", "ess", "man", "woman", "person",
                   "smith", "wright")
_ABSTRACT_SUFFIXES = ("ing", "ion", "ment", "ness", "ity", "ence", "ance", "ogy", "ics", "ship", "al")

HEADER = f"""\
# Occupation head nouns for the JOB_TITLE recognizer (policies/job_title_recognizer.py), one a line.
# Source: U.S. Bureau of Labor Statistics, Standard Occupational Classification (SOC) 2018,
#   Direct Match Title File (November 2017, updated April 15, 2020), https://www.bls.gov/soc/2018/
#   copy: github.com/butterswords/xai-bias-word-lists, Professions/soc_2018_direct_match_title_file.csv
#   at commit 6e8b898ca6b79d87be2916cae533e48d8ac3a07f, sha256 {SOURCE_SHA256}
#   (vendored as benchmarks/data/soc_2018_direct_match_title_file.csv)
# Licence: U.S. Government work, public domain (17 U.S.C. 105).
# Derived {DERIVED_ON} by benchmarks/derive_occupation_heads.py (rules in its docstring); do not edit
# by hand: change the rules and re-run the script.
"""


def _core_heads(title: str) -> list[str]:
    """The head word(s) of one title, before any filtering (rule 2)."""
    core = _CUT.split(re.sub(r"\([^)]*\)", " ", title), maxsplit=1)[0].split()
    return [part for part in core[-1].split("/") if part] if core else []


def _is_word(token: str) -> bool:
    """Rule 3: one alphabetic word in lower or title case, not an acronym."""
    return bool(_WORD.fullmatch(token)) and not token.isupper() and token[1:] == token[1:].lower()


def derive(rows: Iterable[dict[str, str]]) -> list[str]:
    """The sorted head nouns that rules 1-6 keep from the SOC direct-match rows."""
    counts: Counter[str] = Counter()
    single_word: set[str] = set()
    for row in rows:
        if row[_CODE_COLUMN].startswith("55-"):
            continue
        title = row[_TITLE_COLUMN].strip()
        for token in _core_heads(title):
            if _is_word(token):
                counts[token.lower()] += 1
        if _is_word(title):
            single_word.add(title.lower())
    merged: Counter[str] = Counter()
    singles: set[str] = set()
    for word, count in counts.items():
        if word.endswith("s") and not word.endswith("ss"):
            if word[:-1] not in counts:
                continue
            word = word[:-1]
        merged[word] += count
    for word in single_word:
        singles.add(word[:-1] if word.endswith("s") and not word.endswith("ss") and word[:-1] in counts
                    else word)
    kept = {
        word for word, count in merged.items()
        if not word.endswith(_ABSTRACT_SUFFIXES)
        and (word.endswith(_AGENT_SUFFIXES) or count >= MIN_TITLES or word in singles)
    }
    return sorted(kept)


def read_source(path: Path = SOURCE) -> list[dict[str, str]]:
    """The source rows, after checking the file is the pinned one (fail closed on any other)."""
    data = pinned_bytes(path, SOURCE_SHA256)
    reader = csv.DictReader(data.decode("utf-8-sig").splitlines())
    missing = {_TITLE_COLUMN, _CODE_COLUMN} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{path}: header lacks {sorted(missing)}")
    return list(reader)


def render(heads: list[str]) -> str:
    """The data file's text: the provenance header, then one head a line."""
    return HEADER + "".join(f"{head}\n" for head in heads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from the derivation")
    args = parser.parse_args(argv)
    try:
        text = render(derive(read_source(args.source)))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = text.count("\n") - HEADER.count("\n")
    return write_or_check(args.out, text, check=args.check, source=args.source, summary=f"{count} head nouns")


if __name__ == "__main__":
    sys.exit(main())
