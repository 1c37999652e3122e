"""Run one batch's task on the backend: one model call for the whole batch, one result per record.

The client already rendered what each task needs (see :mod:`redactline.enclave_sink.tasks`), so the
records of a batch are:

* ``generate``: prompt strings -> ``backend.generate(prompts, max_tokens=...)`` ->
  ``{"text", "completion_tokens", "prompt_tokens"}`` per record;
* ``embed``: ``{field: text}`` objects -> every text of the batch in ONE ``backend.embed`` call ->
  ``{"embedding": {field: [floats]}}``;
* ``classify``: texts -> ``similarity``: one ``embed`` call for the texts and the label descriptions,
  the nearest description wins (``scores``: cosine per label); ``generation``: the LLM's
  ``score_labels`` when it has one (each label's probability as the whole answer), else one
  ``generate`` call asking for a label name -> ``{"label", "scores"}`` (``label`` null when the answer
  names none);
* ``analyze``: the records as sealed -> ``backend.infer(records)`` (the legacy backends).

Backends are duck-typed: a backend runs ``generate`` / ``embed`` when it has that method, ``analyze``
when it has ``infer``. :func:`supported_tasks` says which kinds a backend can run. Errors never quote a
record: :class:`TaskInputError` names the position and the expected shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tasks import ANALYZE, CLASSIFY, EMBED, GENERATE, GENERATION, SIMILARITY, Task
from .backends import BackendError

_CLASSIFY_PROMPT = (
    "Classify the text into exactly one of these labels.\n{labels}\n"
    "Answer with the label name only.\n\nText: {text}\nLabel:"
)


class TaskInputError(ValueError):
    """The batch's records do not have the shape its task needs (a client bug or a forged batch)."""


def supported_tasks(backend: Any) -> frozenset[str]:
    """Task kinds ``backend`` can run: its declared ``tasks`` that it has the method for, plus analyze."""
    declared = set(getattr(backend, "tasks", ()) or ())
    kinds: set[str] = set()
    if GENERATE in declared and hasattr(backend, "generate"):
        kinds.add(GENERATE)
    if EMBED in declared and hasattr(backend, "embed"):
        kinds.add(EMBED)
    if CLASSIFY in declared and (hasattr(backend, "embed") or hasattr(backend, "generate")):
        kinds.add(CLASSIFY)
    if hasattr(backend, "infer"):
        kinds.add(ANALYZE)
    return frozenset(kinds)


def unsupported_reason(backend: Any, task: Task) -> str | None:
    """Why ``backend`` cannot run ``task`` as specified (a classify method it lacks), else None."""
    if task.kind == CLASSIFY and task.method == SIMILARITY and not hasattr(backend, "embed"):
        return "classify by similarity needs an embeddings backend"
    if task.kind == CLASSIFY and task.method == GENERATION and not hasattr(backend, "generate"):
        return "classify by generation needs an LLM backend"
    return None


def run_task(backend: Any, task: Task, records: list[Any]) -> list[dict[str, Any]]:
    """The results of ``task`` over ``records``, in order (one model call per batch).

    Raises :class:`TaskInputError` for records of the wrong shape and :class:`BackendError` when the
    model call fails or answers with the wrong count.
    """
    if task.kind == ANALYZE:
        return list(backend.infer(records))
    if task.kind == GENERATE:
        return _generate(backend, task, _texts(records))
    if task.kind == EMBED:
        return _embed(backend, task, records)
    return _classify(backend, task, _texts(records))


def _texts(records: list[Any]) -> list[str]:
    for i, record in enumerate(records):
        if not isinstance(record, str):
            raise TaskInputError(f"record {i}: expected the rendered text (a string)")
    return records


def _call(what: str, fn: Any, *args: Any, expected: int, **kwargs: Any) -> list[Any]:
    try:
        out = list(fn(*args, **kwargs))
    except BackendError:
        raise
    except Exception as exc:  # the model runtime's own errors: their text may quote the input
        raise BackendError(f"model {what} failed: {type(exc).__name__}") from None
    if len(out) != expected:
        raise BackendError(f"model {what} returned {len(out)} results for {expected} inputs")
    return out


def _generate(backend: Any, task: Task, prompts: list[str]) -> list[dict[str, Any]]:
    if not prompts:
        return []
    generations = _call("generate", backend.generate, prompts, expected=len(prompts),
                        max_tokens=task.max_tokens)
    return [
        {"text": g.text, "completion_tokens": g.completion_tokens, "prompt_tokens": g.prompt_tokens}
        for g in generations
    ]


def _embed(backend: Any, task: Task, records: list[Any]) -> list[dict[str, Any]]:
    texts: list[str] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != set(task.fields):
            raise TaskInputError(f"record {i}: expected an object with exactly the task's fields")
        for name in task.fields:
            if not isinstance(record[name], str):
                raise TaskInputError(f"record {i}: field {name!r} must be text")
            texts.append(record[name])
    vectors = _call("embed", backend.embed, texts, expected=len(texts)) if texts else []
    out: list[dict[str, Any]] = []
    it = iter(vectors)
    for _ in records:
        out.append({"embedding": {name: [float(x) for x in next(it)] for name in task.fields}})
    return out


def _classify(backend: Any, task: Task, texts: list[str]) -> list[dict[str, Any]]:
    if not texts:
        return []
    names = [label.name for label in task.labels]
    if task.method == SIMILARITY:
        if not hasattr(backend, "embed"):
            raise TaskInputError("classify by similarity needs an embeddings backend")
        described = [f"{label.name}: {label.description}" for label in task.labels]
        vectors = _call("embed", backend.embed, described + texts, expected=len(described) + len(texts))
        anchors, items = vectors[: len(described)], vectors[len(described):]
        out = []
        for vector in items:
            scores = {name: round(_dot(vector, anchor), 6)
                      for name, anchor in zip(names, anchors, strict=True)}
            out.append({"label": max(names, key=lambda n: scores[n]), "scores": scores})
        return out
    assert task.method == GENERATION
    if not hasattr(backend, "generate"):
        raise TaskInputError("classify by generation needs an LLM backend")
    listing = "\n".join(f"- {label.name}: {label.description}" for label in task.labels)
    prompts = [_CLASSIFY_PROMPT.format(labels=listing, text=text) for text in texts]
    if hasattr(backend, "score_labels"):  # each label's probability as the whole answer: always a label
        scored = _call("score_labels", backend.score_labels, prompts, names, expected=len(prompts))
        out = []
        for probabilities in scored:
            scores = {name: round(float(probabilities[name]), 6) for name in names}
            out.append({"label": max(names, key=lambda n: scores[n]), "scores": scores})
        return out
    generations = _call("generate", backend.generate, prompts, expected=len(prompts),
                        max_tokens=task.max_tokens)
    return [_label_from_answer(g.text, names) for g in generations]


def _label_from_answer(answer: str, names: Sequence[str]) -> dict[str, Any]:
    """The label the answer names first (case-insensitive); scores 1 for it, 0 for the others."""
    lowered = answer.lower()
    found = [(lowered.find(name.lower()), -len(name), name) for name in names if name.lower() in lowered]
    label = min(found)[2] if found else None
    return {"label": label, "scores": {name: 1.0 if name == label else 0.0 for name in names}}


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise BackendError("model embed returned vectors of different sizes")
    return float(sum(x * y for x, y in zip(a, b, strict=True)))
