"""The project's recognizers for names and addresses in free text, enabled by name in a policy.

A policy lists them under ``detection.recognizers`` as ``- {name: AddressBlockRecognizer, type:
predefined}``: ``recognizers.build_registry`` looks their names up here before Presidio's own
predefined recognizers. The NER ones need the engine's loaded spaCy model and get it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from presidio_analyzer import EntityRecognizer

from .address_recognizer import AddressBlockRecognizer
from .dialogue_recognizer import DialogueNameRecognizer
from .gazetteer_recognizer import PlaceNameRecognizer
from .job_title_recognizer import JobTitleRecognizer
from .organisation_recognizer import OrganisationSuffixRecognizer
from .place_recognizer import PlaceRecognizer
from .text_structure import CaseNormalisedNerRecognizer, LineNerRecognizer


def _line_ner(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return LineNerRecognizer(supported_language=language, nlp_engine=nlp_engine, context=context)


def _case_ner(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return CaseNormalisedNerRecognizer(supported_language=language, nlp_engine=nlp_engine, context=context)


def _address(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return AddressBlockRecognizer(supported_language=language, context=context)


def _dialogue(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return DialogueNameRecognizer(supported_language=language, context=context)


def _job_title(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return JobTitleRecognizer(supported_language=language, context=context)


def _organisation(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return OrganisationSuffixRecognizer(supported_language=language, context=context)


def _place(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return PlaceRecognizer(supported_language=language, context=context)


def _place_name(language: str, context: list[str] | None, nlp_engine: Any) -> EntityRecognizer:
    return PlaceNameRecognizer(supported_language=language, context=context)


#: Name a policy uses -> factory(language, context words or None, the engine's NLP engine).
TEXT_RECOGNIZERS: dict[str, Callable[[str, list[str] | None, Any], EntityRecognizer]] = {
    "LineNerRecognizer": _line_ner,
    "CaseNormalisedNerRecognizer": _case_ner,
    "AddressBlockRecognizer": _address,
    "DialogueNameRecognizer": _dialogue,
    "OrganisationSuffixRecognizer": _organisation,
    "JobTitleRecognizer": _job_title,
    "PlaceRecognizer": _place,
    "PlaceNameRecognizer": _place_name,
}
