"""Names and addresses in free text: a policy before and after the project's text recognizers.

Run: ``.venv/bin/python -m benchmarks.bench_freetext [--policy FILE] [--corpus FILE] [--count N]
[--seed S] [--limit N]``.

Without ``--corpus`` the texts come from ``benchmarks.gen_freetext`` (seeded, invented values).
Rows, in one process on the same texts:

* ``before``: the policy with every recognizer of ``policies.text_recognizers.TEXT_RECOGNIZERS``
  removed from ``detection.recognizers``;
* ``+NAME``: ``before`` plus that one recognizer (each addition's own effect);
* ``after``: the policy as written.

Columns: **span leak** (share of gold spans of which no character is covered by a finding: the value
survives verbatim), **char leak** (share of gold characters uncovered), **precision** (share of
findings overlapping some gold span, any type), **retention** (share of words outside every gold
span that no finding touches), and span leak per gold type for the largest types.
"""

from __future__ import annotations

import os

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

import argparse  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from redactline.policies import load_policy  # noqa: E402
from redactline.policies.evaluate import Document, Span, load_corpus  # noqa: E402
from redactline.policies.text_recognizers import TEXT_RECOGNIZERS  # noqa: E402

from .gen_freetext import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = ROOT / "policies" / "library" / "general-pii.yaml"
_WORD = re.compile(r"\w+")


@dataclass
class Score:
    spans: int = 0
    spans_leaked: int = 0
    chars: int = 0
    chars_leaked: int = 0
    findings: int = 0
    findings_true: int = 0
    words: int = 0
    words_kept: int = 0
    per_type: Counter = field(default_factory=Counter)
    per_type_leaked: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, doc: Document, found: list[tuple[int, int]]) -> None:
        covered: set[int] = set()
        for start, end in found:
            covered.update(range(start, end))
        gold: set[int] = set()
        for span in doc.spans:
            gold.update(range(span.start, span.end))
            self.spans += 1
            self.per_type[span.type] += 1
            if not any(i in covered for i in range(span.start, span.end)):
                self.spans_leaked += 1
                self.per_type_leaked[span.type] += 1
        self.chars += len(gold)
        self.chars_leaked += len(gold - covered)
        for start, end in found:
            self.findings += 1
            self.findings_true += any(s.start < end and start < s.end for s in doc.spans)
        for word in _WORD.finditer(doc.text):
            if any(i in gold for i in range(word.start(), word.end())):
                continue
            self.words += 1
            self.words_kept += not any(i in covered for i in range(word.start(), word.end()))


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _variant(document: dict, keep: set[str], directory: str, name: str) -> Path:
    """The policy with the text recognizers not in ``keep`` removed, written to ``directory``."""
    doc = yaml.safe_load(yaml.safe_dump(document))
    recognizers = doc["detection"].get("recognizers", [])
    doc["detection"]["recognizers"] = [
        r for r in recognizers if r.get("name") not in TEXT_RECOGNIZERS or r.get("name") in keep
    ]
    doc.pop("tests", None)
    path = Path(directory) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _run(policy: Path, docs: list[Document]) -> Score:
    engine = load_policy(policy).engine()
    engine.redact_text("warm up")
    score = Score()
    started = time.perf_counter()
    results = list(engine.redact_texts([d.text for d in docs], batch_size=128))
    score.seconds = time.perf_counter() - started
    for doc, result in zip(docs, results, strict=True):
        score.add(doc, [(f.start, f.end) for f in result.findings if not f.in_field_name])
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=str(DEFAULT_POLICY))
    parser.add_argument("--corpus", help="a JSONL corpus (default: benchmarks.gen_freetext's texts)")
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--no-each", action="store_true", help="only the before and after rows")
    args = parser.parse_args(argv)

    if args.corpus:
        docs = list(load_corpus(args.corpus, limit=args.limit))
        source = args.corpus
    else:
        generated = generate(args.count, args.seed)[: args.limit]
        docs = [
            Document(d["text"], tuple(Span(s["start"], s["end"], s["type"]) for s in d["spans"]))
            for d in generated
        ]
        source = f"gen_freetext --count {args.count} --seed {args.seed}"
    document = yaml.safe_load(Path(args.policy).read_text(encoding="utf-8"))
    present = [
        r["name"] for r in document["detection"].get("recognizers", []) if r.get("name") in TEXT_RECOGNIZERS
    ]
    print(f"policy {Path(args.policy).name} on {source}: {len(docs)} texts; text recognizers: {present}")
    rows: list[tuple[str, Score]] = []
    with tempfile.TemporaryDirectory() as directory:
        variants = [("before", set())]
        if not args.no_each:
            variants += [(f"+{name}", {name}) for name in present]
        variants.append(("after", set(present)))
        for label, keep in variants:
            rows.append((label, _run(_variant(document, keep, directory, label.strip("+")), docs)))

    print(f"{'row':34} {'span leak':>9} {'char leak':>9} {'precision':>9} {'retention':>9} {'seconds':>8}")
    for label, s in rows:
        print(
            f"{label:34} {_ratio(s.spans_leaked, s.spans):9.3f} {_ratio(s.chars_leaked, s.chars):9.3f} "
            f"{_ratio(s.findings_true, s.findings):9.3f} {_ratio(s.words_kept, s.words):9.3f} "
            f"{s.seconds:8.2f}"
        )
    before, after = rows[0][1], rows[-1][1]
    print("\nspan leak by gold type (before -> after)")
    for kind, total in after.per_type.most_common(10):
        print(
            f"  {kind:16} {total:6}  {_ratio(before.per_type_leaked[kind], total):.3f} -> "
            f"{_ratio(after.per_type_leaked[kind], total):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
