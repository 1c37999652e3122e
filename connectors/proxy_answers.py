"""Every place a model can write in an upstream answer, for the proxy's answer scan (``scan_answers``).

The answer scan must not depend on knowing each API's answer shape: a model writes in message text, but
also in refusals, reasoning summaries and thinking blocks, annotation titles, tool-call arguments (a JSON
text), tool-use inputs (JSON), and an upstream may add fields of its own or answer with something that is
not an object at all. So the whole answer is walked, and every string is scanned except the values of a
few structural fields a model does not write (ids, types, roles, statuses, the model name, finish
reasons, vectors and opaque signatures). Object keys are scanned unless they look like API field names
(lower-case snake case). Tool-call ``arguments`` that are JSON are scanned value by value (numbers that
could be a phone or card number too) and re-serialised only when something changed, so they stay valid
JSON. In ``redact`` mode, token log-probabilities (``logprobs``) are dropped: they spell the answer out
token by token, where no scan can find a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# string values of these keys are structure, not model text
STRUCTURAL = frozenset({
    "id", "object", "type", "role", "status", "model", "finish_reason", "stop_reason", "system_fingerprint",
    "service_tier", "call_id", "tool_call_id", "embedding", "signature", "encrypted_content", "data",
    "created", "created_at", "encoding_format",
})
LOGPROBS = frozenset({"logprobs", "top_logprobs"})
_API_KEY = re.compile(r"[a-z][a-z0-9_]*")
_MAX_DEPTH = 64
_MIN_NUMBER_CHARS = 6  # shorter numbers cannot be a phone, card or account number


@dataclass
class AnswerSlots:
    """The texts to scan and how to write their scanned form back into the answer."""

    texts: list[str] = field(default_factory=list)
    _puts: list[tuple[int, Callable[[str], None]]] = field(default_factory=list, repr=False)
    _finishers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def add(self, text: str, put: Callable[[str], None], *, key: bool = False) -> None:
        """``key``: ``put`` renames an object key, which is done after the values under it are written."""
        self.texts.append(text)
        self._puts.append((1 if key else 0, put))

    def write(self, scanned: list[str]) -> None:
        """Put ``scanned`` (in :attr:`texts` order) back: values, then renamed keys, then changed JSON
        arguments re-serialised."""
        changed = [(order, put, new) for (order, put), old, new in zip(self._puts, self.texts, scanned,
                                                                      strict=True) if new != old]
        for order in (0, 1):
            for kind, put, new in changed:
                if kind == order:
                    put(new)
        for finish in self._finishers:
            finish()


class AnswerTooDeep(ValueError):
    """An answer nested deeper than any API writes: it cannot be scanned, so it is not delivered."""


class _Walker:
    def __init__(self, drop_logprobs: bool) -> None:
        self.slots = AnswerSlots()
        self.drop_logprobs = drop_logprobs

    def _put(self, parent: Any, key: Any) -> Callable[[str], None]:
        return lambda new: parent.__setitem__(key, new)

    def value(self, parent: Any, key: Any, depth: int, free: bool) -> None:
        """``parent[key]``: strings scanned, containers walked; in ``free`` JSON (tool arguments and
        inputs), long numbers too."""
        item = parent[key]
        if depth > _MAX_DEPTH:
            raise AnswerTooDeep("the answer is nested too deeply to be scanned")
        if isinstance(item, str):
            if key == "arguments" and not free:
                self.arguments(parent, key, depth)
            elif item.strip():
                self.slots.add(item, self._put(parent, key))
        elif isinstance(item, list):
            for index in range(len(item)):
                self.value(item, index, depth + 1, free)
        elif isinstance(item, dict):
            self.object(item, depth + 1, free)
        elif free and isinstance(item, int | float) and not isinstance(item, bool):
            shown = json.dumps(item)
            if len(shown) >= _MIN_NUMBER_CHARS:
                self.slots.add(shown, lambda new, p=parent, k=key, v=item: p.__setitem__(k, new))

    def object(self, item: dict[str, Any], depth: int, free: bool) -> None:
        for key in list(item):
            if key in LOGPROBS and not free:
                if self.drop_logprobs and item[key] is not None:
                    item[key] = None
                continue
            if key in STRUCTURAL and not free and isinstance(item[key], str):
                continue
            if (free or not _API_KEY.fullmatch(key)) and key.strip():
                self.slots.add(key, lambda new, d=item, old=key: _rename(d, old, new), key=True)
            self.value(item, key, depth, free or (key == "input" and item.get("type") in
                                                  ("tool_use", "server_tool_use")))

    def arguments(self, parent: Any, key: Any, depth: int) -> None:
        text = parent[key]
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            self.slots.add(text, self._put(parent, key))
            return
        holder = [parsed]
        before = len(self.slots.texts)
        self.value(holder, 0, depth + 1, True)
        if len(self.slots.texts) > before:
            self.slots._finishers.append(lambda: _reserialise(parent, key, holder[0], text))


def _rename(item: dict[str, Any], old: str, new: str) -> None:
    """Rename key ``old`` to ``new`` in place, keeping the key order."""
    entries = list(item.items())
    item.clear()
    for name, value in entries:
        item[new if name == old else name] = value


def _reserialise(parent: Any, key: Any, value: Any, original: str) -> None:
    text = json.dumps(value, ensure_ascii=False)
    if json.loads(text) != json.loads(original):
        parent[key] = text


def answer_slots(answer: Any, *, drop_logprobs: bool) -> tuple[list[Any], AnswerSlots]:
    """The answer inside a one-item holder (so a bare string answer can be rewritten too) and every text
    of it to scan. ``drop_logprobs``: set every ``logprobs`` / ``top_logprobs`` field to null."""
    walker = _Walker(drop_logprobs)
    holder = [answer]
    walker.value(holder, 0, 0, False)
    return holder, walker.slots
