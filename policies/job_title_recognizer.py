"""JOB_TITLE: a person's job title where the text's structure says it is one ("Mira Holt, the Harbour
pilot, said", "I worked for Norvale Bank as Loan officer", a title line in a signature or contact block).

A job title is a quasi-identifier: with an employer and a town it often names one person. spaCy has no
label for it. The recognizer needs two things, never a list of job titles:

* **a head noun** that names an occupation (:data:`HEADS`: "engineer", "officer", "nurse", ...),
  read from ``data/occupation_heads.txt``, which ``benchmarks/derive_occupation_heads.py`` derives by
  fixed rules from the U.S. BLS SOC 2018 Direct Match Title File (public domain), never from a corpus
  we evaluate on; the title is that noun and up to five words before it ("Semiconductor processing
  technician", "Fiscal and policy analyst");
* **a cue**: after "as" / "as a(n)" / "works as" / "job title:" / "position:" / "role:" /
  "occupation:"; between commas after a name (", the X,"); or a whole short line of a multi-line text
  (a signature or contact block: "Community planner" under the name).

"the manager" in running prose has no cue and is left alone.
"""

from __future__ import annotations

import functools
from importlib import resources

import regex

from .text_structure import SpanRecognizer

HEADS_FILE = "data/occupation_heads.txt"
_HEAD_WORD = regex.compile(r"[a-z]+")


def load_heads(text: str, source: str = HEADS_FILE) -> frozenset[str]:
    """The head nouns of a heads file: one lower-case word a line, ``#`` comments; fail closed on others."""
    heads: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if not _HEAD_WORD.fullmatch(word):
            raise ValueError(f"{source}:{number}: a head noun is one lower-case word (a-z)")
        heads.add(word)
    if not heads:
        raise ValueError(f"{source}: no head nouns")
    return frozenset(heads)


#: Read from the installed package (works from a wheel or a zip as well as from the source tree).
HEADS = load_heads(
    resources.files(__package__).joinpath("data").joinpath("occupation_heads.txt").read_text(encoding="utf-8")
)

# the head nouns as a named list (``\L<heads>``): regex matches it as a set, longest first, much faster than
# an alternation of ~900 words
_HEAD = r"\L<heads>"
# up to five modifier words (either case, maybe hyphenated, "and"/"of"/"&" between) and the head noun
_TITLE = rf"(?:[\p{{L}}][\p{{L}}\-]*[ \t]+(?:(?:and|of|&)[ \t]+)?){{0,5}}(?i:{_HEAD})s?"


@functools.cache
def _patterns() -> tuple[regex.Pattern[str], regex.Pattern[str], regex.Pattern[str], regex.Pattern[str]]:
    """The cue patterns (after "as", appositive, labelled, title line), compiled on first use: with ~900
    head nouns they take ~0.2 s, which every import of the policies package would otherwise pay."""
    heads = sorted(HEADS)
    after_as = regex.compile(
        rf"(?<=\b(?:(?i:works?|worked|working|employed|hired|serves?|served|job|position|role)[ \t]+as"
        rf"|\bas)[ \t]+(?:an?[ \t]+)?)({_TITLE})\b"
        r"(?=[ \t]*(?:[^\p{L} \t]|$)|[ \t]+(?i:in|at|for|with|on|from|until|since|and|but|before|after)\b)",
        heads=heads,
    )
    # ", the Harbour pilot," after a name
    appositive = regex.compile(rf"(?<=\p{{L}}\.?,[ \t]+(?:the|our|their|a|an)[ \t]+)({_TITLE})(?=[ \t]*,)",
                               heads=heads)
    labelled = regex.compile(
        rf"(?im)\b(?:job[ \t]+title|title|position|role|occupation|profession|job)[ \t]*:[ \t]*"
        rf"(?-i:({_TITLE}))\b[ \t]*(?=$|[,.;\n])",
        heads=heads,
    )
    line = regex.compile(rf"(?m)^[ \t>|}}?#*]*((?=\p{{Lu}}){_TITLE})[ \t]*$", heads=heads)
    return after_as, appositive, labelled, line


_WORDS = regex.compile(r"[a-z]{3,}")
_SMALL_WORDS = frozenset({"the", "a", "an", "our", "their", "my", "your", "his", "her", "this", "that"})


class JobTitleRecognizer(SpanRecognizer):
    """JOB_TITLE: an occupation noun phrase with a structural cue (see the module docstring)."""

    ENTITY = "JOB_TITLE"
    DEFAULT_SCORE = 0.6

    def spans(self, text: str) -> list[tuple[int, int]]:
        # cheap gate: a head noun (or its plural) must occur as a word before any pattern runs
        if not any(word in HEADS or word[:-1] in HEADS for word in _WORDS.findall(text.lower())):
            return []
        found: set[tuple[int, int]] = set()
        after_as, appositive, labelled, line = _patterns()
        patterns = [after_as, appositive]
        if ":" in text:
            patterns.append(labelled)
        if "\n" in text.strip():
            patterns.append(line)
        for pattern in patterns:
            for match in pattern.finditer(text):
                start, end = match.span(1)
                words = text[start:end].split()
                # a leading article or possessive is the cue's, not the title's
                while len(words) > 1 and words[0].lower() in _SMALL_WORDS:
                    start = text.index(words[1], start + len(words[0]))
                    words = words[1:]
                if pattern is line and len(words) > 6:
                    continue
                found.add((start, end))
        return sorted(found)
