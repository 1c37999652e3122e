"""``policy validate --sample FILE``: field paths a policy names that a sample of the data lacks.

A typo in ``transforms.fields`` (``custmer_name: pseudonym``) validates, and the column it meant is then
only inspected as free text. Against a sample file the paths are checked: every rule path (and
``subject_field``) must name a field of the sample, in the engine's path syntax (``a.b``,
``items[*].name``). The sample's schema is read from a CSV header, a Parquet schema, or the keys of
up to :data:`MAX_RECORDS` JSON Lines records. Only names are read into the report, never a value.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .loader import Issue, SourceFile

#: JSON Lines records read for their keys.
MAX_RECORDS = 1000


class SampleError(ValueError):
    """The sample file cannot be read (named with the reason, never with its content)."""


def sample_paths(path: Path) -> set[str]:
    """Every field path of the sample (parents included: ``a`` and ``a.b``)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                return set(next(csv.reader(handle), []))
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            out: set[str] = set()
            for arrow_field in pq.read_schema(path):
                _arrow_paths(arrow_field, arrow_field.name, out)
            return out
        return _jsonl_paths(path)
    except SampleError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SampleError(f"{path}: cannot read the sample ({type(exc).__name__})") from None


def _jsonl_paths(path: Path) -> set[str]:
    out: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if number > MAX_RECORDS:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise SampleError(f"{path}:{number}: not a JSON object") from None
            if isinstance(record, dict):
                _record_paths(record, "", out)
    return out


def _record_paths(value: Any, prefix: str, out: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.add(path)
            _record_paths(item, path, out)
    elif isinstance(value, list):
        out.add(f"{prefix}[*]")
        for item in value:
            _record_paths(item, f"{prefix}[*]", out)


def _arrow_paths(arrow_field: Any, path: str, out: set[str]) -> None:
    import pyarrow as pa

    out.add(path)
    kind = arrow_field.type
    if pa.types.is_struct(kind):
        for index in range(kind.num_fields):
            child = kind.field(index)
            _arrow_paths(child, f"{path}.{child.name}", out)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        _arrow_paths(kind.value_field, f"{path}[*]", out)


def missing_field_issues(
    document: Any, sources: list[SourceFile], paths: set[str], sample: Path
) -> list[Issue]:
    """One issue per rule path (and ``subject_field``) absent from ``paths``, at the line that names it."""
    transforms = document.transforms
    named: list[tuple[tuple[str, ...], str]] = [(("transforms", "fields", p), p) for p in transforms.fields]
    if transforms.subject_field:
        named.append((("transforms", "subject_field"), transforms.subject_field))
    issues = []
    for loc, field_path in named:
        if field_path in paths:
            continue
        file, line = _where(sources, loc)
        where = ".".join(loc)
        hint = _nearest(field_path, paths)
        message = f"no field {field_path!r} in the sample {sample.name} ({hint})"
        issues.append(Issue(file, line, where, message))
    return issues


def _where(sources: Iterable[SourceFile], loc: tuple[str, ...]) -> tuple[str, int | None]:
    """The file (the last of the extends chain that writes ``loc``) and line naming it."""
    for source in reversed(list(sources)):
        if loc[-1] in _section(source.data, loc[:-1]):
            return str(source.path), source.line_of(loc)
    last = list(sources)[-1]
    return str(last.path), last.line_of(loc)


def _section(data: Any, loc: tuple[str, ...]) -> Any:
    for part in loc:
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data if isinstance(data, dict) else {}


# Only identifier-like names are ever suggested: a field name can itself hold PII (an e-mail as a key).
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_]\w{0,63}(?:(?:\.|\[\*\]\.?)[A-Za-z_]\w{0,63})*(?:\[\*\])?")


def _nearest(path: str, paths: set[str]) -> str:
    """A hint naming the closest field of the sample (names only), or how many fields it has."""
    import difflib

    names = sorted(p for p in paths if _IDENTIFIER_PATH.fullmatch(p))
    close = difflib.get_close_matches(path, names, n=1, cutoff=0.7)
    return f"did you mean {close[0]!r}?" if close else f"the sample has {len(paths)} field path(s)"
