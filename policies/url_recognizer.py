"""Presidio's URL recognizer with a cost linear in the text.

Presidio's URL patterns start with ``[a-z0-9.\\-]{1,253}[.](?:com|edu|...)``: from every position of a
run of host characters the class takes up to 253 of them and backtracks through each, trying the list of
top-level domains at every dot. A 30 KB field of ``a.a.a...`` holds 30,000 such positions (about 1.7 ms
each with the non-schema pattern), so it took close to a minute.

:class:`LinearUrlRecognizer` keeps Presidio's patterns, scores, context words and name, and lets a host
start only where a run of host characters starts (``(?<![a-z0-9.\\-])``, the same class under the same
flags). Presidio's leftmost match in a run starts at the run's first character whenever one exists
within its 253-character window, so on text with URLs of normal length both find the same spans; each
run is now scanned once, not once per character. ``recognizers.build_registry`` puts it in place of
Presidio's ``UrlRecognizer`` in every registry. Measured in ``tests/policies/test_budgets.py``.
"""

from __future__ import annotations

from typing import Any

from presidio_analyzer import Pattern
from presidio_analyzer.predefined_recognizers import UrlRecognizer

#: A host may start only where no host character precedes it.
RUN_START = r"(?<![a-z0-9.\-])"


def _linear(pattern: Pattern) -> Pattern:
    base = UrlRecognizer.BASE_URL_REGEX
    if base not in pattern.regex:  # guards against a Presidio release that reshapes its patterns
        raise ImportError(f"Presidio's URL pattern {pattern.name!r} no longer holds its BASE_URL_REGEX")
    return Pattern(pattern.name, pattern.regex.replace(base, RUN_START + base), pattern.score)


class LinearUrlRecognizer(UrlRecognizer):
    """Presidio's ``UrlRecognizer`` whose hosts start only at the start of a run (linear time)."""

    PATTERNS = [_linear(pattern) for pattern in UrlRecognizer.PATTERNS]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("name", "UrlRecognizer")  # findings keep naming Presidio's recognizer
        super().__init__(**kwargs)

    @classmethod
    def replacing(cls, stock: UrlRecognizer) -> LinearUrlRecognizer:
        """The linear recognizer configured as ``stock`` (language, entity, context, name)."""
        return cls(
            context=stock.context,
            supported_language=stock.supported_language,
            supported_entity=stock.supported_entities[0],
            name=stock.name,
        )
