"""The one YAML loader for files users hand the project (policies, PCR policies): PyYAML's safe
loader with limits checked while the document is composed, before anything is built from it.

* nesting deeper than :data:`MAX_DEPTH` is refused (instead of a ``RecursionError`` later);
* at most :data:`MAX_ALIASES` aliases, and at most :data:`MAX_NODES` nodes once aliases are expanded
  (an alias "bomb" of nested anchors is refused at the alias that crosses the limit);
* an alias to a node that contains it (a recursive document) is refused;
* a key repeated in one mapping is refused, naming both lines (PyYAML would keep the last one).

Every refusal is a :class:`YamlLimitError`, a ``yaml.MarkedYAMLError`` whose mark is the offending
line and whose ``path`` is the key path to it, so callers that already report YAML errors keep working.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 250_000

PathPart = str | int


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML document refused by a limit; ``problem`` says which, ``path`` is the key path to it."""

    def __init__(self, problem: str, mark: Any, path: tuple[PathPart, ...]) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = path


class LimitedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with the limits of this module enforced while composing."""

    max_depth = MAX_DEPTH
    max_aliases = MAX_ALIASES
    max_nodes = MAX_NODES

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._path: list[PathPart] = []
        self._aliases = 0
        self._sizes: dict[int, int] = {}  # id(node) -> node count with aliases expanded

    def _refuse(self, problem: str, mark: Any) -> YamlLimitError:
        return YamlLimitError(problem, mark, tuple(self._path))

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > self.max_aliases:
                raise self._refuse(f"more than {self.max_aliases} aliases", event.start_mark)
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:  # the anchored node is still being composed
                raise self._refuse("an alias refers to a node that contains it", event.start_mark)
            return node
        event = self.peek_event()
        if len(self._path) >= self.max_depth:
            raise self._refuse(f"nested deeper than {self.max_depth} levels", event.start_mark)
        node = super().compose_node(parent, index)
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > self.max_nodes:
            problem = f"more than {self.max_nodes} nodes once aliases are expanded"
            raise self._refuse(problem, event.start_mark)
        self._sizes[id(node)] = size
        return node

    def compose_sequence_node(self, anchor: str | None) -> SequenceNode:
        # Same steps as PyYAML's, with the path kept for messages.
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start.implicit)
        node = SequenceNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        while not self.check_event(yaml.SequenceEndEvent):
            self._path.append(len(node.value))
            try:
                node.value.append(self.compose_node(node, len(node.value)))
            finally:
                self._path.pop()
        node.end_mark = self.get_event().end_mark
        return node

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        start = self.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start.implicit)
        node = MappingNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        seen: dict[tuple[str, str], int] = {}
        while not self.check_event(yaml.MappingEndEvent):
            self._path.append("<key>")
            try:
                key = self.compose_node(node, None)
            finally:
                self._path.pop()
            name: PathPart = key.value if isinstance(key, ScalarNode) else "<key>"
            if isinstance(key, ScalarNode):
                first = seen.get((key.tag, key.value))
                if first is not None:
                    self._path.append(key.value)
                    raise self._refuse(f"duplicate key {key.value!r} (first at line {first})", key.start_mark)
                seen[(key.tag, key.value)] = key.start_mark.line + 1
            self._path.append(name)
            try:
                value = self.compose_node(node, key)
            finally:
                self._path.pop()
            node.value.append((key, value))
        node.end_mark = self.get_event().end_mark
        return node


def compose_and_load(text: str | bytes) -> tuple[Node | None, Any]:
    """Compose ``text`` under the limits and build its data; the node tree keeps every line."""
    loader = LimitedSafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with this module's limits."""
    return compose_and_load(text)[1]
