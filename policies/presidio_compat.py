"""The one module that reaches into Presidio's and the ``regex`` module's private internals.

The engine's shortcuts (``engine.py``, ``recognizers.py``, ``context.py``, ``spacy_ner.py``) reuse
steps Presidio does not publish: the analyzer's allow-list filter, the enhancer's surrounding-word
and context-word helpers and its token lookup hook, the spaCy engine's per-document hook and entity
helpers, the pattern recognizer's private pattern loop, and ``regex``'s own pattern parser. Each is
reached here only, behind a public name, and only on the exact versions listed in ``CHECKED``:
``tests/policies/test_engine_speed_equivalence.py`` proves the shortcuts give Presidio's results on
those versions. On any other version this module refuses to import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# distribution -> the version this module was checked against (as pinned in requirements.lock)
CHECKED: dict[str, str] = {"presidio-analyzer": "2.2.366", "regex": "2026.11.15"}
EQUIVALENCE_TESTS = "tests/policies/test_engine_speed_equivalence.py"


def check_versions(installed: Mapping[str, str | None] | None = None) -> None:
    """Raise ``ImportError`` unless every distribution in ``CHECKED`` is installed at its checked version.

    ``installed`` (distribution -> version, None for absent) replaces the installed versions; tests
    use it to show that another version is refused.
    """
    for distribution, checked in CHECKED.items():
        if installed is not None and distribution in installed:
            found = installed[distribution]
        else:
            try:
                found = version(distribution)
            except PackageNotFoundError:
                found = None
        if found != checked:
            present = f"{distribution}=={found} is installed" if found else f"{distribution} is not installed"
            raise ImportError(
                f"redactline.policies.presidio_compat was checked against {distribution}=={checked}, "
                f"but {present}; the engine relies on its private internals. Re-run the equivalence "
                f"tests ({EQUIVALENCE_TESTS}) on the new version, then update the pins in "
                f"presidio_compat.CHECKED and requirements.lock."
            )


check_versions()

# Imported only once the versions are known to be the checked ones.
from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer import pattern_recognizer as _presidio_patterns  # noqa: E402
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine  # noqa: E402

# ---- analyzer --------------------------------------------------------------------------------------


def remove_allow_list(
    analyzer: AnalyzerEngine, results: list[RecognizerResult], allow_list: list[str], text: str
) -> list[RecognizerResult]:
    """``AnalyzerEngine.analyze``'s last step for an allow list of exact values: drop the results whose
    text is one of them. (Regex flags only matter to allow lists matched as regexes.)"""
    return analyzer._remove_allow_list(results, allow_list, text, None, "exact")


# ---- pattern recognizers ---------------------------------------------------------------------------


def runs_stock_pattern_analysis(cls: type[PatternRecognizer]) -> bool:
    """True if ``cls`` finds its results with Presidio's own ``PatternRecognizer.analyze`` and private
    pattern loop (a subclass overriding either may find results another way)."""
    base = PatternRecognizer
    return cls.analyze is base.analyze and (
        cls._PatternRecognizer__analyze_patterns is base._PatternRecognizer__analyze_patterns
    )


def guard_pattern_regexes(recognizer: PatternRecognizer, wrap: type) -> None:
    """Make Presidio's pattern loop search with ``wrap(compiled)`` for each of ``recognizer``'s patterns.

    Presidio compiles a pattern on first use and keeps it on the pattern (``compiled_regex``, with the
    flags it was compiled under); here each one is compiled ahead with the recognizer's own flags (the
    ones its ``analyze`` uses when the caller passes none) and wrapped. The loop then calls the wrapper's
    ``finditer(text, timeout=...)``. Idempotent: a pattern already wrapped is left alone.
    """
    flags = recognizer.global_regex_flags
    for pattern in recognizer.patterns:
        if isinstance(pattern.compiled_regex, wrap) and pattern.compiled_with_flags == flags:
            continue
        pattern.compiled_regex = wrap(_presidio_patterns.re.compile(pattern.regex, flags=flags))
        pattern.compiled_with_flags = flags


# ---- the regex module's parse tree, in public shapes -----------------------------------------------


@dataclass(frozen=True)
class Seq:
    """Items matched one after another."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Alt:
    """Alternatives (``a|b``)."""

    branches: tuple[Any, ...]


@dataclass(frozen=True)
class Repeat:
    """``body`` repeated at least ``min_count`` times (greedy, lazy or possessive)."""

    min_count: int
    body: Any


@dataclass(frozen=True)
class Look:
    """A lookahead or lookbehind; ``positive`` unless negated."""

    positive: bool
    body: Any


@dataclass(frozen=True)
class Char:
    """One code point, matched positively."""

    code: int


@dataclass(frozen=True)
class CharRange:
    """A positive code-point range ``[lower-upper]``."""

    lower: int
    upper: int


@dataclass(frozen=True)
class DigitClass:
    r"""``\d`` as the same flags read it (the regex module's decimal-digit property), positively."""


@dataclass(frozen=True)
class CharSet:
    """A positive character class: the union of its ``items``."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Opaque:
    """Anything else: groups' references, conditionals, fuzzy matching, set operations, negations,
    zero-width items, other properties. Nothing is claimed about it."""


RegexNode = Seq | Alt | Repeat | Look | Char | CharRange | DigitClass | CharSet | Opaque

_regex = _presidio_patterns.re  # the regex module Presidio itself matches with
_core = _regex._regex_core


def _parse_private(source: str, flags: int) -> Any:
    """The regex module's own parse tree of ``source`` (before its optimiser runs), as its compiler
    builds it: a pattern that sets global flags inline is parsed again with them."""
    global_flags = flags
    while True:
        text = _core.Source(source)
        info = _core.Info(global_flags, text.char_type, {})
        text.ignore_space = bool(info.flags & _regex.VERBOSE)
        try:
            tree = _core._parse_pattern(text, info)
        except _core._UnscopedFlagSet:
            global_flags = info.global_flags
            continue
        if not text.at_end():
            raise ValueError("unbalanced parenthesis")
        return tree


_REPEATS = (_core.GreedyRepeat, _core.LazyRepeat, _core.PossessiveRepeat)


def parse_regex_tree(source: str, flags: int) -> RegexNode:
    """``source`` as the regex module Presidio uses parses it under ``flags``, in the shapes above.

    Groups and atomic groups are transparent (their content stands in for them). Raises whatever the
    parser raises on a pattern it cannot read.
    """
    digit = _parse_private(r"\d", flags)  # a Sequence holding one Property
    digit = digit.items[0] if type(digit) is _core.Sequence else digit
    digit_value = digit.value if type(digit) is _core.Property else None
    return _convert(_parse_private(source, flags), digit_value)


def _convert(node: Any, digit_value: Any) -> RegexNode:
    kind = type(node)
    if kind is _core.Sequence:
        return Seq(tuple(_convert(item, digit_value) for item in node.items))
    if kind is _core.Branch:
        return Alt(tuple(_convert(branch, digit_value) for branch in node.branches))
    if kind in (_core.Group, _core.Atomic):
        return _convert(node.subpattern, digit_value)
    if kind in _REPEATS:
        return Repeat(node.min_count, _convert(node.subpattern, digit_value))
    if kind is _core.LookAround:
        return Look(bool(node.positive), _convert(node.subpattern, digit_value))
    # one-character items: only positive, non-zero-width ones are described
    if getattr(node, "zerowidth", False) or not getattr(node, "positive", False):
        return Opaque()
    if kind is _core.Character:
        return Char(node.value)
    if kind is _core.Range:
        return CharRange(node.lower, node.upper)
    if kind is _core.Property:
        return DigitClass() if digit_value is not None and node.value == digit_value else Opaque()
    if kind is _core.SetUnion:
        return CharSet(tuple(_convert(item, digit_value) for item in node.items))
    return Opaque()


# ---- the same parse tree with repetition bounds and character tests (regex safety checks) ---------


@dataclass(frozen=True)
class Loop:
    """``body`` repeated ``min_count`` to ``max_count`` times (``None``: unbounded), in any mode."""

    min_count: int
    max_count: int | None
    body: Any


@dataclass(frozen=True)
class OneChar:
    """One character; ``test(code_point)`` tells whether it matches (case-insensitivity applied)."""

    test: Callable[[int], bool] = field(compare=False)


@dataclass(frozen=True)
class ZeroWidth:
    """An item that consumes nothing (anchor, word boundary, lookaround); a lookaround's content is
    ``inside`` (``None`` for the others)."""

    inside: Any = None


@dataclass(frozen=True)
class AnyText:
    """An item of unknown width and content (backreference, recursion, fuzzy match, named list,
    conditional, grapheme): it may match any text."""


ShapeNode = Seq | Alt | Loop | OneChar | ZeroWidth | AnyText


def parse_regex_shape(source: str, flags: int) -> ShapeNode:
    """``source`` as the regex module Presidio uses parses it under ``flags``: sequences,
    alternatives, bounded or unbounded loops, one-character tests, zero-width items and opaque text.

    Groups and atomic groups are transparent. Raises whatever the parser raises on a pattern it
    cannot read.
    """
    return _shape(_parse_private(source, flags))


def _one_char_test(node: Any) -> Callable[[int], bool]:
    if isinstance(node, _core.Any):  # ., including its DOTALL and Unicode-line variants
        return lambda code: True
    folded = bool(getattr(node, "case_flags", 0) & _core.IGNORECASE)

    def test(code: int) -> bool:
        if node.matches(code):
            return True
        if not folded:
            return False
        char = chr(code)
        return any(len(v) == 1 and node.matches(ord(v)) for v in (char.lower(), char.upper()))

    return test


def _shape(node: Any) -> ShapeNode:
    kind = type(node)
    if kind is _core.Sequence:
        return Seq(tuple(_shape(item) for item in node.items))
    if kind is _core.Branch:
        return Alt(tuple(_shape(branch) for branch in node.branches))
    if kind in (_core.Group, _core.Atomic):
        return _shape(node.subpattern)
    if kind in _REPEATS:
        return Loop(node.min_count, node.max_count, _shape(node.subpattern))
    if kind is _core.LookAround:
        return ZeroWidth(_shape(node.subpattern))
    if isinstance(node, _core.ZeroWidthBase) or getattr(node, "zerowidth", False):
        return ZeroWidth()
    if isinstance(node, _core.Any) or kind in (_core.Character, _core.Range, _core.Property) or isinstance(
        node, _core.SetBase
    ):
        return OneChar(_one_char_test(node))
    return AnyText()


# ---- context enhancer ------------------------------------------------------------------------------


class LemmaEnhancerHooks(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer with the private helpers it is made of behind public names.

    A subclass that defines a ``match_token_index`` staticmethod has it installed as the private token
    lookup that Presidio's surrounding-word extraction calls (same signature: word, start, tokens,
    token start offsets -> token index, ``ValueError`` if none).
    """

    match_token_index = staticmethod(LemmaContextAwareEnhancer._find_index_of_match_token)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        lookup = cls.__dict__.get("match_token_index")
        if lookup is not None:
            cls._find_index_of_match_token = lookup

    def surrounding_words(self, nlp_artifacts: NlpArtifacts, word: str, start: int) -> list[str]:
        """The lemmas around the token at ``start`` that Presidio looks for context words in."""
        return self._extract_surrounding_words(nlp_artifacts=nlp_artifacts, word=word, start=start)

    def supportive_word(self, surrounding: list[str], context_words: list[str]) -> str:
        """The first of ``context_words`` found in ``surrounding`` under this enhancer's matching
        mode, or ``""``."""
        return self._find_supportive_word_in_context(surrounding, context_words, self.context_matching_mode)


# ---- spaCy NLP engine ------------------------------------------------------------------------------


class SpacyEngineHooks(SpacyNlpEngine):
    """Presidio's spaCy engine with its private per-document hook and entity helpers behind public
    names: Presidio's ``process_text`` / ``process_batch`` turn each spaCy doc into NLP artifacts
    through ``artifacts_from_doc``, which a subclass may override."""

    def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
        return self.artifacts_from_doc(doc, language)

    def artifacts_from_doc(self, doc: Any, language: str) -> NlpArtifacts:
        """Presidio's own conversion of a spaCy doc into NLP artifacts."""
        return SpacyNlpEngine._doc_to_nlp_artifact(self, doc, language)

    def ner_entities(self, doc: Any) -> tuple[list[Any], list[float]]:
        """The doc's entities and their scores after the NER model configuration (labels ignored,
        labels renamed), as Presidio computes them."""
        return self._get_updated_entities(self._get_entities(doc), self._get_scores_for_entities(doc))


__all__ = [
    "CHECKED",
    "Alt",
    "AnyText",
    "Char",
    "CharRange",
    "CharSet",
    "DigitClass",
    "LemmaEnhancerHooks",
    "Look",
    "Loop",
    "OneChar",
    "Opaque",
    "RegexNode",
    "Repeat",
    "Seq",
    "ShapeNode",
    "SpacyEngineHooks",
    "ZeroWidth",
    "check_versions",
    "guard_pattern_regexes",
    "parse_regex_shape",
    "parse_regex_tree",
    "remove_allow_list",
    "runs_stock_pattern_analysis",
]
