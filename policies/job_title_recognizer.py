"""JOB_TITLE: a person's job title where the text's structure says it is one ("Mira Holt, the Harbour
pilot, said", "I worked for Norvale Bank as Loan officer", a title line in a signature or contact block).

A job title is a quasi-identifier: with an employer and a town it often names one person. spaCy has no
label for it. The recognizer needs two things, never a list of job titles:

* **a head noun** that names an occupation (:data:`HEADS`: "engineer", "officer", "nurse", ...),
  written by hand from everyday English; the title is that noun and up to five words before it
  ("Semiconductor processing technician", "Fiscal and policy analyst");
* **a cue**: after "as" / "as a(n)" / "works as" / "job title:" / "position:" / "role:" /
  "occupation:"; between commas after a name (", the X,"); or a whole short line of a multi-line text
  (a signature or contact block: "Community planner" under the name).

"the manager" in running prose has no cue and is left alone.
"""

from __future__ import annotations

import regex

from .text_structure import SpanRecognizer

_HEADS = """
    accountant actor adjuster administrator adviser advisor agent aide analyst appraiser architect
    archivist artist assembler assistant associate attendant attorney auditor baker banker barber
    bartender biologist bookkeeper broker builder butcher buyer caregiver carpenter cashier chef chemist
    chiropractor cleaner clerk coach consultant controller cook coordinator counsellor counselor courier
    curator custodian dean dentist designer detective developer dietitian director dispatcher doctor
    driver economist editor educator electrician engineer estimator examiner executive farmer
    firefighter fitter gardener geologist guard guide hairdresser handler housekeeper hygienist
    inspector installer instructor interpreter investigator janitor journalist labourer laborer lawyer
    lecturer librarian machinist manager mechanic midwife musician nanny negotiator nurse nutritionist
    officer operator optician optometrist painter paralegal paramedic pathologist pharmacist
    photographer physician physicist physiotherapist pilot planner plumber podiatrist practitioner
    president producer professor programmer psychiatrist psychologist receptionist recruiter repairer
    reporter representative researcher restorer salesperson scientist secretary sergeant solicitor
    specialist statistician steward supervisor surgeon surveyor teacher technician technologist
    therapist trainer translator treasurer tutor underwriter veterinarian waiter waitress welder worker
    writer
"""
HEADS = frozenset(_HEADS.split())

_HEAD = "|".join(sorted(HEADS, key=len, reverse=True))
# up to five modifier words (either case, maybe hyphenated, "and"/"of"/"&" between) and the head noun
_TITLE = rf"(?:[\p{{L}}][\p{{L}}\-]*[ \t]+(?:(?:and|of|&)[ \t]+)?){{0,5}}(?i:{_HEAD})s?"
_AFTER_AS = regex.compile(
    rf"(?<=\b(?:(?i:works?|worked|working|employed|hired|serves?|served|job|position|role)[ \t]+as"
    rf"|\bas)[ \t]+(?:an?[ \t]+)?)({_TITLE})\b"
    r"(?=[ \t]*(?:[^\p{L} \t]|$)|[ \t]+(?i:in|at|for|with|on|from|until|since|and|but|before|after)\b)"
)
_LABELLED = regex.compile(
    rf"(?im)\b(?:job[ \t]+title|title|position|role|occupation|profession|job)[ \t]*:[ \t]*(?-i:({_TITLE}))"
    r"\b[ \t]*(?=$|[,.;\n])"
)
# ", the Harbour pilot," after a name
_APPOSITIVE = regex.compile(
    rf"(?<=\p{{L}}\.?,[ \t]+(?:the|our|their|a|an)[ \t]+)({_TITLE})(?=[ \t]*,)"
)
_LINE = regex.compile(rf"(?m)^[ \t>|}}?#*]*((?=\p{{Lu}}){_TITLE})[ \t]*$")
_SMALL_WORDS = frozenset({"the", "a", "an", "our", "their", "my", "your", "his", "her", "this", "that"})


class JobTitleRecognizer(SpanRecognizer):
    """JOB_TITLE: an occupation noun phrase with a structural cue (see the module docstring)."""

    ENTITY = "JOB_TITLE"
    DEFAULT_SCORE = 0.6

    def spans(self, text: str) -> list[tuple[int, int]]:
        lower = text.lower()
        if not any(head in lower for head in HEADS):
            return []
        found: set[tuple[int, int]] = set()
        patterns = [_AFTER_AS, _APPOSITIVE]
        if ":" in text:
            patterns.append(_LABELLED)
        if "\n" in text.strip():
            patterns.append(_LINE)
        for pattern in patterns:
            for match in pattern.finditer(text):
                start, end = match.span(1)
                words = text[start:end].split()
                # a leading article or possessive is the cue's, not the title's
                while len(words) > 1 and words[0].lower() in _SMALL_WORDS:
                    start = text.index(words[1], start + len(words[0]))
                    words = words[1:]
                if pattern is _LINE and len(words) > 6:
                    continue
                found.add((start, end))
        return sorted(found)
