"""False positives where they hurt: each ``detection.result_filters`` rule, alone and together.

Run: ``.venv/bin/python -m benchmarks.bench_fp [--docs 1500] [--seed 7] [--policy FILE] [--corpus FILE]``.

One engine (the policy's), its rule list swapped between rows (the engine reads it per text):
``none``, each rule alone, ``all`` (the policy's own list). Per row:

* on the dev corpus (``--corpus``, ``redactline eval``'s scoring): any-type precision, recall and
  character leak rate;
* on :mod:`benchmarks.gen_fp` data (seeded): per bait kind, how many are flagged (covered by a
  finding; a country code only counts when flagged as PERSON or ORGANIZATION: as a LOCATION it is
  what it is), phone numbers not delivered as exactly one ``PHONE_NUMBER`` finding, and the
  character leak of the real PII beside the bait.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""  # before presidio: no public-suffix download

from benchmarks.gen_fp import generate  # noqa: E402
from redactline.policies import load_policy  # noqa: E402
from redactline.policies.evaluate import EvalReport, Span, evaluate, score_document  # noqa: E402
from redactline.policies.result_filters import RULES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = ROOT / "policies" / "library" / "general-pii.yaml"
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev-text-42.jsonl"
NAME_TYPES = {"PERSON", "ORGANIZATION"}


def bait_counts(engine, records: list[dict]) -> tuple[Counter, Counter, EvalReport]:
    flagged: Counter = Counter()
    totals: Counter = Counter()
    report = EvalReport("gen_fp", "gen_fp")
    results = engine.redact_texts([r["text"] for r in records], batch_size=128)
    for record, result in zip(records, results, strict=True):
        findings = result.findings
        for bait in record["bait"]:
            kind = bait["kind"]
            totals[kind] += 1
            hits = [f for f in findings if f.start < bait["end"] and bait["start"] < f.end]
            if kind == "country_code":
                hits = [f for f in hits if f.entity_type in NAME_TYPES]
            flagged[kind] += bool(hits)
        for span in record["spans"]:
            if span["type"] != "PHONE_NUMBER":
                continue
            totals["phone"] += 1
            hits = [f for f in findings if f.start < span["end"] and span["start"] < f.end]
            whole = len(hits) == 1 and hits[0].entity_type == "PHONE_NUMBER"
            flagged["phone_not_one_finding"] += not whole
        gold = [Span(s["start"], s["end"], s["type"]) for s in record["spans"]]
        score_document(report, gold, [(f.start, f.end, f.entity_type) for f in findings])
    return flagged, totals, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    engine = load_policy(args.policy).engine()
    detection = engine.policy.document.detection
    own = list(detection.result_filters)
    records = list(generate(args.seed, args.docs))
    rows = [("none", [])] + [(name, [name]) for name in RULES] + [("all (policy)", own)]
    kinds = ["ticket_id", "country_code", "acronym", "product", "number", "relative_time"]
    header = (
        f"{'rules':<22}{'dev P':>7}{'dev R':>7}{'dev leak':>9} | "
        + "".join(f"{k[:12]:>13}" for k in kinds)
        + f"{'phone split':>12}{'gen leak':>9}"
    )
    print(f"dev corpus {args.corpus.name}; generated: {len(records)} docs (seed {args.seed})")
    print(header)
    try:
        for label, rules in rows:
            detection.result_filters = rules
            dev = evaluate(engine, args.corpus)
            flagged, totals, gen = bait_counts(engine, records)
            cells = "".join(f"{f'{flagged[k]}/{totals[k]}':>13}" for k in kinds)
            split = f"{flagged['phone_not_one_finding']}/{totals['phone']}"
            print(
                f"{label:<22}{dev.precision:>7.3f}{dev.recall:>7.3f}{dev.leak_rate:>9.4f} | "
                f"{cells}{split:>12}{gen.leak_rate:>9.4f}"
            )
    finally:
        detection.result_filters = own
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
