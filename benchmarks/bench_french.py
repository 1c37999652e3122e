"""French text through the ``fr`` route: general-pii (English only) vs general-pii-fr (en + fr).

Run: ``.venv/bin/python -m benchmarks.bench_french [--count 200] [--seed 33] [--english 200]``.

Rows, same scoring as :mod:`benchmarks.bench_freetext` (span leak, char leak, precision, non-PII word
retention): the :mod:`benchmarks.gen_french` texts under each policy, and ``--english`` texts of
:mod:`benchmarks.gen_freetext` under each policy (the French route must not change English results
much: those texts are still read by the English model).
"""

from __future__ import annotations

import os

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

from redactline.policies.evaluate import Document, Span  # noqa: E402

from . import gen_freetext, gen_french  # noqa: E402
from .bench_freetext import Score, _ratio, _run  # noqa: E402

LIBRARY = Path(__file__).resolve().parent.parent / "policies" / "library"


def _docs(generated: list[dict]) -> list[Document]:
    return [Document(d["text"], tuple(Span(s["start"], s["end"], s["type"]) for s in d["spans"]))
            for d in generated]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=33)
    parser.add_argument("--english", type=int, default=200)
    args = parser.parse_args(argv)
    sets = {
        f"gen_french {args.count}": _docs(gen_french.generate(args.count, args.seed)),
        f"gen_freetext {args.english}": _docs(gen_freetext.generate(args.english, 13)),
    }
    rows: list[tuple[str, Score]] = []
    for name in ("general-pii", "general-pii-fr"):
        for label, docs in sets.items():
            rows.append((f"{name} on {label}", _run(LIBRARY / f"{name}.yaml", docs)))
    print(f"{'row':40} {'span leak':>9} {'char leak':>9} {'precision':>9} {'retention':>9}")
    for label, s in rows:
        print(f"{label:40} {_ratio(s.spans_leaked, s.spans):9.3f} {_ratio(s.chars_leaked, s.chars):9.3f} "
              f"{_ratio(s.findings_true, s.findings):9.3f} {_ratio(s.words_kept, s.words):9.3f}")
    print("\nspan leak by gold type on the French texts (general-pii -> general-pii-fr)")
    before, after = rows[0][1], rows[2][1]
    for kind, total in after.per_type.most_common():
        print(f"  {kind:16} {total:6}  {_ratio(before.per_type_leaked[kind], total):.3f} -> "
              f"{_ratio(after.per_type_leaked[kind], total):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
