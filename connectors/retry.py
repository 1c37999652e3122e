"""The one retry policy of every HTTP client in redactline: the HTTP API source, the LLM API clients and
the enclave client.

What is shared here, once:

* how long to wait before retry ``n`` (1-based): exponential backoff with *full jitter*, a uniform draw
  in ``[0, min(max_backoff, backoff * 2**(n-1))]``, so many workers that failed together do not come
  back together;
* what the server asks instead (``Retry-After`` in seconds or as an HTTP date, or OpenAI's
  ``retry-after-ms``), capped at ``max_retry_after``;
* which HTTP statuses are worth another try (:func:`is_retryable_status`: 429 and 5xx; never another
  4xx, where the request itself is wrong, nor a 3xx, since redirects are not followed);
* an injectable ``sleep`` and random source, so tests record the waits instead of waiting.

Each caller keeps its own loop: what counts as a failure (a transport error, a non-JSON body, a 409
``reattest``), how many attempts, what it logs and raises. No Beam here, so ``redactline prompt`` and
the proxy start fast.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .http_dates import seconds_until_http_date

Sleep = Callable[[float], None]

_RANDOM = random.Random()  # the default random source; a policy may carry its own (tests seed one)


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and every 5xx (including Anthropic's 529 overloaded)."""
    return status == 429 or 500 <= status <= 599


def parse_retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it does not say (or says nonsense).

    ``retry-after-ms`` (milliseconds, sent by OpenAI) wins over ``retry-after`` because it is more
    precise; ``retry-after`` may be delta-seconds (``"2"``, ``"1.5"``) or an HTTP date (RFC 9110 10.2.3)
    read by :mod:`.http_dates`; a date in the past means "now" (0 s). Negative or non-finite numbers
    are ignored. Header names are matched case-insensitively (a plain dict works as well as
    ``httpx.Headers``).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    return seconds_until_http_date(value, now)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try and how long to wait in between; picklable (Beam ships it to workers).

    ``attempts`` counts requests in all (1 + retries). ``backoff`` is the ceiling of the first wait and
    doubles per retry up to ``max_backoff``. A ``Retry-After`` from the server replaces the backoff and
    is capped at ``max_retry_after``. ``sleep`` and ``rng`` default to :func:`time.sleep` and a
    module-wide :class:`random.Random`; tests pass a recording sleep and a seeded generator.
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 60.0
    sleep: Sleep | None = field(default=None, compare=False, repr=False)
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if self.backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise ValueError("backoff, max_backoff and max_retry_after must not be negative")

    @property
    def retries(self) -> int:
        """Retries after the first attempt."""
        return self.attempts - 1

    def backoff_delay(self, retry: int) -> float:
        """Full-jitter exponential backoff before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return (self.rng or _RANDOM).uniform(0.0, ceiling)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``retry``: the server's ``retry_after`` (capped) when given, else backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return self.backoff_delay(retry)

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` with the policy's sleep (the only place a retry waits)."""
        (self.sleep or time.sleep)(seconds)
