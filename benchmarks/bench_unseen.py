"""Redaction on data written apart from the recognizers (``benchmarks.gen_unseen``): the issue-13 targets.

Run: ``.venv/bin/python -m benchmarks.bench_unseen [--policy FILE] [--texts 550] [--ids 1500]
[--rows 300] [--seed 2026] [--show N] [--skip-run]``.

Three parts, each on freshly generated, seeded data:

1. **free text** (``gen_unseen text``): span leak (gold spans with no character covered by a finding),
   character leak, precision, non-PII word retention, span leak per gold type (targets: span leak
   <= 0.05 at retention >= 0.92);
2. **checksum identifiers** (``gen_unseen ids``): valid cards of every issuer range and length, IBANs
   of many countries in print and electronic form, SSNs with and without hyphens; a value that
   appears verbatim in the redacted text leaked (target: 0);
3. **profiled columns** (``gen_unseen tickets``): ``redactline run`` (profiling on, the default) on a
   support-ticket CSV whose header names vary; per PII column, rows whose value (a name also by each
   part) appears in that column of the delivered records (target: 0); and, for information, planted
   names and towns surviving in the free-text notes column.
"""

from __future__ import annotations

import os

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from redactline.policies import load_policy  # noqa: E402
from redactline.policies.evaluate import Document, Span  # noqa: E402

from .bench_freetext import Score, _ratio  # noqa: E402
from .gen_unseen import HEADERS, PII_FIELDS, generate_ids, generate_text, write_tickets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = ROOT / "policies" / "library" / "general-pii.yaml"


def free_text(engine, count: int, seed: int, show: int) -> Score:
    generated = generate_text(count, seed)
    docs = [
        Document(d["text"], tuple(Span(s["start"], s["end"], s["type"]) for s in d["spans"]))
        for d in generated
    ]
    score = Score()
    shown: Counter = Counter()
    for doc, result in zip(docs, engine.redact_texts([d.text for d in docs], batch_size=128), strict=True):
        found = [(f.start, f.end) for f in result.findings if not f.in_field_name]
        score.add(doc, found)
        if show:
            covered = {i for s, e in found for i in range(s, e)}
            for span in doc.spans:
                if shown[span.type] < show and not covered & set(range(span.start, span.end)):
                    shown[span.type] += 1
                    print(
                        f"  leak {span.type}: {doc.text[span.start : span.end]!r} in "
                        f"{doc.text[max(0, span.start - 40) : span.end + 30]!r}"
                    )
    return score


def identifiers(engine, count: int, seed: int, show: int) -> tuple[Counter, Counter]:
    docs = generate_ids(count, seed)
    total: Counter = Counter()
    leaked: Counter = Counter()
    for doc, result in zip(docs, engine.redact_texts([d["text"] for d in docs], batch_size=128), strict=True):
        for item in doc["ids"]:
            family = "iban" if item["kind"].startswith("iban:") else item["kind"]
            total[family] += 1
            if item["value"] in result.text:
                leaked[family] += 1
                if show and leaked[family] <= show:
                    print(f"  leak {item['kind']}: {doc['text']!r} -> {result.text!r}")
    return total, leaked


def tickets(policy: Path, rows: int, seed: int, show: int) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Per PII column (generic key): (rows with a value, rows delivered with it in clear); and the
    notes' planted values (total, surviving)."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        source = base / "tickets.csv"
        header, data, notes = write_tickets(source, rows, seed)
        sink = base / "out" / "tickets.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "redactline.pipelines.run",
                "--policy",
                str(policy),
                "--source",
                str(source),
                "--sink",
                str(sink),
                "--quiet",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        delivered = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    names = dict(zip(HEADERS, header, strict=True))
    out: dict[str, tuple[int, int]] = {}
    for key in PII_FIELDS:
        column = names[key]
        text = "\n".join(str(r.get(column, "")) for r in delivered)
        n = bad = 0
        for row in data:
            value = row[column]
            if not value:
                continue
            n += 1
            probes = [value]
            if key == "name":
                probes += [p for p in value.replace(",", " ").split() if len(p.rstrip(".")) > 2]
            hit = [p for p in probes if p in text]
            if hit:
                bad += 1
                if show and bad <= show:
                    print(f"  clear {column}: {value!r}")
        out[key] = (n, bad)
    notes_text = "\n".join(str(r.get(names["notes"], "")) for r in delivered)
    planted = [v for row in notes for v in row["values"]]
    survived = sum(1 for v in planted if v in notes_text)
    return out, len(planted), survived


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--texts", type=int, default=550)
    parser.add_argument("--ids", type=int, default=1500)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--show", type=int, default=0, help="print up to N leaked values per type")
    parser.add_argument("--skip-run", action="store_true", help="skip the tickets run (part 3)")
    args = parser.parse_args(argv)

    engine = load_policy(args.policy, environ={}).engine()
    engine.redact_text("warm up")
    s = free_text(engine, args.texts, args.seed, args.show)
    print(f"policy {args.policy.name}, seed {args.seed}")
    print(
        f"\n1. free text ({args.texts} texts, {s.spans} gold spans): span leak "
        f"{_ratio(s.spans_leaked, s.spans):.3f}, char leak {_ratio(s.chars_leaked, s.chars):.3f}, "
        f"precision {_ratio(s.findings_true, s.findings):.3f}, retention {_ratio(s.words_kept, s.words):.3f}"
    )
    for kind, total in s.per_type.most_common():
        print(f"   {kind:16} {total:5}  span leak {_ratio(s.per_type_leaked[kind], total):.3f}")

    total, leaked = identifiers(engine, args.ids, args.seed, args.show)
    print(f"\n2. checksum identifiers ({sum(total.values())}): leaked {sum(leaked.values())} (target 0)")
    for kind in sorted(total):
        print(f"   {kind:16} {total[kind]:5}  leaked {leaked[kind]}")

    if not args.skip_run:
        columns, planted, survived = tickets(args.policy, args.rows, args.seed, args.show)
        clear = sum(bad for _, bad in columns.values())
        print(
            f"\n3. tickets CSV ({args.rows} rows, redactline run, profiling on): PII values of profiled "
            f"columns delivered in clear: {clear} (target 0)"
        )
        for key, (n, bad) in columns.items():
            print(f"   {key:16} {n:5}  in clear {bad}")
        print(f"   notes (free text): planted names/towns {planted}, surviving {survived}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
