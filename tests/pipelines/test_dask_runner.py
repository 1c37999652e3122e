"""The same job on the local runner and on a real Dask cluster (a scheduler and two worker processes on
127.0.0.1): the same delivered, held and quarantined records and the same counts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from redactline.pipelines.run import run
from tests.pipelines.test_run import KEY_HEX, _outputs, base_args, write_broken_csv

pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 90.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory) -> Iterator[str]:
    """``dask scheduler`` + two ``dask worker`` processes (one thread each) on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "RL_TEST_QKEY": KEY_HEX}  # workers resolve the quarantine key themselves
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"],
                              stdout=(logs / "scheduler.log").open("wb"), stderr=subprocess.STDOUT, env=env)]
    try:
        time.sleep(1)
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}"],
                stdout=(logs / f"worker{i}.log").open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO))
        _wait_for_workers(address, 2)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_two_worker_dask_cluster_gives_the_local_runners_outputs(tmp_path, monkeypatch, dask_cluster,
                                                                 no_remote_network):
    monkeypatch.setenv("RL_TEST_QKEY", KEY_HEX)
    src = tmp_path / "in.csv"
    write_broken_csv(src, good=16)
    common = ["--run-id", "same-run"]
    assert run([*base_args(tmp_path, str(src), str(tmp_path / "a" / "r.jsonl")), *common]) == 0
    assert run([*base_args(tmp_path, str(src), str(tmp_path / "b" / "r.jsonl")), *common,
                "--runner", "DaskRunner", "--dask_client_address", dask_cluster]) == 0
    local, dask = _outputs(tmp_path / "a", "r"), _outputs(tmp_path / "b", "r")
    assert local == dask
    assert len(local["delivered"]) == 16 and len(local["quarantine"]) == 4
    manifest = json.loads((tmp_path / "b" / "r.manifest.json").read_text())
    assert manifest["runner"] == f"DaskRunner (scheduler {dask_cluster})"
    assert manifest["counts_status"] == "complete"
    assert no_remote_network == []


def test_the_policy_travels_with_the_job_not_as_a_path(tmp_path, monkeypatch):
    """Workers rebuild the engine from the document the driver resolved: the file may be gone; keys
    stay references (an env key is read where the engine is built, never pickled)."""
    import pickle
    import shutil

    from redactline.pipelines.redact import PolicyEngineFactory
    from redactline.policies import load_policy
    from tests.support.demo import DEMO_POLICY

    copy = tmp_path / "policy.yaml"
    shutil.copy(DEMO_POLICY, copy)
    policy = load_policy(copy)
    factory = PolicyEngineFactory(str(policy.path), policy.identity.sha256)
    graph = pickle.dumps(factory)
    copy.unlink()
    for key in policy.keys.values():
        assert key.material not in graph
    rebuilt = pickle.loads(graph)._policy.load()
    assert rebuilt.identity.sha256 == policy.identity.sha256


def test_a_reshuffle_deals_one_partition_over_every_worker() -> None:
    """Beam's Dask translation leaves ``Reshuffle`` a no-op: a file's records stayed in the one partition
    that read them, so one worker redacted them all. Here they are dealt over ``n`` partitions, none lost."""
    import dask.bag as db

    from redactline.pipelines.dask_runner import _reshuffle

    one = db.from_sequence(range(1000), npartitions=1)
    spread = _reshuffle(one, 4)
    parts = spread.map_partitions(lambda part: [len(list(part))]).compute(scheduler="sync")
    assert parts == [250, 250, 250, 250]
    assert sorted(spread.compute(scheduler="sync")) == list(range(1000))
    # its partitions are data producers: the scheduler queues them instead of starting them all at once
    merges = [task for key, task in spread.__dask_graph__().items() if key[0] == spread.name]
    assert len(merges) == 4 and all(task.data_producer for task in merges)


def test_the_read_asks_for_partitions_by_input_size(tmp_path) -> None:
    """A fixed partition count let each Dask partition grow with the input: the read's Distribute carries
    a hint (one partition per PARTITION_BYTES of matched files) that the translator takes."""
    import apache_beam as beam

    from redactline.connectors.files import PARTITION_BYTES, ReadRecords
    from redactline.pipelines.dask_runner import _partition_hints

    (tmp_path / "a.csv").write_bytes(b"id\n" + b"1\n" * (PARTITION_BYTES * 3 // 2))
    pipeline = beam.Pipeline()
    _ = pipeline | "Source" >> ReadRecords(str(tmp_path / "*.csv"))
    assert _partition_hints(pipeline) == {"Source/Distribute": 4}  # 3 * PARTITION_BYTES + 3 bytes


def test_group_by_key_and_flatten_keep_every_element_once() -> None:
    """The hand-built GroupByKey (hash split, one group per key however many partitions held it) and
    Flatten (partition i of every input), computed on the synchronous scheduler."""
    import dask.bag as db

    from redactline.pipelines.dask_runner import _flatten, _group_by_key

    pairs = db.from_sequence([(f"k{i % 5}", i) for i in range(100)] + [(None, -1), ((1, "a"), -2)],
                             npartitions=3)
    grouped = _group_by_key(pairs, 4)
    assert grouped.npartitions == 4
    result = grouped.compute(scheduler="sync")
    assert len(result) == 7  # each key once
    assert {key: sorted(values) for key, values in result} == {
        **{f"k{k}": list(range(k, 100, 5)) for k in range(5)}, None: [-1], (1, "a"): [-2]}
    flat = _flatten([db.from_sequence(range(10), npartitions=2),
                     db.from_sequence(range(10, 13), npartitions=3)])
    assert flat.npartitions == 3
    assert sorted(flat.compute(scheduler="sync")) == list(range(13))
