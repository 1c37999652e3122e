"""Build Presidio's recognizer registry from a policy's ``detection`` section."""

from __future__ import annotations

import copy
import functools
import logging
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, Leniency, country_code_for_region
from phonenumbers.phonemetadata import PhoneMetadata
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerRegistry
from presidio_analyzer import pattern_recognizer as presidio_patterns
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import PhoneRecognizer, UrlRecognizer
from presidio_analyzer.recognizer_registry.recognizers_loader_utils import RecognizerListLoader

from . import budget
from . import presidio_compat as compat
from .identifier_recognizers import builtin_recognizer
from .schema import Detection, PresidioRecognizerEntry, PresidioRegistryFile, RecognizerConfig

# phonenumbers' matcher only forms candidates from digit groups joined by punctuation (and "x" for
# extensions): any other letter ends a candidate. Splitting on those letters gives segments that
# contain every possible candidate.
_CANDIDATE_BREAK = re.compile(r"[^\W\d_xX]+")


@functools.cache
def _fewest_digits_per_code(local_too: bool) -> tuple[dict[int, int], int]:
    """From phonenumbers' own metadata: per country calling code, the fewest national digits a number
    of any region using that code can have (``local_too``: counting lengths only dialable locally);
    and the fewest digits of any number written with its calling code (code digits + national digits).
    A code whose lengths are unknown counts as 1 digit, which disables any pruning that relies on it."""
    per_code: dict[int, int] = {}
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        fewest = []
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
            desc = metadata.general_desc if metadata is not None else None
            lengths = [n for n in (desc.possible_length if desc else ()) if n > 0]
            if local_too and desc is not None:
                lengths += [n for n in desc.possible_length_local_only or () if n > 0]
            fewest.append(min(lengths) if lengths else 1)
        per_code[code] = min(fewest) if fewest else 1
    international = min(len(str(code)) + digits for code, digits in per_code.items())
    return per_code, international


def fewest_match_digits(region: str, leniency: int | None) -> int:
    """The fewest digits a number phonenumbers' matcher accepts in ``region``'s pass can contain.

    A match is a parsed number that is valid (from leniency VALID on; possible below it), so its
    national significant number has one of the lengths the metadata allows for its region: a number
    written without a calling code takes ``region``'s code, so the region is one of those sharing it;
    one written with a code (``+`` or an international prefix, whose digits only add) may be of any
    code. Prefixes, carrier codes and extensions only add digits.
    """
    # an unknown leniency counts as the most lenient (phonenumbers itself refuses None when matching)
    per_code, international = _fewest_digits_per_code(leniency is None or leniency < Leniency.VALID)
    own = per_code.get(country_code_for_region(region), 1)
    return min(own, international)


class DigitGatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer, run only for the regions where the text could hold a match.

    phonenumbers' matcher runs once per region on every text and was a quarter of engine time. A match
    lies in one letter-free segment of the text (see ``_CANDIDATE_BREAK``) and holds at least
    ``fewest_match_digits`` digits for the region whose pass finds it (4 for Germany's short numbers;
    6 or more for the other default regions, whose own numbers are longer and a number written with a
    calling code has at least 6 digits). Regions whose minimum exceeds the digits of the text's fullest
    segment cannot find anything, so Presidio's own ``analyze`` runs on a copy that tries only the
    others, in the same order: the same results; with none left the text is skipped.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("name", "PhoneRecognizer")
        super().__init__(**kwargs)
        self.region_digits = {
            region: fewest_match_digits(region, self.leniency) for region in self.supported_regions
        }
        self.min_digits = min(self.region_digits.values())

    @staticmethod
    def most_digits(text: str) -> int:
        """Digits in the text's fullest letter-free segment (every digit counts, wherever it is)."""
        return max(sum(ch.isdigit() for ch in segment) for segment in _CANDIDATE_BREAK.split(text))

    def could_match(self, text: str) -> bool:
        return self.most_digits(text) >= self.min_digits

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        most = self.most_digits(text)
        regions = tuple(region for region in self.supported_regions if most >= self.region_digits[region])
        if not regions:
            return []
        if len(regions) == len(self.supported_regions):
            return super().analyze(text, entities, nlp_artifacts)
        narrowed = copy.copy(self)  # a per-call copy: the shared recognizer is never modified
        narrowed.supported_regions = regions
        return PhoneRecognizer.analyze(narrowed, text, entities, nlp_artifacts)


def _linear_url_recognizers(registry: RecognizerRegistry) -> None:
    """Presidio's URL recognizer, as configured, in its linear-time form (``url_recognizer.py``)."""
    from .url_recognizer import LinearUrlRecognizer

    stock = [p.regex for p in UrlRecognizer.PATTERNS]
    for index, recognizer in enumerate(registry.recognizers):
        if type(recognizer) is UrlRecognizer and [p.regex for p in recognizer.patterns] == stock:
            registry.recognizers[index] = LinearUrlRecognizer.replacing(recognizer)


def _gate_phone_recognizers(registry: RecognizerRegistry) -> None:
    for index, recognizer in enumerate(registry.recognizers):
        if type(recognizer) is PhoneRecognizer:
            registry.recognizers[index] = DigitGatedPhoneRecognizer(
                context=recognizer.context,
                supported_language=recognizer.supported_language,
                supported_regions=recognizer.supported_regions,
                leniency=recognizer.leniency,
            )


# The digit class of the regex module Presidio matches with (Unicode decimal digits, ``\p{Nd}``).
_DIGIT = presidio_patterns.re.compile(r"\d")
DIGIT = "digit"  # the atom "some decimal digit"; every other atom is one ASCII punctuation character
# ASCII punctuation has no case: under any case-insensitive flag a literal one matches only itself
# (tested over every code point), so a pattern that needs one needs that very character in the text.
_PUNCTUATION = frozenset(string.punctuation)
_DIGIT_ATOM = frozenset((DIGIT,))


def text_atoms(text: str) -> frozenset[str]:
    """The atoms (see ``required_atoms``) present in ``text``."""
    present = _PUNCTUATION.intersection(text)
    return present | _DIGIT_ATOM if _DIGIT.search(text) is not None else present


@functools.lru_cache(maxsize=4096)  # parsing is slow (~10 ms a pattern); every engine of a process shares it
def required_atoms(source: str, flags: int) -> frozenset[str]:
    r"""Atoms every match of the regex needs somewhere in the text: ``DIGIT`` (a decimal digit) and
    single ASCII punctuation characters. A text missing one of them cannot contain a match.

    Derived from the regex module's own parse tree (``presidio_compat.parse_regex_tree``), so the
    pattern is read exactly as the matcher reads it. A one-character item needs an atom if everything
    it matches is in it (a digit literal, a ``[0-9]``-like set or ``\d`` need a digit; ``@`` or ``[.]``
    need that character); a sequence needs what any of its parts needs, an alternation what all of its
    branches need, a repeat what its body needs if it repeats at least once, a positive lookaround what
    its content needs (the content is matched against the text too). Anything else (backreferences,
    conditionals, fuzzy matching, set operations, an unreadable pattern) needs nothing, so the answer
    errs only towards searching. Neither digits nor ASCII punctuation have case, so case-insensitive
    flags change nothing.
    """
    none: frozenset[str] = frozenset()
    try:
        tree = compat.parse_regex_tree(source, flags)
    except Exception:
        return none

    def char_atoms(code: int) -> frozenset[str]:
        char = chr(code)
        if _DIGIT.fullmatch(char) is not None:
            return frozenset((DIGIT,))
        return frozenset((char,)) if char in _PUNCTUATION else none

    def item_atoms(node: compat.RegexNode) -> frozenset[str]:
        """Atoms holding every character a one-character item matches."""
        kind = type(node)
        if kind is compat.Char:
            return char_atoms(node.code)
        if kind is compat.CharRange:
            if node.upper - node.lower >= 64:
                return none
            return frozenset.intersection(*(char_atoms(c) for c in range(node.lower, node.upper + 1)))
        if kind is compat.DigitClass:
            return frozenset((DIGIT,))
        if kind is compat.CharSet and node.items:
            return frozenset.intersection(*(item_atoms(item) for item in node.items))
        return none

    def needs(node: compat.RegexNode) -> frozenset[str]:
        kind = type(node)
        if kind is compat.Seq:
            return frozenset().union(*(needs(item) for item in node.items))
        if kind is compat.Alt:
            return frozenset.intersection(*(needs(b) for b in node.branches)) if node.branches else none
        if kind is compat.Repeat:
            return needs(node.body) if node.min_count >= 1 else none
        if kind is compat.Look:
            return needs(node.body) if node.positive else none
        return item_atoms(node)

    try:
        return needs(tree)
    except Exception:
        return none


def requires_digit(source: str, flags: int) -> bool:
    """True only if every match of the regex needs a decimal digit somewhere in the text."""
    return DIGIT in required_atoms(source, flags)


class PatternGate:
    """A test that is False only on texts where a pattern recognizer's ``analyze`` returns nothing.

    Presidio's ``PatternRecognizer.analyze`` makes its results from the matches of its patterns (the
    deny list is one of them), compiled with ``global_regex_flags`` when the analyzer calls it: with no
    match anywhere it returns an empty list, after per-pattern bookkeeping (two clock reads, a debug
    log call, a dedup pass) that costs more than the regex search itself on short texts. A search per
    pattern that finds nothing therefore proves the result is empty, and a pattern needing an atom the
    text lacks (``required_atoms``) cannot match there, so it is not even searched. Searches run under
    the record's time budget (``budget.regex_timeout``; Presidio's own timeout at most): one that runs
    out raises ``budget.EngineTimeout``.
    """

    def __init__(self, recognizer: PatternRecognizer) -> None:
        flags = recognizer.global_regex_flags
        compile_ = presidio_patterns.re.compile  # the regex module Presidio itself matches with
        self.patterns = tuple(
            (required_atoms(pattern.regex, flags), compile_(pattern.regex, flags=flags).search)
            for pattern in recognizer.patterns
        )
        self.timeout = presidio_patterns.REGEX_TIMEOUT_SECONDS

    def candidates(self, text: str, atoms: frozenset[str]) -> tuple[int, ...]:
        """Positions of the patterns that may match ``text``, in order; empty if none can.

        ``atoms`` is ``text_atoms(text)``, computed once per text for every gate. Patterns are searched
        in order up to the first match; before it, none matched; after it, those the text has the atoms
        for are kept unsearched (Presidio searches them anyway).
        """
        timeout = self.timeout
        patterns = self.patterns
        for index, (required, search) in enumerate(patterns):
            if not required <= atoms:
                continue
            try:
                found = search(text, timeout=budget.regex_timeout(timeout)) is not None
            except TimeoutError:
                raise budget.EngineTimeout("a regular expression ran past the time budget") from None
            if found:
                return (index,) + tuple(
                    later for later in range(index + 1, len(patterns)) if patterns[later][0] <= atoms
                )
        return ()

    def could_match(self, text: str, atoms: frozenset[str]) -> bool:
        return bool(self.candidates(text, atoms))

    def narrowed(self, recognizer: PatternRecognizer, keep: tuple[int, ...]) -> PatternRecognizer:
        """``recognizer`` itself if every pattern is kept, else a copy holding only the kept patterns.

        The patterns left out cannot match, so Presidio's ``analyze`` on the copy finds the same results
        in the same order, with the same recognizer name and id. The shared recognizer is not modified.
        """
        if len(keep) == len(self.patterns):
            return recognizer
        copy_ = copy.copy(recognizer)
        copy_.patterns = [recognizer.patterns[index] for index in keep]
        return copy_


def guard_regexes(recognizer: EntityRecognizer) -> None:
    """Run a pattern recognizer's regexes under the record's time budget (``budget.DeadlineRegex``).

    Presidio's own loop would skip a pattern that times out (failing open); under the guard the timeout
    is the time left and running out raises ``budget.EngineTimeout`` through it. Predefined recognizers
    share their class's pattern objects, so the guard reaches every instance in the process; outside a
    budget a search keeps Presidio's timeout.
    """
    if isinstance(recognizer, PatternRecognizer):
        compat.guard_pattern_regexes(recognizer, budget.DeadlineRegex)


def pattern_gate(
    recognizer: EntityRecognizer, cache: dict[str, tuple[Any, PatternGate | None]] | None = None
) -> PatternGate | None:
    """The recognizer's ``PatternGate``, or None where no gate is known to be exact.

    Only recognizers running Presidio's own ``analyze`` are gated: a subclass that overrides it may
    find results another way. A pattern that does not compile is left to Presidio's own call. Building
    a gate parses every pattern, so ``cache`` (by recognizer id) keeps gates between batches; an entry
    is rebuilt if the recognizer's patterns or flags have changed since.
    """
    if not isinstance(recognizer, PatternRecognizer):
        return None
    if not compat.runs_stock_pattern_analysis(type(recognizer)):
        return None
    key = (tuple(pattern.regex for pattern in recognizer.patterns), recognizer.global_regex_flags)
    if cache is not None and recognizer.id in cache and cache[recognizer.id][0] == key:
        return cache[recognizer.id][1]
    try:
        gate: PatternGate | None = PatternGate(recognizer)
    except Exception:  # Presidio's own call will raise (or not) as it always did
        gate = None
    if cache is not None:
        cache[recognizer.id] = (key, gate)
    return gate


def predefined_class(name: str) -> Any:
    """Presidio's predefined recognizer class called ``name``, or the factory of the project's text
    recognizer of that name (``text_recognizers.TEXT_RECOGNIZERS``); ``LookupError`` if there is none."""
    from .text_recognizers import TEXT_RECOGNIZERS

    if name in TEXT_RECOGNIZERS:
        return TEXT_RECOGNIZERS[name]
    try:
        return RecognizerListLoader.get_existing_recognizer_cls(name)
    except Exception:  # Presidio raises its own error type; normalise it
        raise LookupError(f"Presidio has no predefined recognizer named {name!r}") from None


def _entry_languages(
    entry: PresidioRecognizerEntry, registry_languages: list[str]
) -> list[tuple[str, list[str] | None]]:
    """(language, context) pairs of a registry entry, as Presidio's ``RecognizerListLoader`` reads them:
    a custom entry's legacy ``supported_language``; else each item of ``supported_languages`` (a bare
    language takes no context, an item ``{language, context}`` its own); else every registry language
    with the entry's ``context``."""
    if entry.type == "custom" and entry.supported_language:
        return [(entry.supported_language, entry.context)]
    if entry.supported_languages is None:
        return [(language, entry.context) for language in registry_languages]
    return [
        (item, None) if isinstance(item, str) else (item.language, item.context)
        for item in entry.supported_languages
    ]


def registry_entries(
    registry: PresidioRegistryFile, languages: list[str]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[tuple[str | int, ...], str]]]:
    """The policy recognizer entries (``RecognizerConfig`` data) of a Presidio registry file, each with
    the index of the registry entry it came from, and the problems found (location in the file, message).

    As in Presidio: one recognizer per language the entry and the registry support (here also the
    policy's ``languages``; others are dropped, as Presidio drops them), per-language context, a
    predefined entry's ``country_code`` must match its class's ``COUNTRY_CODE``, ``supported_countries``
    keeps only recognizers of those countries (and every one without a country), a disabled custom entry
    is left out and a disabled predefined one switches the predefined recognizer off.
    """
    registry_languages = [lang for lang in registry.supported_languages or languages if lang in languages]
    countries = None
    if registry.supported_countries is not None:
        countries = {code.strip().lower() for code in registry.supported_countries}
    entries: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, entry in enumerate(registry.recognizers):
        name = entry.class_name or entry.name
        country = entry.country_code.strip().lower() if entry.country_code else None
        if entry.type == "predefined":
            try:
                cls = predefined_class(name)
            except LookupError as exc:
                field_name = "class_name" if entry.class_name else "name"
                problems.append((("recognizers", index, field_name), str(exc)))
                continue
            class_country = getattr(cls, "COUNTRY_CODE", None)
            if country is not None and country != (class_country or "").lower():
                problems.append((
                    ("recognizers", index, "country_code"),
                    f"country_code {country!r} does not match {name}'s COUNTRY_CODE {class_country!r}",
                ))
                continue
            country = class_country.lower() if class_country else None
            if not entry.enabled:
                entries.append((index, {"name": name, "type": "predefined", "enabled": False}))
                continue
        elif not entry.enabled:
            continue
        if countries is not None and country is not None and country not in countries:
            continue
        for language, context in _entry_languages(entry, registry_languages):
            if language not in registry_languages:
                continue
            config: dict[str, Any] = {"name": name, "type": entry.type, "supported_language": language}
            config["context"] = list(context or [])
            if entry.type == "custom":
                plural = entry.supported_entities or [None]
                config["supported_entity"] = entry.supported_entity or plural[0]
                config["patterns"] = [pattern.model_dump() for pattern in entry.patterns]
                config["deny_list"] = list(entry.deny_list)
                config["deny_list_score"] = entry.deny_list_score
            entries.append((index, config))
    return entries, problems


def _languages(config: RecognizerConfig, detection: Detection) -> list[str]:
    return [config.supported_language] if config.supported_language else list(detection.languages)


@contextmanager
def _quiet_presidio() -> Iterator[None]:
    """Presidio warns once per predefined recognizer of a language the policy does not use; that is
    expected here, not a problem to show on every run."""
    logger = logging.getLogger("presidio-analyzer")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_registry(detection: Detection, nlp_engine: NlpEngine) -> RecognizerRegistry:
    from .text_recognizers import TEXT_RECOGNIZERS

    registry = RecognizerRegistry(supported_languages=list(detection.languages))
    if detection.use_predefined:
        with _quiet_presidio():
            registry.load_predefined_recognizers(languages=list(detection.languages), nlp_engine=nlp_engine)
    else:
        registry.add_nlp_recognizer(nlp_engine)
    for config in detection.recognizers:
        if config.type == "predefined":
            if any(r.name == config.name for r in registry.recognizers):
                registry.remove_recognizer(config.name)
            if not config.enabled:
                continue
            cls = predefined_class(config.name)
            if config.name in TEXT_RECOGNIZERS:  # the project's own: built with the loaded NLP engine
                for lang in _languages(config, detection):
                    registry.add_recognizer(cls(lang, config.context or None, nlp_engine))
                continue
            for lang in _languages(config, detection):
                kwargs: dict = {"supported_language": lang}
                if config.context:
                    kwargs["context"] = config.context
                registry.add_recognizer(cls(**kwargs))
        elif config.type == "builtin":
            if config.enabled:
                for lang in _languages(config, detection):
                    registry.add_recognizer(builtin_recognizer(config.name, lang, config.context))
        elif config.enabled:
            for lang in _languages(config, detection):
                registry.add_recognizer(
                    PatternRecognizer.from_dict(
                        {
                            "name": config.name,
                            "supported_language": lang,
                            "supported_entity": config.supported_entity,
                            "patterns": [p.model_dump() for p in config.patterns],
                            "context": config.context or None,
                            "deny_list": config.deny_list or None,
                            "deny_list_score": config.deny_list_score,
                        }
                    )
                )
    if detection.global_regex_flags is not None:  # Presidio's registry-wide setting
        for recognizer in registry.recognizers:
            if isinstance(recognizer, PatternRecognizer):
                recognizer.global_regex_flags = detection.global_regex_flags
    _gate_phone_recognizers(registry)
    _linear_url_recognizers(registry)
    return registry
