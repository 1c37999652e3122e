"""Dotted field paths (``customer.address.zip``) into nested records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``, or None when any step is missing or not a mapping."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
