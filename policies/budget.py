"""Per-record work budgets: how long detection may run on one record and how much text it may be given.

A policy sets them under ``detection.budget`` (:class:`~redactline.policies.schema.Budget`). The engine
enforces them; callers turn the two exceptions into their own outcome (the pipeline quarantines the
record as ``engine_timeout`` / ``oversize``, the proxy refuses the request):

* **size** (:class:`TextTooLarge`): checked before spaCy runs. spaCy cannot be interrupted, so its time
  is bounded through the size of what it is given, never through a clock;
* **time** (:class:`EngineTimeout`): a deadline held in a context variable (:func:`deadline`; nested
  deadlines keep the earliest, so a proxy request's budget bounds every text in it). Regexes run with a
  timeout derived from it (:func:`regex_timeout`, :class:`DeadlineRegex`), and the engine checks it
  between recognizers (:func:`check`), so a recognizer that cannot be interrupted overruns by itself at
  most, never by the rest of the record.

Neither exception derives from ``TimeoutError``: Presidio's pattern loop swallows that one (it skips
the pattern, i.e. fails open); these pass through it to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: Defaults of ``detection.budget`` (also the schema's): generous for any real record, finite for all.
DEFAULT_MAX_SECONDS = 10.0
#: 256 KiB of text per record: spaCy (which no clock can stop) takes some 20-40 s on that much prose.
DEFAULT_MAX_TEXT_BYTES = 256 * 1024
#: The largest ``max_text_bytes`` a policy may set (64 MiB).
MAX_TEXT_BYTES_LIMIT = 64 << 20
#: spaCy refuses a text over this many characters (its ``nlp.max_length``): one such text is oversize
#: whatever the budget says.
SPACY_MAX_CHARS = 1_000_000


class BudgetExceeded(Exception):  # noqa: N818 - the name says what happened, not that it is an error
    """A record (or request) went over its budget. The message names limits and sizes, never text."""


class EngineTimeout(BudgetExceeded):
    """Detection on the record ran past its time budget."""


class TextTooLarge(BudgetExceeded):
    """The record's text to inspect is over its size budget."""


@dataclass(frozen=True)
class Limits:
    """The numbers of a budget: seconds of detection per record, UTF-8 bytes of text per record."""

    max_seconds: float = DEFAULT_MAX_SECONDS
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES

    def check_size(self, texts: Iterable[str], what: str = "record") -> int:
        """The UTF-8 size of ``texts`` together; :class:`TextTooLarge` over ``max_text_bytes``."""
        total = 0
        limit = self.max_text_bytes
        for text in texts:
            if len(text) > SPACY_MAX_CHARS:
                raise TextTooLarge(f"a text of the {what} is over {SPACY_MAX_CHARS} characters")
            total += len(text) if text.isascii() else utf8_size(text)
            if total > limit:
                raise TextTooLarge(f"{what} text is over {limit} bytes")
        return total


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# The current deadline (time.monotonic() value), None when no budget applies.
_DEADLINE: ContextVar[float | None] = ContextVar("redactline_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Run the block under a deadline ``seconds`` from now, or the enclosing one if that is earlier.

    Raises :class:`EngineTimeout` at once when no time is left.
    """
    now = time.monotonic()
    outer = _DEADLINE.get()
    until = now + seconds if outer is None else min(outer, now + seconds)
    if until <= now:
        raise EngineTimeout("time budget exhausted")
    token = _DEADLINE.set(until)
    try:
        yield until
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (negative once past), None without one."""
    until = _DEADLINE.get()
    return None if until is None else until - time.monotonic()


def check() -> None:
    """:class:`EngineTimeout` if the current deadline has passed."""
    until = _DEADLINE.get()
    if until is not None and time.monotonic() >= until:
        raise EngineTimeout("time budget exceeded")


def regex_timeout(default: float | None = None) -> float | None:
    """The ``timeout=`` for a regex call now: the time left (at most ``default`` when given).

    :class:`EngineTimeout` when no time is left.
    """
    left = remaining()
    if left is None:
        return default
    if left <= 0:
        raise EngineTimeout("time budget exceeded")
    return left if default is None else min(left, default)


class DeadlineRegex:
    """A compiled ``regex`` pattern whose searches run under the current deadline.

    ``timeout`` arguments are capped by the time left, and a ``TimeoutError`` (also one raised while a
    ``finditer`` is iterated) becomes :class:`EngineTimeout`. Other attributes are the pattern's own.
    """

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compiled, name)

    def _call(self, method: Callable[..., T], text: Any, args: tuple, kwargs: dict) -> T:
        kwargs["timeout"] = regex_timeout(kwargs.get("timeout"))
        try:
            return method(text, *args, **kwargs)
        except TimeoutError:
            raise EngineTimeout("a regular expression ran past the time budget") from None

    def search(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.compiled.search, text, args, kwargs)

    def match(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.compiled.match, text, args, kwargs)

    def fullmatch(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.compiled.fullmatch, text, args, kwargs)

    def findall(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.compiled.findall, text, args, kwargs)

    def finditer(self, text: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return _timed_iter(self._call(self.compiled.finditer, text, args, kwargs))


def _timed_iter(matches: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from matches
    except TimeoutError:
        raise EngineTimeout("a regular expression ran past the time budget") from None


@dataclass
class Meter:
    """Time spent per owner (a record), across the calls made for it; each call gets what is left."""

    max_seconds: float
    spent: dict[Hashable, float] = field(default_factory=dict)

    def run(self, owner: Hashable, call: Callable[[], T]) -> T:
        """``call()`` under ``owner``'s remaining budget; the time it took is charged to ``owner``."""
        left = self.max_seconds - self.spent.get(owner, 0.0)
        start = time.monotonic()
        try:
            with deadline(left):
                result = call()
                check()  # a call that could not be interrupted and overran still counts as over
                return result
        finally:
            self.spent[owner] = self.spent.get(owner, 0.0) + time.monotonic() - start


# The meter (and the owner of each text) the next ``analyze_texts`` call charges; see :func:`metered`.
_METERING: ContextVar[tuple[Meter, Sequence[Hashable] | None] | None] = ContextVar(
    "redactline_metering", default=None
)


@contextmanager
def metered(meter: Meter, owners: Sequence[Hashable] | None = None) -> Iterator[Meter]:
    """Charge the analysis calls in the block to ``meter``, text ``i`` to ``owners[i]`` (default: each text
    its own owner). The engine's callers use it so that ``analyze_texts(texts)`` keeps its signature."""
    token = _METERING.set((meter, owners))
    try:
        yield meter
    finally:
        _METERING.reset(token)


def current_meter(count: int, max_seconds: float) -> tuple[Meter, Sequence[Hashable]]:
    """The meter and owners set by :func:`metered` for ``count`` texts, else a fresh meter with each text
    its own owner."""
    found = _METERING.get()
    if found is None:
        return Meter(max_seconds), range(count)
    meter, owners = found
    return meter, range(count) if owners is None else owners
