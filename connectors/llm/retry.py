"""When to retry a request to an LLM API, and how long to wait first.

Kept apart from the clients so the rules are one small, testable function each:

* retry on HTTP 429 and 5xx, on timeouts and on network errors; never on other 4xx (the request itself is
  wrong, sending it again only costs money) nor on 3xx (redirects are not followed: a redirect must not
  carry a prompt to a host nobody configured);
* wait what the server asks (``Retry-After`` in seconds or as an HTTP date, or OpenAI's
  ``retry-after-ms``), else an exponential backoff with jitter so that many workers that failed together
  do not come back together.

The HTTP-date form is read by ``connectors/http_dates.py``, which the HTTP API source shares.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping

from ..http_dates import seconds_until_http_date


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and every 5xx (including Anthropic's 529 overloaded)."""
    return status == 429 or 500 <= status <= 599


def parse_retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it does not say (or says nonsense).

    ``retry-after-ms`` (milliseconds, sent by OpenAI) wins over ``retry-after`` because it is more
    precise; ``retry-after`` may be delta-seconds (``"2"``, ``"1.5"``) or an HTTP date (RFC 9110 10.2.3).
    A date in the past means "now" (0 s). Negative or non-finite numbers are ignored.
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
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        return None
    return number


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before retry ``retry`` (1-based): between half and all of ``min(cap, base * 2**(retry-1))``.

    The random half ("equal jitter") spreads out clients that failed at the same moment while keeping
    a floor, so a retry never comes back immediately.
    """
    ceiling = min(cap, base * (2 ** (retry - 1)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)
