"""What an enclave task seals for a record, and how its result is re-identified.

An enclave destination whose policy names a task (see :mod:`redactline.enclave_sink.tasks`) runs through
the RunInference model handler of :mod:`.enclave_inference`, one call per batch of prepared records, for
the same reason as the external-LLM route (:mod:`redactline.pipelines.llm_stage`): the pseudonym vault
(``<PERSON_1>`` -> the original) lives in each record's :class:`~redactline.policies.exchange.Redacted`,
which refuses to be pickled, so redaction, sealing, sending and re-identification of a record happen
inside one ``run_inference`` call. The vault never crosses a step boundary and is never sealed to the
enclave: what is sealed is only the task's input rendered from the *redacted* record (:func:`task_input`:
the prompt, the fields to embed, the text to classify) and the task's wire form; :func:`reidentify` puts
the originals back into every string of a result.
"""

from __future__ import annotations

from typing import Any

from redactline.enclave_sink.tasks import CLASSIFY, EMBED, GENERATE, Task

PROMPT_ERROR = "prompt_error"  # the task's template needs a field the record lacks (as the LLM route)


def task_input(task: Task, record: dict[str, Any]) -> Any:
    """What is sealed for ``record`` (a redacted record) under ``task``; ``PromptError`` names the field."""
    from redactline.policies.prompts import render_prompt

    if task.kind == GENERATE:
        assert task.prompt is not None
        return render_prompt(task.prompt, record)
    if task.kind == EMBED:
        return {name: render_prompt("{" + name + "}", record) for name in task.fields}
    assert task.kind == CLASSIFY
    return render_prompt(task.prompt or "{record}", record)


def reidentify(value: Any, restore: Any) -> Any:
    """``value`` (a result) with every string's placeholders replaced from ``restore``'s vault."""
    if isinstance(value, str):
        return restore.reidentify(value)
    if isinstance(value, list):
        return [reidentify(v, restore) for v in value]
    if isinstance(value, dict):
        return {k: reidentify(v, restore) for k, v in value.items()}
    return value
