"""Build Presidio's recognizer registry from a policy's ``detection`` section."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from phonenumbers.phonemetadata import PhoneMetadata
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerRegistry
from presidio_analyzer import pattern_recognizer as presidio_patterns
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import PhoneRecognizer
from presidio_analyzer.recognizer_registry.recognizers_loader_utils import RecognizerListLoader

from .schema import Detection, RecognizerConfig

# phonenumbers' matcher only forms candidates from digit groups joined by punctuation (and "x" for
# extensions): any other letter ends a candidate. Splitting on those letters gives segments that
# contain every possible candidate.
_CANDIDATE_BREAK = re.compile(r"[^\W\d_xX]+")


class DigitGatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer, skipped on texts where no number can match.

    phonenumbers' matcher runs once per region on every text and was a quarter of engine time. A match
    needs at least as many digits as the shortest number any of the recognizer's regions allows (from
    phonenumbers' own metadata), all inside one letter-free segment; a text without such a segment
    cannot contain a match, so skipping it changes no result.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("name", "PhoneRecognizer")
        super().__init__(**kwargs)
        self.min_digits = min(
            min(PhoneMetadata.metadata_for_region(region).general_desc.possible_length)
            for region in self.supported_regions
        )

    def could_match(self, text: str) -> bool:
        return any(
            sum(ch.isdigit() for ch in segment) >= self.min_digits for segment in _CANDIDATE_BREAK.split(text)
        )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        if not self.could_match(text):
            return []
        return super().analyze(text, entities, nlp_artifacts)


def _gate_phone_recognizers(registry: RecognizerRegistry) -> None:
    for index, recognizer in enumerate(registry.recognizers):
        if type(recognizer) is PhoneRecognizer:
            registry.recognizers[index] = DigitGatedPhoneRecognizer(
                context=recognizer.context,
                supported_language=recognizer.supported_language,
                supported_regions=recognizer.supported_regions,
                leniency=recognizer.leniency,
            )


def pattern_gate(recognizer: EntityRecognizer) -> Callable[[str], bool] | None:
    """A test that is False only on texts where ``recognizer.analyze`` returns nothing; None if unknown.

    Presidio's ``PatternRecognizer.analyze`` makes its results from the matches of its patterns (the
    deny list is one of them), compiled with ``global_regex_flags`` when the analyzer calls it: with no
    match anywhere it returns an empty list, after per-pattern bookkeeping (two clock reads, a debug
    log call, a dedup pass) that costs more than the regex search itself on short texts. A search per
    pattern that finds nothing therefore proves the result is empty. Only recognizers running
    Presidio's own ``analyze`` are gated: a subclass that overrides it may find results another way.
    """
    if not isinstance(recognizer, PatternRecognizer):
        return None
    cls, base = type(recognizer), PatternRecognizer
    if cls.analyze is not base.analyze or cls._PatternRecognizer__analyze_patterns is not (
        base._PatternRecognizer__analyze_patterns
    ):
        return None
    try:
        searches = tuple(
            # the regex module and timeout Presidio itself matches with
            presidio_patterns.re.compile(pattern.regex, flags=recognizer.global_regex_flags).search
            for pattern in recognizer.patterns
        )
    except Exception:  # Presidio's own call will raise (or not) as it always did
        return None

    timeout = presidio_patterns.REGEX_TIMEOUT_SECONDS

    def could_match(text: str) -> bool:
        try:
            for search in searches:
                if search(text, timeout=timeout) is not None:
                    return True
        except TimeoutError:
            return True  # Presidio's own loop meets the timeout again and logs it
        return False

    return could_match


def predefined_class(name: str) -> type:
    """Presidio's predefined recognizer class called ``name``; ``LookupError`` if there is none."""
    try:
        return RecognizerListLoader.get_existing_recognizer_cls(name)
    except Exception:  # Presidio raises its own error type; normalise it
        raise LookupError(f"Presidio has no predefined recognizer named {name!r}") from None


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
            for lang in _languages(config, detection):
                kwargs: dict = {"supported_language": lang}
                if config.context:
                    kwargs["context"] = config.context
                registry.add_recognizer(cls(**kwargs))
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
    _gate_phone_recognizers(registry)
    return registry
