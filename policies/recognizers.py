"""Build Presidio's recognizer registry from a policy's ``detection`` section."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from phonenumbers.phonemetadata import PhoneMetadata
from presidio_analyzer import PatternRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import PhoneRecognizer
from presidio_analyzer.recognizer_registry.recognizers_loader_utils import RecognizerListLoader

from .schema import Detection, RecognizerConfig


class DigitGatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer, skipped on texts with fewer digits than the shortest possible number.

    phonenumbers' matcher runs once per region on every text and was a quarter of engine time; a text
    with fewer digits than the shortest number any of the recognizer's regions allows (from phonenumbers'
    own metadata) cannot contain a match, so skipping it changes no result.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("name", "PhoneRecognizer")
        super().__init__(**kwargs)
        self.min_digits = min(
            min(PhoneMetadata.metadata_for_region(region).general_desc.possible_length)
            for region in self.supported_regions
        )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        if sum(ch.isdigit() for ch in text) < self.min_digits:
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
