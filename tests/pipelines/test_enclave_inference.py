"""The enclave stage is Beam's RunInference with :class:`EnclaveModelHandler`, against a real simulated
enclave service on 127.0.0.1: the graph, Beam's inference metrics, a failed sub-batch quarantining only
its own records, and an unexpected error going through Beam's failure output to the quarantine."""

from __future__ import annotations

import functools

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RunInference
from apache_beam.testing.util import assert_that

from redactline.connectors.records import RecordMeta
from redactline.enclave_sink import sink
from redactline.enclave_sink.client import EnclaveTrust, RetryPolicy
from redactline.enclave_sink.server.backends import BackendError
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.enclave_sink.tasks import parse_task
from redactline.pipelines.destinations.base import JobContext
from redactline.pipelines.destinations.enclave import _EnclaveStage, _TaskStage
from redactline.pipelines.destinations.enclave_inference import (
    ENCLAVE_ERROR,
    NAMESPACE,
    EnclaveInference,
    EnclaveModelHandler,
)
from redactline.pipelines.redact import Redacted

POLICY = "ab" * 32
REGION = "eu-central-1"


class KeysBackend:
    """A tiny model: the sorted field names of each record; a batch holding ``fail`` gets a 502."""

    name, model_id, model_digest = "keys", "keys-1", "sha256:" + "11" * 32

    def infer(self, records):
        if any(r.get("fail") for r in records):
            raise BackendError("injected model failure")
        return [{"keys": sorted(r)} for r in records]


def _no_engine():
    raise AssertionError("the plain route's elements are already redacted")


def job() -> JobContext:
    return JobContext(run_id="run-1", policy_path="p.yaml", policy_sha256=POLICY, lineage={"run_id": "run-1"},
                      residency=None, engine_factory=_no_engine, batch_size=8)


def target(url: str, provider: SimulatedNitroProvider) -> sink.EnclaveDestination:
    trust = EnclaveTrust(root_pem=provider.simulator.root_pem, allow_unsafe_root=True)
    return sink.EnclaveDestination(url=url, trust=trust, region=REGION, policy_sha256=POLICY,
                                   retry=RetryPolicy(attempts=1, timeout=5), max_batch_records=2,
                                   max_in_flight=3)


def item(i: int, **extra) -> Redacted:
    return Redacted({"text": f"<NAME> wrote {i}", **extra}, RecordMeta("test://in", f"line {i}"))


@pytest.fixture(scope="module")
def service():
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}))
    with ServiceThread(build_service(config, provider=provider, backend=KeysBackend())) as thread:
        yield thread.base_url, provider


_SEEN: dict[str, list] = {}  # what each output held (the in-process runner calls _keep by reference)


def _keep(values, name):
    _SEEN[name] = list(values)


def _run(elements, dest):
    """Run the stage; the result and what each output held."""
    _SEEN.clear()
    p = beam.Pipeline()
    out = p | beam.Create(elements) | EnclaveInference(job(), dest)
    for name in (sink.RESULTS, sink.REJECTED, sink.STATS):
        assert_that(out[name], functools.partial(_keep, name=name), label=f"keep {name}")
    result = p.run()
    result.wait_until_finish()
    return result, dict(_SEEN)


def _refs(values) -> list[str]:
    return sorted(v.meta.ref if hasattr(v, "meta") else v["_redactline"]["ref"] for v in values)


class _FindRunInference(beam.pipeline.PipelineVisitor):
    def __init__(self) -> None:
        self.handlers: list = []

    def enter_composite_transform(self, node) -> None:
        if isinstance(node.transform, RunInference):
            self.handlers.append(node.transform._model_handler)


def test_both_enclave_routes_are_run_inference_with_the_enclave_handler(service):
    url, provider = service
    task = parse_task({"kind": "generate", "prompt": "{text}", "max_tokens": 4}, "task")
    dest = target(url, provider)
    for stage in (_EnclaveStage(job(), dest), _TaskStage(job(), dest, task)):
        p = beam.Pipeline()
        _ = p | beam.Create([item(0)]) | stage
        visit = _FindRunInference()
        p.visit(visit)
        found = visit.handlers
        assert len(found) == 1 and isinstance(found[0], EnclaveModelHandler)
        assert not found[0].share_model_across_processes()  # the client (and batches) stay in-process
        assert found[0].batch_elements_kwargs() == {"min_batch_size": 6, "max_batch_size": 6}


def test_a_failed_sub_batch_quarantines_only_its_records_and_beam_reports_inference_metrics(service):
    url, provider = service
    # one Beam batch of 6 -> three sealed sub-batches of 2, in flight together; the second one fails
    elements = [item(i, **({"fail": True} if i == 2 else {})) for i in range(6)]
    result, seen = _run(elements, target(url, provider))
    rejected = seen[sink.REJECTED]
    assert _refs(rejected) == ["line 2", "line 3"]  # its own sub-batch, nobody else
    assert {r.reason for r in rejected} == {"enclave_unavailable"}
    assert _refs(seen[sink.RESULTS]) == [f"line {i}" for i in (0, 1, 4, 5)]
    assert all(r["result"] == {"keys": ["text"]} for r in seen[sink.RESULTS])
    stats: dict[str, int] = {}
    for name, n in seen[sink.STATS]:
        stats[name] = stats.get(name, 0) + n
    assert stats["sealed_batches"] == 3 and stats["failed_batches"] == 1
    assert stats["records_sent"] == 6 and stats["results_received"] == 4

    metrics = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    counters = {m.key.metric.name: m.committed for m in metrics["counters"]}
    dists = {m.key.metric.name: m.committed for m in metrics["distributions"]}
    assert counters["num_inferences"] == 6  # every element went through one call...
    assert counters.get("failed_batches_counter", 0) == 0  # ...which did not fail as a whole
    assert dists["inference_request_batch_size"].count == 1 and dists["inference_request_batch_size"].max == 6
    assert dists["inference_batch_latency_micro_secs"].count == 1
    assert dists["inference_batch_latency_micro_secs"].sum > 0


def test_an_unexpected_error_goes_through_beams_failure_output_to_the_quarantine(service):
    url, provider = service
    # a value no JSON form exists for: sealing raises an error the handler does not expect
    elements = [item(0), item(1, odd=complex(1, 2))]
    result, seen = _run(elements, target(url, provider))
    rejected = seen[sink.REJECTED]
    assert _refs(rejected) == ["line 0", "line 1"] and not seen[sink.RESULTS]  # the whole call
    assert {r.reason for r in rejected} == {ENCLAVE_ERROR}
    assert all("UnsupportedValue" in r.detail and "(1+2j)" not in r.detail for r in rejected)
    assert all(b"<NAME> wrote" in r.raw for r in rejected)  # the record is kept, to be sealed
    metrics = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(
        "failed_batches_counter"))
    assert [m.committed for m in metrics["counters"]] == [1]
