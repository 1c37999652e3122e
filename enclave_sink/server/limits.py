"""Resource limits of the enclave service that do not depend on HTTP: a per-client token bucket for
attestation requests and a JSON nesting-depth check that runs before the payload is decoded.

Both are linear in their input and bounded in memory: the limiter remembers at most ``max_clients``
addresses (least recently seen forgotten first), the depth check never recurses.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# A JSON string literal, or an unterminated one running to the end: the match never fails once it
# starts, so removing strings stays linear even on hostile input (no rescans from later quotes).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class RateLimiter:
    """One token bucket per client key: ``burst`` tokens, refilled at ``rate`` tokens per second."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate must be positive, burst and max_clients at least 1")
        self.rate = rate
        self.burst = burst
        self._max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            granted = tokens >= 1.0
            if granted:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)  # most recently seen last
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
            return 0.0 if granted else (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` delta-seconds (an integer, rounded up, at least 1)."""
    return str(max(1, math.ceil(seconds)))


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """True when the JSON text ``data`` nests arrays/objects deeper than ``limit``.

    Runs before ``json.loads`` (whose recursion would raise RecursionError on deep input): string
    literals are removed first (brackets inside them do not count), then the brackets are counted.
    Malformed input may be over-estimated, never under-estimated; ``json.loads`` refuses it anyway.
    """
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False  # no more openers than the limit: no need to walk them
    depth = 0
    for char in brackets:
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
