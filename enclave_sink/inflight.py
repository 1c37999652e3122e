"""A bounded number of calls in flight, outcomes handed back in submission order (no Beam import).

The enclave stages seal and send several batches of one worker at once (network and enclave time
overlap), yet emit results in the order the batches were formed: :meth:`InFlight.ready` yields the
oldest call once it is done, and blocks on it while ``limit`` calls are outstanding. Every submitted
call comes back exactly once (its result or its exception), so nothing is lost or duplicated.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    """Up to ``limit`` calls at once on a small thread pool; ``tag`` travels with each call's future."""

    def __init__(self, limit: int, name: str = "enclave-send") -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        self.limit = limit
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=name)
        self._pending: deque[tuple[T, Future[Any]]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, tag: T, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._pending.append((tag, self._pool.submit(fn, *args, **kwargs)))

    def ready(self) -> Iterator[tuple[T, Future[Any]]]:
        """The oldest calls that are done, in order; waits while ``limit`` calls are outstanding."""
        while self._pending and (self._pending[0][1].done() or len(self._pending) >= self.limit):
            tag, future = self._pending.popleft()
            future.exception()  # waits for it
            yield tag, future

    def drain(self) -> Iterator[tuple[T, Future[Any]]]:
        """Every outstanding call, in submission order, waiting for each."""
        while self._pending:
            tag, future = self._pending.popleft()
            future.exception()
            yield tag, future

    def discard(self) -> None:
        """Forget every outstanding call (a new bundle after a failed one must not emit its outcomes)."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()

    def close(self) -> None:
        """Stop the pool; calls still queued are cancelled (their batches were never emitted)."""
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
