"""LLM backend speed: load time, resident memory, decode tokens/s and prompts/s for ``generate``.

Run: ``.venv/bin/python -m benchmarks.bench_llm [--threads 2] [--omp-wait-policy passive|active|default]
[--prompts 8] [--max-tokens 48]``. The OpenMP wait policy is read once, when llama.cpp's libgomp
loads, so compare policies in separate runs; ``default`` leaves libgomp's own spin-then-sleep rule.

Each prompt is a one-sentence summary request over a ~100-character support ticket (distinct, so
nothing is cached). Decode speed is the generated tokens over the time after the prompt was
evaluated (a 1-token call on the same prompt measures prompt evaluation); prompts/s counts whole
``generate`` calls. The load average is printed beside the figures (the host's 2 cores are shared).
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.bench_embeddings import rss_mib, texts

PROMPT = "Summarize the following text in one sentence.\n\n{text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--omp-wait-policy", choices=("passive", "active", "default"), default="passive")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--model", help="GGUF file (default: the packaged SmolLM2-135M-Instruct)")
    args = parser.parse_args()
    # before the backend imports the binding; "" is libgomp's default (the backend keeps a set value)
    os.environ["OMP_WAIT_POLICY"] = "" if args.omp_wait_policy == "default" else args.omp_wait_policy.upper()
    from redactline.enclave_sink.server.llm_backend import LlamaCppBackend

    before = rss_mib()
    started = time.perf_counter()
    backend = LlamaCppBackend(args.model, threads=args.threads)
    load = time.perf_counter() - started
    after = rss_mib()
    prompts = [PROMPT.format(text=t) for t in texts(args.prompts)]
    backend.generate(prompts[:1], max_tokens=4)  # warm-up
    generated = 0
    decode_seconds = 0.0
    started_all = time.perf_counter()
    for prompt in prompts:
        t0 = time.perf_counter()
        backend.generate([prompt], max_tokens=1)
        t1 = time.perf_counter()
        result = backend.generate([prompt], max_tokens=args.max_tokens)[0]
        t2 = time.perf_counter()
        generated += result.completion_tokens - 1
        decode_seconds += max((t2 - t1) - (t1 - t0), 1e-9)
    whole = time.perf_counter() - started_all
    started_batch, cpu = time.perf_counter(), time.process_time()
    results = backend.generate(prompts, max_tokens=args.max_tokens)
    batch_seconds, cpu = time.perf_counter() - started_batch, time.process_time() - cpu
    tokens = sum(r.completion_tokens for r in results)
    print(f"model {backend.model_id} {backend.model_digest[:19]}... threads {backend.threads} "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY'] or '(default)'}")
    print(f"load {load:.2f} s (file read + parse {backend.load_seconds:.2f} s); RSS {before:.0f} MiB "
          f"before load, {after:.0f} MiB after")
    print(f"decode {generated / decode_seconds:.1f} tokens/s; generate: {len(prompts)} prompts, "
          f"{tokens} tokens in {batch_seconds:.2f} s = {len(prompts) / batch_seconds:.2f} prompts/s, "
          f"{tokens / batch_seconds:.1f} tokens/s with prompt evaluation, {cpu:.1f} CPU-s "
          f"(timing pass {whole:.1f} s); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"example: {results[0].text!r}")


if __name__ == "__main__":
    main()
