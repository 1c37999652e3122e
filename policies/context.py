"""Presidio's lemma context enhancer, without its per-text deep copy of every result."""

from __future__ import annotations

import copy
from bisect import bisect_right
from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts

from .presidio_compat import LemmaEnhancerHooks


class SelectiveContextEnhancer(LemmaEnhancerHooks):
    """Same results as Presidio's enhancer, with less copying and a faster token lookup.

    Presidio deep-copies the whole result list, then boosts, in order, each result whose recognizer has
    context words found near it. Whether a result is boosted depends only on the text, the result's span
    and metadata and the NLP artifacts, never on an earlier boost, so the decisions are made first: with
    none, the results are returned as they are; otherwise only the boosted results are copied (result
    and explanation, the two objects a boost writes to) and boosted as Presidio does. If results share
    objects (a boost through one would show through another), Presidio's deep copy runs instead, which
    keeps that sharing exactly as Presidio would. Calls with explicit context words take Presidio's path.
    """

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        if context or nlp_artifacts is None:
            return super().enhance_using_context(text, raw_results, nlp_artifacts, recognizers, context)
        boosts = self._boosts(text, raw_results, nlp_artifacts, recognizers)
        if not boosts:
            return list(raw_results)
        explanations = [id(r.analysis_explanation) for r in raw_results if r.analysis_explanation is not None]
        shared = len({id(r) for r in raw_results}) < len(raw_results) or len(set(explanations)) < len(
            explanations
        )
        results = copy.deepcopy(raw_results) if shared else list(raw_results)
        for index, word in boosts:
            result = results[index]
            if not shared:
                result = copy.copy(result)
                result.analysis_explanation = copy.copy(result.analysis_explanation)
                results[index] = result
            result.score += self.context_similarity_factor
            result.score = max(result.score, self.min_score_with_context_similarity)
            result.score = min(result.score, ContextAwareEnhancer.MAX_SCORE)
            result.analysis_explanation.set_supportive_context_word(word)
            result.analysis_explanation.set_improved_score(result.score)
        return results

    def _boosts(
        self,
        text: str,
        results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
    ) -> list[tuple[int, str]]:
        """(position, supportive context word) of each result Presidio's enhancer would boost."""
        by_id: dict[str, EntityRecognizer] | None = None
        key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        boosted_key = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY
        boosts = []
        for index, result in enumerate(results):
            metadata = result.recognition_metadata
            if not metadata or key not in metadata:
                continue
            if by_id is None:
                by_id = {recognizer.id: recognizer for recognizer in recognizers}  # the last of an id wins
            recognizer = by_id.get(metadata[key])
            if not recognizer or not recognizer.context or metadata.get(boosted_key):
                continue
            surrounding = self.surrounding_words(nlp_artifacts, text[result.start : result.end], result.start)
            word = self.supportive_word(surrounding, recognizer.context)
            if word != "":
                boosts.append((index, word))
        return boosts

    @staticmethod
    def match_token_index(word: str, start: int, tokens: Sequence, tokens_indices: list[int]) -> int:
        """Presidio's answer (the first token that starts at ``start`` or ends after it) by bisection;
        ``LemmaEnhancerHooks`` makes it the token lookup Presidio's surrounding-word extraction calls.

        Tokens are ordered and do not overlap, so every token before the last one starting at or before
        ``start`` ends at or before ``start``: the answer is that token if it reaches past ``start``,
        else the next one. Presidio walks the tokens one by one, building a spaCy Token for each.
        """
        last = bisect_right(tokens_indices, start) - 1
        if last >= 0 and (tokens_indices[last] == start or start < tokens_indices[last] + len(tokens[last])):
            return last
        if last + 1 < len(tokens):
            return last + 1
        raise ValueError(
            "Did not find word '" + word + "' in the list of tokens although it is expected to be found"
        )
