"""A Presidio NLP engine that runs only spaCy's ``ner`` component, and never downloads a model."""

from __future__ import annotations

from collections.abc import Iterable

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

# Components of the en_core_web_* pipelines that detection does not use. ``ner`` has its own
# embedding layer in the small models, so it runs without the shared ``tok2vec``.
_UNUSED = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


class ModelNotInstalledError(RuntimeError):
    pass


class NerOnlySpacyEngine(SpacyNlpEngine):
    def __init__(self, model: str, languages: Iterable[str], labels_to_ignore: Iterable[str]):
        super().__init__(
            models=[{"lang_code": lang, "model_name": model} for lang in languages],
            ner_model_configuration=NerModelConfiguration(labels_to_ignore=list(labels_to_ignore)),
        )

    def load(self) -> None:
        self.nlp = {}
        for model in self.models:
            name = model["model_name"]
            if not spacy.util.is_package(name):
                # Presidio would call spacy.cli.download here; we refuse to touch the network.
                raise ModelNotInstalledError(
                    f"spaCy model {name!r} is not installed; install the project's locked requirements"
                )
            nlp = spacy.load(name, exclude=[c for c in _UNUSED if c != "ner"])
            if "ner" not in nlp.pipe_names:
                raise ModelNotInstalledError(f"spaCy model {name!r} has no ner component")
            self.nlp[model["lang_code"]] = nlp

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        entities, scores = self._get_updated_entities(
            self._get_entities(doc), self._get_scores_for_entities(doc)
        )
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            # No lemmatizer is loaded: lower-cased text stands in for lemmas in context matching.
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=scores,
        )
