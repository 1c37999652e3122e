"""Refuse regular expressions whose backtracking can take exponential time (catastrophic backtracking).

A backtracking matcher (the ``regex`` module Presidio uses) explores every way a pattern can match a
text before it gives up. That number is exponential in the text's length exactly when some repeated
part of the pattern can match one piece of text in two different ways, e.g.:

* a quantified group whose body can itself repeat (nested quantifiers): ``(a+)+``, ``(a*)*``,
  ``(\\w+\\s?)+``, ``(\\d{1,3})+``;
* a quantified alternation whose branches can match the same text: ``(a|a)+``, ``(\\d|\\w)+``; any
  two branches that can start with the same character are refused too (``(a|ab)+``): it is cheap to
  rewrite and such a shape becomes exponential as soon as a later edit makes it ambiguous.

:func:`check_pattern` decides on the regex module's own parse tree
(``presidio_compat.parse_regex_shape``). For each unbounded loop (or one with a bound over
:data:`EXPAND_LIMIT`) it builds the position automaton of the loop, with every character class taken
as its set of matching characters from a probe alphabet, each position split by the edge that reaches
it (so ``(a+)+``'s two loops on one position stay two paths), and looks for exponential ambiguity: a
state of the product automaton from which a pair of distinct paths with the same text returns to it
(an SCC of the product holding both a diagonal and an off-diagonal state). Approximations all lean
towards refusing: lookarounds and anchors are treated as matching nothing, backreferences and other
opaque items as any text, large bounded repeats as unbounded.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import regex

from . import presidio_compat as compat

#: Flags Presidio's ``PatternRecognizer`` compiles patterns with (``global_regex_flags``' default).
PRESIDIO_FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE

#: Bounded repeats up to this count are unrolled; larger ones are treated as unbounded.
EXPAND_LIMIT = 8
#: Above this many automaton positions for one loop, bounded repeats are no longer unrolled.
MAX_POSITIONS = 1500

NESTED = (
    "nested quantifiers: a repeated group whose body can itself repeat can match the same text in "
    "exponentially many ways (catastrophic backtracking)"
)
OVERLAPPING = (
    "a repeated alternation whose branches can match the same text (catastrophic backtracking)"
)

# Probe alphabet: every ASCII and Latin-1 character, plus one or two of each other kind a character
# class may name (letters of other scripts, other digits, spaces, marks, symbols).
_EXTRA = (
    0x100, 0x17F, 0x1C4, 0x391, 0x3B1, 0x410, 0x430, 0x5D0, 0x627, 0x660, 0x6F0, 0x905, 0x966, 0xE01,
    0x1E9E, 0x2000, 0x2028, 0x2029, 0x202F, 0x2013, 0x2019, 0x20AC, 0x2160, 0x2460, 0x3000, 0x3042,
    0x4E00, 0xAC00, 0xFF10, 0xFF21, 0xFF41, 0x300, 0x1F600, 0x10400, 0x1D7CE,
)
ALPHABET: tuple[int, ...] = tuple(range(0x100)) + _EXTRA


def _mask(node: compat.OneChar) -> int:
    bits = 0
    for index, code in enumerate(ALPHABET):
        if node.test(code):
            bits |= 1 << index
    return bits


class _Automaton:
    """Position automaton of one loop: states are (position, entering edge)."""

    def __init__(self, expand: bool) -> None:
        self.expand = expand
        self.masks: list[int] = []  # per position
        self.edges: list[tuple[int, int]] = []  # (source position or -1 for start, target position)
        self.masks_of: dict[int, int] = {}

    def position(self, node: compat.OneChar | None) -> int:
        if len(self.masks) >= MAX_POSITIONS:
            raise OverflowError
        if node is None:  # any character
            self.masks.append((1 << len(ALPHABET)) - 1)
        else:
            key = id(node)
            if key not in self.masks_of:
                self.masks_of[key] = _mask(node)
            self.masks.append(self.masks_of[key])
        return len(self.masks) - 1

    def connect(self, sources: list[int], targets: list[int]) -> None:
        self.edges.extend((s, t) for s in sources for t in targets)

    def build(self, node: compat.ShapeNode) -> tuple[bool, list[int], list[int]]:
        """(nullable, first positions, last positions) of ``node``; edges inside it are added."""
        if isinstance(node, compat.OneChar):
            p = self.position(node)
            return False, [p], [p]
        if isinstance(node, compat.AnyText):
            p = self.position(None)
            self.connect([p], [p])
            return True, [p], [p]
        if isinstance(node, compat.ZeroWidth):
            return True, [], []
        if isinstance(node, compat.Seq):
            nullable, first, last = True, [], []
            for item in node.items:
                n, f, lst = self.build(item)
                self.connect(last, f)
                first = first + f if nullable else first
                last = last + lst if n else lst
                nullable = nullable and n
            return nullable, first, last
        if isinstance(node, compat.Alt):
            nullable, first, last = False, [], []
            for branch in node.branches:
                n, f, lst = self.build(branch)
                nullable, first, last = nullable or n, first + f, last + lst
            return nullable, first, last
        if isinstance(node, compat.Loop):
            return self.loop(node)
        raise TypeError(node)

    def loop(self, node: compat.Loop) -> tuple[bool, list[int], list[int]]:
        low, high = node.min_count, node.max_count
        if high is not None and high <= 1:
            if high == 0:
                return True, [], []
            n, f, lst = self.build(node.body)
            return n or low == 0, f, lst
        if high is not None and high <= EXPAND_LIMIT and self.expand:
            # x{2,4} = x x (x (x)?)? : nested optional copies, so the unrolling adds no ambiguity
            parts: list[compat.ShapeNode] = [node.body] * low
            tail: compat.ShapeNode | None = None
            for _ in range(high - low):
                inner = compat.Seq((node.body,) if tail is None else (node.body, tail))
                tail = compat.Loop(0, 1, inner)
            if tail is not None:
                parts.append(tail)
            return self.build(compat.Seq(tuple(parts)))
        n, f, lst = self.build(node.body)
        self.connect(lst, f)  # a new edge per loop: two loops over one position are two paths
        return n or low == 0, f, lst


def _sccs(nodes: list, successors: dict) -> list[list]:
    """Strongly connected components (iterative Tarjan)."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    result: list[list] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(successors.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(successors.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                result.append(component)
    return result


def _exponentially_ambiguous(auto: _Automaton) -> bool:
    # States are edges (an edge index stands for "at its target position, entered through it").
    by_source: dict[int, list[int]] = {}
    for i, (source, _) in enumerate(auto.edges):
        by_source.setdefault(source, []).append(i)
    succ = {i: by_source.get(target, []) for i, (_, target) in enumerate(auto.edges)}
    states = list(succ)
    for component in _sccs(states, succ):
        if len(component) < 2 and component[0] not in succ[component[0]]:
            continue
        members = set(component)
        label = {s: auto.masks[auto.edges[s][1]] for s in members}
        local = {s: [t for t in succ[s] if t in members] for s in members}
        pairs_succ: dict[tuple[int, int], list[tuple[int, int]]] = {}
        frontier = [(s, s) for s in members]
        seen = set(frontier)
        while frontier:
            a, b = frontier.pop()
            nxt = [
                (x, y)
                for x in local[a]
                for y in local[b]
                if label[x] & label[y] and (x <= y or a != b)  # diagonal pairs: each unordered once
            ]
            pairs_succ[(a, b)] = nxt
            for pair in nxt:
                if pair not in seen:
                    seen.add(pair)
                    frontier.append(pair)
        for product in _sccs(list(pairs_succ), pairs_succ):
            if any(a == b for a, b in product) and any(a != b for a, b in product):
                return True
    return False


def _strip(node: compat.ShapeNode) -> compat.ShapeNode:
    while isinstance(node, compat.Seq) and len(node.items) == 1:
        node = node.items[0]
    return node


def _has_variable_loop(node: compat.ShapeNode) -> bool:
    if isinstance(node, compat.Loop):
        return node.max_count != node.min_count or _has_variable_loop(node.body)
    if isinstance(node, compat.AnyText):
        return True
    if isinstance(node, compat.Seq):
        return any(_has_variable_loop(i) for i in node.items)
    if isinstance(node, compat.Alt):
        return any(_has_variable_loop(b) for b in node.branches)
    return False


def _overlapping_branches(body: compat.ShapeNode) -> bool:
    body = _strip(body)
    if not isinstance(body, compat.Alt):
        return False
    starts = []
    for branch in body.branches:
        auto = _Automaton(expand=False)
        nullable, first, _ = auto.build(branch)
        if nullable:
            return True  # an empty branch inside a loop
        mask = 0
        for p in first:
            mask |= auto.masks[p]
        starts.append(mask)
    return any(a & b for a, b in combinations(starts, 2))


def _loop_reason(node: compat.Loop) -> str | None:
    if _overlapping_branches(node.body):
        return OVERLAPPING
    for expand in (True, False):
        auto = _Automaton(expand)
        try:
            _, first, _ = auto.build(compat.Loop(1, None, node.body))
        except OverflowError:
            continue
        auto.connect([-1], first)
        if _exponentially_ambiguous(auto):
            return NESTED if _has_variable_loop(node.body) else OVERLAPPING
        return None
    return "too many alternatives and repeats to check for catastrophic backtracking"


def _loops(node: compat.ShapeNode) -> list[compat.Loop]:
    """Every loop in ``node``, innermost first (lookaround contents included)."""
    if isinstance(node, compat.Loop):
        return [*_loops(node.body), node]
    if isinstance(node, compat.Seq):
        return [loop for item in node.items for loop in _loops(item)]
    if isinstance(node, compat.Alt):
        return [loop for branch in node.branches for loop in _loops(branch)]
    if isinstance(node, compat.ZeroWidth) and node.inside is not None:
        return _loops(node.inside)
    return []


@lru_cache(maxsize=1024)
def check_pattern(source: str, flags: int = PRESIDIO_FLAGS) -> str | None:
    """Why ``source`` is refused (catastrophic backtracking), or ``None`` when it is accepted.

    A pattern the parser cannot read is left to the compile check (``None``).
    """
    try:
        tree = compat.parse_regex_shape(source, flags)
    except Exception:  # noqa: BLE001 - any parser failure is reported by the compile check
        return None
    for loop in _loops(tree):
        if loop.max_count is not None and loop.max_count <= EXPAND_LIMIT:
            continue  # bounded: at most polynomial, and checked inside any enclosing loop
        reason = _loop_reason(loop)
        if reason is not None:
            return reason
    return None
