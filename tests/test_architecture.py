"""The layout rules of DESIGN.md, checked on the source tree (no imports executed).

* no import cycles between redactline modules (imports inside functions count too);
* ``pipelines/`` never imports Starlette or uvicorn; ``policies/`` never imports Beam, httpx or
  enclave code; ``connectors/`` never imports enclave code; ``enclave_sink/server/`` never imports Beam;
* Presidio's private names and the ``regex`` module's private parser appear in one module only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"pipelines": "pipelines", "connectors": "connectors", "policies": "policies",
           "enclave_sink": "enclave_sink"}
COMPAT_MODULE = "redactline.policies.presidio_compat"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["redactline", *parts])


def _sources() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            out[_module_name(path)] = path
    return out


SOURCES = _sources()


def _imports(name: str, path: Path) -> set[str]:
    """Every redactline module (or package) ``name`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m in SOURCES and m != name}


def _external_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
            found.add(node.module)
    return found


GRAPH = {name: _imports(name, path) for name, path in SOURCES.items()}


def _strip_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its modules is not a cycle with them."""
    out: dict[str, set[str]] = {}
    for name, deps in graph.items():
        out[name] = {d for d in deps if not (SOURCES[d].name == "__init__.py" and name.startswith(d + "."))}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def test_no_import_cycles() -> None:
    assert _cycles(_strip_packages(GRAPH)) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


FORBIDDEN = [
    ("redactline.pipelines", {"starlette", "uvicorn"}),
    ("redactline.policies", {"apache_beam", "httpx", "redactline.enclave_sink", "redactline.connectors",
                             "redactline.pipelines"}),
    ("redactline.connectors", {"redactline.enclave_sink", "redactline.pipelines"}),
    ("redactline.enclave_sink.server", {"apache_beam", "redactline.pipelines"}),
]


@pytest.mark.parametrize(("prefix", "forbidden"), FORBIDDEN, ids=[p for p, _ in FORBIDDEN])
def test_folder_does_not_import(prefix: str, forbidden: set[str]) -> None:
    offenders = []
    for name, path in SOURCES.items():
        if name == prefix or name.startswith(prefix + "."):
            imported = _external_imports(path)
            bad = {m for m in imported if any(m == f or m.startswith(f + ".") for f in forbidden)}
            if bad:
                offenders.append(f"{name}: {sorted(bad)}")
    assert offenders == []


_PRIVATE = re.compile(
    r"_remove_allow_list|_PatternRecognizer__|_doc_to_nlp_artifact|_extract_surrounding_words"
    r"|_find_supportive_word_in_context|_get_updated_entities|_get_entities\b|_get_scores_for_entities"
    r"|_regex_core|_parse_pattern|_UnscopedFlagSet|sre_parse"
)


def test_presidio_private_names_in_one_module() -> None:
    users = sorted(name for name, path in SOURCES.items()
                   if _PRIVATE.search(path.read_text(encoding="utf-8")))
    assert users == [COMPAT_MODULE]
