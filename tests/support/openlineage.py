"""OpenLineage events checked against the spec's JSON schemas, offline (``tests/vectors/openlineage/``).

``validate_event(event)`` checks a RunEvent (parsed JSON) against ``OpenLineage.json#/$defs/RunEvent``
and every facet in it against the schema its own ``_schemaURL`` points at; a facet without
``_producer``/``_schemaURL``, or naming a schema not stored here, fails. ``read_events(path)`` parses a
file written by the file transport (one event per line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "vectors" / "openlineage"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.rglob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


REGISTRY = _registry()
FORMATS = FormatChecker()


@FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    """RFC 3986 absolute URI (jsonschema checks "uri" only with an optional package installed)."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and " " not in value


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=REGISTRY, format_checker=FORMATS)


def facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every facet of the event, with where it is (``run.facets.errorMessage``...)."""
    for key in ("run", "job"):
        for name, facet in (event.get(key, {}).get("facets") or {}).items():
            yield f"{key}.facets.{name}", facet
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, dataset in enumerate(event.get(side) or []):
            for group in ("facets", extra):
                for name, facet in (dataset.get(group) or {}).items():
                    yield f"{side}[{i}].{group}.{name}", facet


def validate_event(event: dict[str, Any]) -> list[str]:
    """Every schema error of ``event`` (empty: valid), each naming where it is."""
    errors = [f"event: {e.json_path}: {e.message}" for e in _validator(RUN_EVENT).iter_errors(event)]
    known = {str(uri) for uri in REGISTRY}
    for where, facet in facets(event):
        url = facet.get("_schemaURL")
        if "_producer" not in facet or not url:
            errors.append(f"{where}: no _producer or _schemaURL")
            continue
        if url.partition("#")[0] not in known:
            errors.append(f"{where}: schema {url} is not stored in {SCHEMAS}")
            continue
        errors.extend(f"{where}: {e.json_path}: {e.message}" for e in _validator(url).iter_errors(facet))
    return errors


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events a file transport appended to ``path``, one JSON document per line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
