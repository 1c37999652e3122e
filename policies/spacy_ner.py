"""A Presidio NLP engine that runs only spaCy's ``ner`` component, and never downloads a model."""

from __future__ import annotations

from collections.abc import Iterable

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts
from spacy.tokens import Doc

from .presidio_compat import SpacyEngineHooks

# Components of the en_core_web_* pipelines that detection does not use. ``ner`` has its own
# embedding layer in the small models, so it runs without the shared ``tok2vec``.
_UNUSED = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


class ModelNotInstalledError(RuntimeError):
    pass


class NerOnlySpacyEngine(SpacyEngineHooks):
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

    def artifacts_batch(self, texts: list[str], language: str, batch_size: int) -> list[NlpArtifacts]:
        """The NLP artifacts of each text, from one spaCy ``pipe`` pass.

        Presidio's ``process_batch`` does the same but also rebuilds every text from its tokens
        (``doc.text``), which the engine already has: that join walks every token again.
        """
        if not self.nlp:
            raise ValueError("NLP engine is not loaded. Consider calling .load()")
        docs = self.nlp[language].pipe((str(text) for text in texts), batch_size=batch_size)
        return [self.artifacts_from_doc(doc, language) for doc in docs]

    def artifacts_from_doc(self, doc: Doc, language: str) -> NlpArtifacts:
        """Presidio's artifacts for ``doc`` (its ``process_batch`` calls this too), with lemmas
        replaced by lower-cased token text."""
        entities, scores = self.ner_entities(doc)
        tokens = [(token.idx, token.lower_) for token in doc]  # one walk over the tokens, not two
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[idx for idx, _ in tokens],
            # No lemmatizer is loaded: lower-cased text stands in for lemmas in context matching.
            lemmas=[lower for _, lower in tokens],
            nlp_engine=self,
            language=language,
            scores=scores,
        )
