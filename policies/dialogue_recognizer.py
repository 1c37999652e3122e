"""PERSON names from dialogue and letter cues, where NER alone misses them.

* **Speaker labels**: a capitalised word or two at the start of a line followed by ``:`` ("Selma:",
  "SELMA:"), counted as a speaker only when the same label starts two or more lines (speakers talk
  more than once; a record's ``Genre: ...`` lines do not repeat) and it is not a role or field word.
* **Speech verbs**: "said X to Y", "told X", "asked X", "X replied".
* **Greetings and sign-offs**: "Dear X,", "Hi X", a name on the line after "Regards," / "Thanks,"
  or on the same line ("Thanks, X"), a name after a signature separator ``--``.
* **Person labels**: "Name: X", "From: X <...>", "Directed by: X".
* **Letter heads**: the first line of a multi-line text made only of name words and initials
  ("Vittore G. Fiorentini"), unless it ends in a company's legal form.

Every name found is also taken wherever else it occurs in the same text as a whole word.
Mono-case text is read through ``text_structure.normalise_case`` (same length).
"""

from __future__ import annotations

import regex

from .organisation_recognizer import ORGANISATION
from .text_structure import COMMON_WORDS, SpanRecognizer, case_of, normalise_case

_NAME_WORD = r"\p{Lu}[\p{Ll}\p{Lu}'’\-]*\p{L}"
_NAME = rf"(?:\p{{Lu}}\.[ \t]?)?{_NAME_WORD}(?:[ \t]+(?:\p{{Lu}}\.[ \t]?)?{_NAME_WORD}){{0,2}}"
_TITLE = r"(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof|Miss|Sir|Herr|Frau|Mme|Mlle|Madame|Monsieur)\.?[ \t]+)?"

# What may open a line before its speaker label, greeting or sign-off: quote markers of a replied-to
# e-mail ("> ", "> > ") and a chat log's time stamp ("[10:42]", "10:42 PM", "(09:15:03)").
_LINE_OPEN = (
    r"[ \t]*(?:>[ \t>]*)?(?:[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]?[AaPp]\.?[Mm]\.?)?[\])]?[ \t]+)?"
)
# A speaker label may carry a role in brackets after the name: "Tyler (agent):", "Ana [support]:".
_SPEAKER = regex.compile(
    rf"(?m)^{_LINE_OPEN}({_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)[ \t]*(?:[(\[][\w \t.-]{{1,20}}[)\]][ \t]*)?"
    r":[ \t]*(\S[^\n]*)"
)
# Speech, not a field value: a quote, or two words starting lower-case.
_PROSE = regex.compile(r"[\"“”]|\b\p{Ll}\p{L}*\b.*\b\p{Ll}\p{L}*\b")
# A field label that names a person ("Name: Keiko B Soto", "From: Jane Roe <jane@...>").
_FULL_NAME = rf"{_NAME_WORD}(?:[ \t]+(?:\p{{Lu}}\.?|{_NAME_WORD})){{0,3}}"
_PERSON_LABEL = regex.compile(
    r"(?im)^[ \t]*(?:name|full[ \t]+name|customer|client|contact|patient|employee|author|"
    r"(?:directed|written|produced|signed|prepared|approved|reported)[ \t]+by|signed|from|to|attn\.?|"
    r"attention|recipient|sender|applicant|guest|passenger|owner|account[ \t]+holder|card[ \t]?holder|nom)"
    rf"[ \t]*:[ \t]*(?-i:({_FULL_NAME}))[ \t]*(?=\n|$|<|,|\()"
)
_VERB = (
    r"(?:said|says|told|asked|replied|wrote|shouted|whispered|answered|emailed|texted|messaged|"
    r"thanked|warned)"
)
_AFTER_VERB = regex.compile(rf"\b(?i:{_VERB})(?:[ \t]+(?i:to|at))?[ \t]+{_TITLE}({_NAME})")
_BEFORE_VERB = regex.compile(
    rf"(?:^|(?<=[\n.!?;\"“][ \t]*)|(?<=^[ \t]*))({_NAME})[ \t]+(?i:{_VERB})\b", regex.M
)
_GREETING = regex.compile(
    rf"(?m)^{_LINE_OPEN}(?i:dear|hi|hello|hey|hiya|good[ \t]+(?:morning|afternoon|evening)|bonjour|hallo|"
    rf"liebe[rs]?|ciao|hola)[ \t]+{_TITLE}({_NAME})[ \t]*(?=[,!:\n]|$)"
)
_SIGN_OFF = regex.compile(
    r"(?im)^[ \t]*(?:>[ \t>]*)?"
    r"(?:kind[ \t]+regards|best[ \t]+regards|warm[ \t]+regards|warmest[ \t]+regards|regards|"
    r"best[ \t]+wishes|best|thanks|thank[ \t]+you|many[ \t]+thanks|cheers|sincerely|yours[ \t]+sincerely|"
    r"yours[ \t]+truly|yours[ \t]+faithfully|respectfully|cordialement|bien[ \t]+à[ \t]+vous|"
    r"mit[ \t]+freundlichen[ \t]+grüßen|viele[ \t]+grüße|liebe[ \t]+grüße|saludos|un[ \t]+saluto)"
    rf"[ \t]*[,.!\-]*[ \t]*(?:\n[ \t]*(?:>[ \t>]*)?|(?<=,)[ \t]*)(?-i:({_NAME}))[ \t]*(?=\n|$)"
)
# The first line of a multi-line text made only of name words and initials ("Vittore G. Fiorentini"):
# the head of a letter, a signature or a contact card.
_HEAD_LINE = regex.compile(
    rf"^[ \t]*({_NAME_WORD}(?:[ \t]+(?:\p{{Lu}}\.?|{_NAME_WORD})){{1,3}})[ \t]*\n"
)
_SIGNATURE = regex.compile(rf"(?m)^[ \t]*--[ \t]*\n[ \t]*({_NAME})[ \t]*$")
# A display name before an angle-bracketed e-mail address (RFC 5322 name-addr), as in reply headers
# ("On Tue, 4 Mar, Jane Roe <jane@...> wrote:") and address lines: the name belongs to the mailbox.
_NAME_ADDR = regex.compile(rf"(?<![\w@.])[\"']?({_FULL_NAME})[\"']?[ \t]*<[^<>\s@]+@[^<>\s]+>")
# Verbs of contacting or handing over, before one name: "ask Priya", "reach Eleanor on ...", "spoke
# with Aoife", "handing over to Cian". Followed by a capitalised name word; roles are excluded.
_CONTACT = regex.compile(
    r"\b(?i:ask|asked|asking|spoke|speak|speaking|talk|talked|talking|ring|rang|reach|reached|contact|"
    r"contacted|text|texted|phone|phoned|call|called|email|e-mail|emailed|cc|cc'd|ping|pinged|message|"
    r"messaged|thank|thanks|handing|hand|handed|pass|passed|forward|forwarded|escalated|assigned|refer|"
    r"referred|check|checked|confirm|confirmed|meet|met|hear|heard)"
    r"(?:[ \t]+(?i:back|over|it|this|them))?(?:[ \t]+(?i:to|with|from|by|for))?"
    rf"[ \t]+{_TITLE}({_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)(?![\w'’-])"
)
# A second name joined to a found one: "Aoife and Cian", "Priya or Rahul".
_AND_NAME = regex.compile(rf"[ \t]+(?:and|or|&)[ \t]+({_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)(?![\w'’-])")

# Capitalised words that are roles, field labels or greetings, never a name by themselves.
_ROLES = """
    agent customer user bot assistant operator support admin system client caller host guest
    moderator interviewer interviewee speaker narrator q a question answer name address phone mobile
    tel fax email subject from to cc bcc date time note notes re ticket order status title genre
    rating price total summary description comment comments reply update warning error info step
    example source result results all everyone team sir madam colleagues friends folks guys there
    morning afternoon evening mum mom dad doctor nurse manager officer director sales billing
    reminder tip hint fyi important caution todo action response issue problem solution fix priority
    location department product category type reason request details detail context background
    bonjour bonsoir salut oui non merci madame monsieur mademoiselle agent client conseiller
    monday tuesday wednesday thursday friday saturday sunday january february march april june july
    august september october november december accounts accounting finance payroll hr legal it
    service services helpdesk desk reception security it's
"""
_NOT_NAMES = COMMON_WORDS | frozenset(_ROLES.split())


# Words each cue pattern needs (lower-cased): a text without any of them skips that pattern.
_VERBS = _VERB.strip("(?:)").split("|")
_GREETING_WORDS = ("dear", "hi", "hello", "hey", "good", "bonjour", "hallo", "liebe", "ciao", "hola")
_SIGN_OFF_WORDS = (
    "regards", "best", "thank", "cheers", "sincerely", "yours", "respectfully", "cordialement",
    "vous", "grüße", "saludos", "saluto",
)


def _is_name(value: str) -> bool:
    words = [w.strip(".").lower() for w in value.split()]
    return bool(words) and not any(w in _NOT_NAMES for w in words)


class DialogueNameRecognizer(SpanRecognizer):
    """PERSON from speaker labels, speech verbs, greetings, sign-offs and signatures."""

    ENTITY = "PERSON"
    DEFAULT_SCORE = 0.7

    def spans(self, text: str) -> list[tuple[int, int]]:
        source = normalise_case(text) if case_of(text) else text
        found: set[tuple[int, int]] = set()
        labels: dict[str, list[tuple[int, int]]] = {}
        spoken: set[str] = set()  # labels followed by speech at least once
        colon = ":" in source
        for match in _SPEAKER.finditer(source) if colon else ():
            labels.setdefault(match.group(1), []).append(match.span(1))
            if _PROSE.search(match.group(2)):
                spoken.add(match.group(1))
        # a speaker talks twice, or two speakers talk: a record's "Genre: Comedy" lines do neither
        for label, where in labels.items():
            if (len(where) >= 2 or len(spoken) >= 2 and label in spoken) and _is_name(label):
                found.update(where)
        lower = source.lower()
        patterns = []
        if any(verb in lower for verb in _VERBS):
            patterns += [_AFTER_VERB, _BEFORE_VERB]
        if any(word in lower for word in _GREETING_WORDS):
            patterns.append(_GREETING)
        if any(word in lower for word in _SIGN_OFF_WORDS):
            patterns.append(_SIGN_OFF)
        if "--" in source:
            patterns.append(_SIGNATURE)
        if colon:
            patterns.append(_PERSON_LABEL)
        if "\n" in source:
            patterns.append(_HEAD_LINE)
        if "@" in source:
            patterns.append(_NAME_ADDR)
        patterns.append(_CONTACT)
        for pattern in patterns:
            for match in pattern.finditer(source):
                if pattern is _HEAD_LINE and ORGANISATION.search(match.group(1)):
                    continue  # a company's name heads the text
                if _is_name(match.group(1)):
                    found.add(match.span(1))
        # a second name joined to a found one ("Aoife and Cian")
        for _, end in list(found):
            joined = _AND_NAME.match(source, end)
            if joined and _is_name(joined.group(1)):
                found.add(joined.span(1))
        # the same name elsewhere in the text, as whole words
        names = {source[s:e] for s, e in found}
        for name in names:
            for match in regex.finditer(rf"(?<![\w]){regex.escape(name)}(?![\w])", source):
                found.add(match.span())
        return sorted(found)
