"""A Presidio NLP engine that runs only spaCy's ``ner`` component, and never downloads a model.

It also owns the policy's spaCy label -> entity mapping (``detection.nlp``, Presidio's
``NerModelConfiguration`` keys). Presidio logs a warning for every entity of every document whose
label is neither mapped nor ignored; here such labels are found once, when the model loads, named
in one warning and ignored, so nothing is logged per document.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts
from spacy.tokens import Doc

from .presidio_compat import SpacyEngineHooks

if TYPE_CHECKING:
    from .schema import NlpConfig

log = logging.getLogger(__name__)

# Components of the en_core_web_* / fr_core_news_* pipelines that detection does not use. ``ner`` has
# its own embedding layer in these models, so it runs without the shared ``tok2vec``.
_UNUSED = ("tok2vec", "tagger", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "senter")


class ModelNotInstalledError(RuntimeError):
    pass


def ner_model_configuration(config: NlpConfig) -> NerModelConfiguration:
    """Presidio's NER model configuration for a policy's ``detection.nlp`` (Presidio's defaults for
    what the policy leaves unset)."""
    values: dict[str, object] = {
        "labels_to_ignore": list(config.labels_to_ignore),
        "low_score_entity_names": list(config.low_score_entity_names),
        "low_confidence_score_multiplier": config.low_confidence_score_multiplier,
    }
    if config.model_to_presidio_entity_mapping is not None:
        values["model_to_presidio_entity_mapping"] = dict(config.model_to_presidio_entity_mapping)
    return NerModelConfiguration(**values)


class NerOnlySpacyEngine(SpacyEngineHooks):
    def __init__(
        self,
        model: str | Mapping[str, str],
        languages: Iterable[str],
        labels_to_ignore: Iterable[str],
        configuration: NerModelConfiguration | None = None,
    ):
        """``model``: one model for every language, or language -> model. ``configuration`` (from
        :func:`ner_model_configuration`) wins over ``labels_to_ignore``."""
        if configuration is None:
            configuration = NerModelConfiguration(labels_to_ignore=list(labels_to_ignore))
        super().__init__(
            models=[
                {"lang_code": lang, "model_name": model if isinstance(model, str) else model[lang]}
                for lang in languages
            ],
            ner_model_configuration=configuration,
        )
        # Second NER passes registered by recognizers (``text_structure.LineNerRecognizer``): language ->
        # name -> function (text, artifacts) -> the (offset, text) pieces to read again. Their docs are
        # made in one ``pipe`` per batch of that language and attached to each text's artifacts as
        # ``second_pass[name]``.
        self.second_passes: dict[str, dict[str, Callable[[str, NlpArtifacts], list[tuple[int, str]]]]] = {}

    @classmethod
    def for_policy(cls, config: NlpConfig, languages: Iterable[str]) -> NerOnlySpacyEngine:
        """The engine a policy's ``detection.nlp`` section describes (not loaded yet)."""
        languages = list(languages)
        models = {lang: config.model_for(lang) for lang in languages}
        return cls(models, languages, config.labels_to_ignore, ner_model_configuration(config))

    def unmapped_labels(self) -> list[str]:
        """Labels a loaded model produces that the configuration neither maps nor ignores."""
        config = self.ner_model_configuration
        known = set(config.model_to_presidio_entity_mapping or {}) | set(config.labels_to_ignore or ())
        labels = {label for nlp in self.nlp.values() for label in nlp.get_pipe("ner").labels}
        return sorted(labels - known)

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
        unmapped = self.unmapped_labels()
        if unmapped:
            # Presidio would warn once per such entity per document; decide it once, here.
            log.warning(
                "spaCy labels %s are neither mapped nor ignored by the policy (detection.nlp); "
                "they are ignored",
                ", ".join(unmapped),
            )
            config = self.ner_model_configuration
            config.labels_to_ignore = [*(config.labels_to_ignore or ()), *unmapped]

    @contextlib.contextmanager
    def memory_zone(self) -> Iterator[None]:
        """A spaCy memory zone of every loaded model: the strings, lexemes and tokenizer-cache entries
        the texts of the block add are freed when it ends.

        Without it each new token (every unique email, phone or name in the input) stays in the model's
        ``StringStore`` and vocabulary for the life of the process, so a worker's memory grows with its
        input. Docs, tokens and artifacts made in the block are invalid after it: only plain values
        (offsets, labels, scores, str) may leave it. A model already in a zone (an outer block) is not
        entered again: spaCy's zones do not nest.
        """
        with contextlib.ExitStack() as stack:
            seen: set[int] = set()
            for nlp in (self.nlp or {}).values():
                if id(nlp.vocab) in seen or nlp.vocab.in_memory_zone:
                    continue
                seen.add(id(nlp.vocab))
                stack.enter_context(nlp.memory_zone())
            yield

    def artifacts_batch(self, texts: list[str], language: str, batch_size: int) -> list[NlpArtifacts]:
        """The NLP artifacts of each text, from one spaCy ``pipe`` pass.

        Presidio's ``process_batch`` does the same but also rebuilds every text from its tokens
        (``doc.text``), which the engine already has: that join walks every token again.
        """
        if not self.nlp:
            raise ValueError("NLP engine is not loaded. Consider calling .load()")
        docs = self.nlp[language].pipe((str(text) for text in texts), batch_size=batch_size)
        artifacts = [self.artifacts_from_doc(doc, language) for doc in docs]
        for name, pieces_of in self.second_passes.get(language, {}).items():
            self._second_pass(name, pieces_of, texts, artifacts, language, batch_size)
        return artifacts

    def _second_pass(self, name, pieces_of, texts, artifacts, language, batch_size) -> None:
        """One ``pipe`` over the pieces ``pieces_of`` gives for every text of the batch."""
        owners: list[tuple[NlpArtifacts, int]] = []
        pieces: list[str] = []
        for text, found in zip(texts, artifacts, strict=True):
            found.second_pass = getattr(found, "second_pass", {})
            found.second_pass[name] = []
            for offset, piece in pieces_of(str(text), found):
                owners.append((found, offset))
                pieces.append(piece)
        docs = self.nlp[language].pipe(pieces, batch_size=batch_size)
        for (found, offset), doc in zip(owners, docs, strict=True):
            found.second_pass[name].append((offset, doc))

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
