"""Checksum identifiers: how many valid ones survive redaction, how many near-misses are flagged.

Run: ``.venv/bin/python -m benchmarks.bench_identifiers [--docs 2000] [--seed 13] [--policy FILE]``.

Documents come from ``benchmarks.gen_identifiers`` (seeded). Two engines run in the same process on
the same documents:

* ``before``: the policy without its identifier section (``type: builtin`` entries removed, the
  Presidio recognizers that section switches off or on back to Presidio's defaults): what Presidio's
  recognizers alone find;
* ``after``: the policy as it is.

Per identifier kind: valid identifiers that survive verbatim (target 0). Per near-miss kind (invalid
checksums, card numbers in no issuer range, order and phone numbers, dates, amounts): how many are
flagged as an identifier (a finding of a type other than the generic ones below covers them: a false
positive) and, for information, how many were altered by any finding (spaCy's NER tags many bare
numbers as DATE, in both rows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import yaml

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""  # before presidio: no public-suffix download

from benchmarks.gen_identifiers import Doc, generate  # noqa: E402
from redactline.policies import load_policy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = ROOT / "policies" / "library" / "general-pii.yaml"
# Entity types that are not identifiers: a near-miss covered by one of these is not counted as an
# identifier false positive (a phone number found as PHONE_NUMBER is right).
GENERIC = {
    "PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME", "PHONE_NUMBER", "EMAIL_ADDRESS", "URL",
    "IP_ADDRESS", "STREET_ADDRESS", "ZIP_CODE", "TITLE", "AGE", "CARD_EXPIRY",
}  # fmt: skip
# Presidio recognizers the library's identifier section switches off (replaced by built-ins) or on.
IDENTIFIER_SECTION = {
    "CreditCardRecognizer", "IbanRecognizer", "UkNinoRecognizer", "SgFinRecognizer",
    "FiPersonalIdentityCodeRecognizer", "PlPeselRecognizer", "SePersonnummerRecognizer",
}  # fmt: skip


def policy_without_builtins(path: Path, out_dir: Path) -> Path:
    """A copy of the policy without its identifier section: no ``type: builtin`` recognizers, and
    Presidio's recognizers named in ``IDENTIFIER_SECTION`` back to Presidio's defaults."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    recognizers = data.get("detection", {}).get("recognizers", [])
    replaced = [r for r in recognizers if r.get("type") == "predefined" and r["name"] in IDENTIFIER_SECTION]
    data["detection"]["recognizers"] = [
        r for r in recognizers if r.get("type") != "builtin" and r not in replaced
    ]
    data["tests"] = []  # the policy's own tests expect the built-ins
    target = out_dir / f"{path.stem}-without-builtins.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def family(kind: str) -> str:
    """The reporting row: each card network, IBAN as one row, each national identifier."""
    return "iban (all countries)" if kind.startswith("iban:") else kind


def measure(engine, docs: list[Doc]) -> tuple[Counter, Counter, Counter, defaultdict]:
    leaked: Counter = Counter()
    flagged: Counter = Counter()
    altered: Counter = Counter()
    leaked_values: defaultdict = defaultdict(list)
    results = list(engine.redact_texts([doc.text for doc in docs]))
    for doc, result in zip(docs, results, strict=True):
        for item in doc.valid:
            if item["value"] in result.text:
                leaked[family(item["kind"])] += 1
                leaked_values[family(item["kind"])].append(item["kind"] + " " + item["value"])
        for item in doc.near:
            start = doc.text.find(item["value"])
            end = start + len(item["value"])
            covering = [f for f in result.findings if f.start < end and f.end > start]
            if any(f.entity_type not in GENERIC for f in covering):
                flagged[item["kind"]] += 1
            if item["value"] not in result.text:
                altered[item["kind"]] += 1
    return leaked, flagged, altered, leaked_values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--show-leaks", type=int, default=0, help="print up to N leaked values per kind")
    args = parser.parse_args(argv)

    docs = list(generate(args.seed, args.docs))
    valid = Counter(family(item["kind"]) for doc in docs for item in doc.valid)
    near = Counter(item["kind"] for doc in docs for item in doc.near)
    with tempfile.TemporaryDirectory() as tmp:
        before_path = policy_without_builtins(args.policy, Path(tmp))
        before = measure(load_policy(before_path, environ={}).engine(), docs)
    after = measure(load_policy(args.policy, environ={}).engine(), docs)

    print(f"policy {args.policy.name}, {len(docs)} documents (seed {args.seed}), "
          f"{sum(valid.values())} valid identifiers, {sum(near.values())} near-misses")
    print(f"\n{'valid identifiers':28} {'n':>5} {'leaked before':>14} {'leaked after':>13}")
    for kind in sorted(valid):
        print(f"{kind:28} {valid[kind]:5d} {before[0][kind]:14d} {after[0][kind]:13d}")
    print(f"{'total':28} {sum(valid.values()):5d} {sum(before[0].values()):14d} {sum(after[0].values()):13d}")
    print(f"\n{'near-misses':28} {'n':>5} {'flagged as id before':>21} {'after':>6} {'altered before':>15} "
          f"{'after':>6}")
    for kind in sorted(near):
        print(f"{kind:28} {near[kind]:5d} {before[1][kind]:21d} {after[1][kind]:6d} {before[2][kind]:15d} "
              f"{after[2][kind]:6d}")
    print(f"{'total':28} {sum(near.values()):5d} {sum(before[1].values()):21d} {sum(after[1].values()):6d} "
          f"{sum(before[2].values()):15d} {sum(after[2].values()):6d}")
    if args.show_leaks:
        for kind, values in sorted(after[3].items()):
            print(f"\nleaked after, {kind}:", *values[: args.show_leaks], sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
