"""The shared retry policy: jittered backoff within bounds, Retry-After forms and caps, injected sleep."""

from __future__ import annotations

import datetime as dt
import pickle
import random

import pytest

from redactline.connectors.retry import RetryPolicy, is_retryable_status, parse_retry_after

NOW = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_backoff_is_full_jitter_under_a_doubling_ceiling_with_a_cap():
    policy = RetryPolicy(backoff=0.5, max_backoff=10.0, rng=random.Random(7))
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (8, 10.0), (30, 10.0)]:
        delays = [policy.backoff_delay(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 2  # jittered over the whole range, not constant
        assert min(delays) < ceiling / 4  # full jitter: no floor


def test_a_seeded_random_source_gives_the_same_delays():
    first = [RetryPolicy(rng=random.Random(42)).delay(n) for n in range(1, 6)]
    again = [RetryPolicy(rng=random.Random(42)).delay(n) for n in range(1, 6)]
    assert first == again


def test_retry_after_wins_over_backoff_and_is_capped():
    policy = RetryPolicy(backoff=0.01, max_backoff=0.05, max_retry_after=30.0, rng=random.Random(1))
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=0.0) == 0.0
    assert policy.delay(3, retry_after=3600.0) == 30.0
    assert policy.delay(1, retry_after=None) <= 0.01


def test_pause_uses_the_injected_sleep():
    slept: list[float] = []
    RetryPolicy(sleep=slept.append).pause(1.5)
    assert slept == [1.5]


def test_policy_checks_its_numbers_and_pickles():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff=-1)
    policy = RetryPolicy(attempts=3, backoff=0.2)
    assert policy.retries == 2
    assert pickle.loads(pickle.dumps(policy)) == policy  # Beam ships it to workers


def test_retryable_statuses():
    assert [s for s in (200, 301, 400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 529, 599)
            if is_retryable_status(s)] == [429, 500, 502, 503, 529, 599]


def test_parse_retry_after_seconds_and_milliseconds():
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"Retry-After": "7"}, NOW) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"RETRY-AFTER": " 3 "}) == 3.0
    # OpenAI's milliseconds are more precise and win
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_parse_retry_after_http_date():
    assert parse_retry_after({"Retry-After": "Mon, 01 Jan 2024 12:00:30 GMT"}, now=NOW) == 30.0
    assert parse_retry_after({"Retry-After": "Mon, 01 Jan 2024 11:00:00 GMT"}, now=NOW) == 0.0  # past: now
    may = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after({"Retry-After": "Wed, 01 May 2024 12:00:30 GMT"}, may) == 30.0


def test_bad_retry_after_values_are_ignored():
    for bad in ("", "soon", "-1", "nan", "inf", "-inf", "Mon, 99 Foo 2024"):
        assert parse_retry_after({"Retry-After": bad}, NOW) is None
    assert parse_retry_after({"retry-after-ms": "soon"}) is None
    assert parse_retry_after({"retry-after-ms": "-5", "retry-after": "4"}) == 4.0  # bad ms falls back
    assert parse_retry_after({}) is None
