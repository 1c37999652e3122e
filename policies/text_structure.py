"""Line and letter-case structure of free text, and spaCy NER run where it works best.

spaCy's small English NER reads a whole text as running prose: in a multi-line block (a letter head,
an address, a signature) a name on its own line is often merged with the next line or missed, and in
ALL-CAPS or all-lower text it finds almost nothing, since capitalisation is its main cue for names.
:class:`LineNerRecognizer` runs the policy's own spaCy model a second time, only on such texts: on
each line of a multi-line text, and on a case-normalised copy of a mono-case text (same length, so
offsets map back one to one).
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

# Common English words that stay lower-case when a mono-case text is normalised: with every other
# word capitalised, the copy reads like ordinary prose in which names and places stand out.
# Hand-written: function words, auxiliaries and the most frequent verbs and nouns of everyday mail.
_COMMON = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves
    hi hello dear thanks thank regards best kind sincerely yours please note called call said told
    asked wrote sent send ship shipped deliver delivered order orders parcel package address lives
    live living moved move new old street road avenue lane drive way today yesterday tomorrow week
    customer agent support team account invoice refund payment statement message email phone number
    again still never ever get got give gave make made see saw say says tell ask need needs want
    wants know knew think go went come came take took find found help arrived arrive item items
    that's it's i'm i've don't didn't can't won't
    later then finally meanwhile however also afterwards soon first next
"""
COMMON_WORDS = frozenset(_COMMON.split())

_WORD = regex.compile(r"[\p{L}][\p{L}'’]*")
_LETTER = regex.compile(r"\p{L}")


def case_of(text: str) -> str | None:
    """``"upper"`` or ``"lower"`` when every cased letter of ``text`` has that case (and there are at
    least three letters), else None."""
    if text.isupper():
        mono = "upper"
    elif text.islower():
        mono = "lower"
    else:
        return None
    return mono if len(_LETTER.findall(text)) >= 3 else None


def normalise_case(text: str) -> str:
    """A same-length copy of a mono-case text in which common words are lower-case and every other
    word is capitalised; a character whose case change would alter the length is left as it is."""

    def fix(match: regex.Match) -> str:
        word = match.group(0)
        lowered = word.lower()
        out = lowered if lowered in COMMON_WORDS else word[:1].upper() + lowered[1:]
        return out if len(out) == len(word) else word

    return _WORD.sub(fix, text)


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of ``text`` with its surrounding white space stripped; empty lines
    are left out."""
    spans = []
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = offset + line.index(stripped[0])
            spans.append((start, start + len(stripped)))
        offset += len(line) + 1
    return spans


# Lines longer than this are prose, which the whole-text pass reads well: only the short lines of
# letter heads, signatures and address blocks are read again.
_SHORT_LINE = 60
_NAME_LINE = regex.compile(r"\p{Lu}\p{L}")
_DIGIT = regex.compile(r"\d")


def _names_only(entity: str) -> bool:
    """True if no word at either end of ``entity`` is a common word ("the delivery window")."""
    words = entity.lower().split()
    return bool(words) and words[0] not in COMMON_WORDS and words[-1] not in COMMON_WORDS


class SpanRecognizer(EntityRecognizer):
    """A recognizer of one entity type whose subclass only says where: :meth:`spans` -> (start, end) pairs.

    Carries what Presidio needs (name, language, context words, a fixed score) so each text recognizer
    is just its rules.
    """

    ENTITY = ""
    DEFAULT_SCORE = 0.5

    def __init__(self, supported_language: str = "en", context: list[str] | None = None,
                 score: float | None = None):
        super().__init__(
            supported_entities=[self.ENTITY],
            name=type(self).__name__,
            supported_language=supported_language,
            context=context,
        )
        self.score = self.DEFAULT_SCORE if score is None else score

    def load(self) -> None:
        pass

    def spans(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and self.ENTITY not in entities:
            return []
        metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        return [
            RecognizerResult(entity_type=self.ENTITY, start=start, end=end, score=self.score,
                             analysis_explanation=None, recognition_metadata=dict(metadata))
            for start, end in self.spans(text)
        ]


class LineNerRecognizer(EntityRecognizer):
    """spaCy NER per line of a multi-line text in ordinary case.

    Single-line texts cost nothing (the engine's own spaCy pass already read them).
    Entities are mapped and filtered like the engine's (``labels_to_ignore``, Presidio's label
    mapping) and kept only for ``ENTITIES``; they score like spaCy's own results.
    """

    ENTITIES = ["PERSON", "LOCATION", "ORGANIZATION", "NRP"]
    NORMALISED_ENTITIES = frozenset({"PERSON", "LOCATION"})
    NORMALISED = False  # whether the pieces are case-normalised copies

    def __init__(self, supported_language: str = "en", nlp_engine=None, context: list[str] | None = None):
        super().__init__(
            supported_entities=list(self.ENTITIES),
            name=type(self).__name__,
            supported_language=supported_language,
            context=context,
        )
        self.nlp_engine = nlp_engine
        # the engine reads the pieces of a whole batch in one spaCy pass (``spacy_ner``)
        if hasattr(nlp_engine, "second_passes"):
            passes = nlp_engine.second_passes.setdefault(supported_language, {})
            passes[self.name] = lambda text, artifacts: self.pieces(text)

    def load(self) -> None:
        pass

    def pieces(self, text: str) -> list[tuple[int, str]]:
        """(offset, text) of each piece the model reads again: here the lines of a multi-line text
        in ordinary case that are short (``_SHORT_LINE``), have a capitalised word and no digit. A
        line with a digit is a street, phone or identifier line, which the pattern recognizers read;
        a line with no capital has nothing the small model takes for a name."""
        if "\n" not in text.strip() or case_of(text) is not None:
            return []
        return [
            (start, line)
            for start, end in line_spans(text)
            if end - start <= _SHORT_LINE
            and _NAME_LINE.search(line := text[start:end])
            and not _DIGIT.search(line)
        ]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        engine = self.nlp_engine
        if engine is None or not getattr(engine, "nlp", None):
            return []
        docs = getattr(nlp_artifacts, "second_pass", {}).get(self.name)
        if docs is None:  # artifacts from elsewhere: read the pieces now
            pieces = self.pieces(text)
            nlp = engine.nlp[self.supported_language]
            docs = list(zip((o for o, _ in pieces), nlp.pipe(p for _, p in pieces), strict=True))
        if not docs:
            return []
        wanted = set(entities or self.ENTITIES) & set(self.ENTITIES)
        normalised = self.NORMALISED
        if normalised:  # on a normalised copy, every uncommon word looks like a name
            wanted &= self.NORMALISED_ENTITIES
        results: list[RecognizerResult] = []
        for offset, doc in docs:
            found, scores = engine.ner_entities(doc)
            for ent, score in zip(found, scores, strict=True):
                if ent.label_ not in wanted:
                    continue
                if normalised and not _names_only(ent.text):
                    continue
                results.append(
                    RecognizerResult(
                        entity_type=ent.label_,
                        start=offset + ent.start_char,
                        end=offset + ent.end_char,
                        score=float(score),
                        analysis_explanation=None,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
        return results


class CaseNormalisedNerRecognizer(LineNerRecognizer):
    """spaCy NER on a case-normalised copy of an ALL-CAPS or all-lower text (line by line if it has
    several), keeping PERSON and LOCATION entities that neither start nor end with a common word."""

    NORMALISED = True

    def pieces(self, text: str) -> list[tuple[int, str]]:
        if case_of(text) is None:
            return []
        source = normalise_case(text)
        if "\n" not in text.strip():
            return [(0, source)]
        return [(start, source[start:end]) for start, end in line_spans(source)]
