"""``build_backend``: the inference backend a :class:`~.config.ServiceConfig` names.

A module of its own because the in-process model backends (``embeddings``, ``llm``) import
:mod:`.backends` for :class:`~.backends.BackendError` and :func:`~.backends.files_digest`: choosing
among them from inside :mod:`.backends` would be an import cycle. Each heavy runtime (spaCy,
onnxruntime, llama.cpp) is imported only when its backend is chosen.
"""

from __future__ import annotations

from typing import Any

from .backends import InferenceBackend, OpenAICompatibleBackend, SpacyAnalysisBackend
from .embeddings_backend import OnnxEmbeddingsBackend
from .llm_backend import LlamaCppBackend


def build_backend(config: Any) -> InferenceBackend:
    """The backend named by ``config.backend`` (a :class:`~.config.ServiceConfig`)."""
    if config.backend == "spacy-analysis":
        return SpacyAnalysisBackend(config.spacy_model)
    if config.backend == "openai-compatible":
        return OpenAICompatibleBackend(config.openai)
    if config.backend == "embeddings":
        return OnnxEmbeddingsBackend(config.model_path, threads=config.threads)
    if config.backend == "llm":
        return LlamaCppBackend(config.model_path, threads=config.threads)
    raise ValueError(f"unknown backend {config.backend!r}")
