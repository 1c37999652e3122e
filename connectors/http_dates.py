"""The HTTP-date form of ``Retry-After`` (RFC 9110 10.2.3), read by the shared retry policy
(:mod:`redactline.connectors.retry`). Kept free of Beam so ``redactline prompt`` starts without it."""

from __future__ import annotations

import datetime as dt
import email.utils


def seconds_until_http_date(value: str, now: dt.datetime | None = None) -> float | None:
    """Seconds from ``now`` to the HTTP date ``value`` (0 for a date in the past); None if not a date."""
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())
