"""Presidio's lemma context enhancer, without its per-text deep copy when nothing can be boosted."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts


class SelectiveContextEnhancer(LemmaContextAwareEnhancer):
    """Same results as Presidio's enhancer.

    Presidio deep-copies every result list before looking for context. Only results from recognizers
    that declare context words (or calls given explicit context) can change, so when there is none the
    results are returned as they are; otherwise Presidio's own code runs.
    """

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        if not context:
            with_context = {r.id for r in recognizers if r.context}
            key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
            if not any((r.recognition_metadata or {}).get(key) in with_context for r in raw_results):
                return list(raw_results)
        return super().enhance_using_context(text, raw_results, nlp_artifacts, recognizers, context)
