"""Enclave tasks: the spec, the service's allowed_tasks, the task runner, batches in flight.

The model backend here is a tiny deterministic one defined below (``EchoBackend``): what is under test
is the task layer (parsing, sealing the task, the service's refusal, one model call per batch, result
shapes, ordering), not a model. The real model backends have their own tests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import AttestationRejected, BatchFailed, EnclaveClient, RetryPolicy
from redactline.enclave_sink.inflight import InFlight
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.enclave_sink.server.task_runner import (
    TaskInputError,
    run_task,
    supported_tasks,
    unsupported_reason,
)
from redactline.enclave_sink.tasks import TaskError, parse_task

POLICY = "ab" * 32
REGION = "eu-west-1"


@dataclass(frozen=True)
class Gen:
    text: str
    prompt_tokens: int
    completion_tokens: int


class EchoBackend:
    """Deterministic stand-in: ``generate`` echoes the prompt, ``embed`` maps words onto 3 axes."""

    name = "echo"
    model_id = "echo-1"
    model_digest = "sha256:" + "00" * 32
    tasks = frozenset({"generate", "embed", "classify"})
    AXES = ("billing", "login", "shipping")

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def generate(self, prompts: list[str], *, max_tokens: int) -> list[Gen]:
        self.calls.append(("generate", len(prompts)))
        return [Gen(f"echo: {p}", len(p.split()), min(max_tokens, len(p.split()) + 1)) for p in prompts]

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("embed", len(texts)))
        out = []
        for text in texts:
            vec = [float(text.lower().count(axis)) + 0.01 for axis in self.AXES]
            norm = sum(x * x for x in vec) ** 0.5
            out.append([x / norm for x in vec])
        return out


# --- the spec ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ("generate", "task: must be an object"),
    ({"kind": "translate"}, "task.kind: must be one of"),
    ({"kind": "generate", "max_tokens": 0}, "task.max_tokens: must be an integer from 1 to 4096"),
    ({"kind": "generate", "max_tokens": True}, "task.max_tokens"),
    ({"kind": "embed"}, "task.fields: must be a non-empty list"),
    ({"kind": "embed", "fields": ["notes", "notes"]}, "task.fields[1]: 'notes' is listed twice"),
    ({"kind": "embed", "fields": ["a[0]"]}, "task.fields[0]: must be a dotted field path"),
    ({"kind": "embed", "fields": ["notes"], "max_tokens": 5},
     "task: max_tokens not meaningful for kind embed"),
    ({"kind": "classify", "labels": [{"name": "a", "description": "x"}]}, "task.labels: must be a list of 2"),
    ({"kind": "classify", "labels": [{"name": "a", "description": "x"}, {"name": "b"}]},
     "task.labels[1].description: must be a non-empty string"),
    ({"kind": "classify", "method": "vote", "labels": [{"name": "a", "description": "x"},
                                                        {"name": "b", "description": "y"}]},
     "task.method: must be one of similarity, generation"),
])
def test_task_spec_errors_name_the_field(spec, message):
    with pytest.raises(TaskError) as err:
        parse_task(spec)
    assert message in str(err.value)


def test_wire_form_leaves_the_template_on_the_client_and_round_trips():
    task = parse_task({"kind": "generate", "prompt": "Summarise: {notes}", "max_tokens": 12})
    assert task.wire() == {"kind": "generate", "max_tokens": 12}
    assert task.canonical() == {"kind": "generate", "max_tokens": 12, "prompt": "Summarise: {notes}"}
    assert parse_task(task.wire()).wire() == task.wire()
    classify = parse_task({"kind": "classify", "method": "generation",
                           "labels": [{"name": "a", "description": "x"}, {"name": "b", "description": "y"}]})
    assert classify.wire()["max_tokens"] == 8  # a label name, not an essay


def test_policy_task_is_enclave_only_and_checked():
    from pydantic import ValidationError

    from redactline.policies.destinations import DestinationConfig

    plain = DestinationConfig(kind="enclave", region="eu-central-1", url="http://127.0.0.1:1")
    assert "task" not in plain.model_dump()  # canonical form (policy hash) unchanged without a task
    task = {"kind": "generate", "prompt": "Summarise {notes}"}
    assert DestinationConfig(kind="enclave", region="eu-central-1", task=task).model_dump()["task"] == task
    for bad, message in (({"kind": "generate"}, "prompt: required"),
                         ({"kind": "generate", "prompt": "{notes"}, "unclosed '{'"),
                         ({"kind": "embed", "fields": ["x"], "labels": []}, "labels")):
        with pytest.raises(ValidationError, match=message):
            DestinationConfig(kind="enclave", region="eu-central-1", task=bad)
    with pytest.raises(ValidationError, match="task: only meaningful for kind enclave"):
        DestinationConfig(kind="external_api", region="eu-central-1", provider="openai", model="m",
                          url="https://api.example.com", prompt={"template": "{record}"}, task=task)


# --- the task runner (one model call per batch, result shapes) ---------------------------------------


def test_runner_makes_one_model_call_per_batch_with_results_in_order():
    backend = EchoBackend()
    gen = run_task(backend, parse_task({"kind": "generate", "max_tokens": 4}), ["one two", "three"])
    assert [g["text"] for g in gen] == ["echo: one two", "echo: three"]
    assert [g["completion_tokens"] for g in gen] == [3, 2]
    emb = run_task(backend, parse_task({"kind": "embed", "fields": ["a", "b"]}),
                   [{"a": "billing", "b": "login"}, {"a": "shipping", "b": "billing"}])
    assert set(emb[0]["embedding"]) == {"a", "b"} and len(emb[1]["embedding"]["b"]) == 3
    labels = [{"name": n, "description": f"a {n} problem"} for n in EchoBackend.AXES]
    cls = run_task(backend, parse_task({"kind": "classify", "labels": labels}),
                   ["my login fails", "where is my shipping", "billing twice"])
    assert [c["label"] for c in cls] == ["login", "shipping", "billing"]
    assert set(cls[0]["scores"]) == set(EchoBackend.AXES)
    assert backend.calls == [("generate", 2), ("embed", 4), ("embed", 6)]  # labels and texts in one call
    with pytest.raises(TaskInputError, match="record 1: expected the rendered text"):
        run_task(backend, parse_task({"kind": "generate"}), ["ok", {"not": "text"}])
    assert supported_tasks(backend) == {"generate", "embed", "classify"}


def test_a_classify_method_the_backend_lacks_is_named():
    class EmbedOnly:
        tasks = frozenset({"embed", "classify"})

        def embed(self, texts: list[str]) -> list[list[float]]:
            return [[1.0] for _ in texts]

    labels = [{"name": "a", "description": "x"}, {"name": "b", "description": "y"}]
    by_generation = parse_task({"kind": "classify", "method": "generation", "labels": labels})
    assert unsupported_reason(EmbedOnly(), by_generation) == "classify by generation needs an LLM backend"
    assert unsupported_reason(EmbedOnly(), parse_task({"kind": "classify", "labels": labels})) is None
    assert supported_tasks(EmbedOnly()) == {"embed", "classify"}  # no infer: no analyze


# --- the service: allowed_tasks attested, other tasks refused ----------------------------------------


def test_service_refuses_a_task_outside_its_allowed_tasks():
    with pytest.raises(ValueError, match="not supported by backend 'echo'"):
        build_service(ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}),
                                    allowed_tasks=frozenset({"analyze"})),
                      provider=SimulatedNitroProvider(), backend=EchoBackend())
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}),
                           allowed_tasks=frozenset({"embed"}))
    provider = SimulatedNitroProvider()
    service = build_service(config, provider=provider, backend=EchoBackend())
    assert service.attested_config["allowed_tasks"] == ["embed"]
    root = provider.simulator.unsafe_trust_root()
    retry = RetryPolicy(attempts=1)
    with ServiceThread(service) as thread:
        # a client that names its task refuses the enclave at attestation: nothing is sent
        pinned = EnclaveClient(thread.base_url, NitroAttestationVerifier(root=root), task_kind="generate")
        with pinned, pytest.raises(AttestationRejected, match="does not run task 'generate'"):
            pinned.attest()
        with EnclaveClient(thread.base_url, NitroAttestationVerifier(root=root), retry=retry) as client:
            embedded = client.send([{"notes": "billing"}], policy_hash=POLICY, region=REGION, batch_id="b1",
                                   task={"kind": "embed", "fields": ["notes"]})
            assert len(embedded[0]["embedding"]["notes"]) == 3
            # the task travels sealed: the service reads it from the authenticated payload and refuses it
            with pytest.raises(BatchFailed) as err:
                client.send(["a prompt"], policy_hash=POLICY, region=REGION, batch_id="b2",
                            task={"kind": "generate", "max_tokens": 4})
            assert err.value.reason == "enclave_refused" and "task-not-allowed" in err.value.detail
            labels = [{"name": "a", "description": "x"}, {"name": "b", "description": "y"}]
            with pytest.raises(BatchFailed, match="task-not-allowed"):  # embed is allowed, classify is not
                client.send(["x"], policy_hash=POLICY, region=REGION, batch_id="b4",
                            task={"kind": "classify", "labels": labels})
            with pytest.raises(BatchFailed, match="bad-task"):
                client.send(["x"], policy_hash=POLICY, region=REGION, batch_id="b3", task={"kind": "nope"})


# --- batches in flight ---------------------------------------------------------------------------------


def test_in_flight_keeps_order_and_loses_nothing_with_several_batches_at_once():
    flight: InFlight[int] = InFlight(3)
    active, peak, lock = [0], [0], threading.Lock()

    def work(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02 * ((7 * i) % 5))  # later batches often finish first
        with lock:
            active[0] -= 1
        if i == 4:
            raise RuntimeError("batch 4 failed")
        return i * 10

    out: list[tuple[int, object]] = []
    try:
        for i in range(12):
            flight.submit(i, work, i)
            assert len(flight) <= 3
            out += [(tag, f.exception() or f.result()) for tag, f in flight.ready()]
        out += [(tag, f.exception() or f.result()) for tag, f in flight.drain()]
    finally:
        flight.close()
    assert [tag for tag, _ in out] == list(range(12))  # input order, each once
    assert isinstance(out[4][1], RuntimeError) and [v for t, v in out if t != 4] == [
        t * 10 for t in range(12) if t != 4]
    assert peak[0] > 1  # really concurrent, and bounded
    assert peak[0] <= 3
