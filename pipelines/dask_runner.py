"""Run a redactline graph on Dask ``distributed``: Beam's Dask runner with the translation gaps closed.

Beam's :class:`~apache_beam.runners.dask.dask_runner.DaskRunner` (2.77) turns a pipeline into Dask bags,
but as shipped it (a) computes only the bag of the *last* transform, so every other branch (held,
quarantine, counts) never runs; (b) merges a multi-output ``ParDo``'s tagged outputs into one bag, so a
consumer of ``rejected`` also receives the records; (c) collects a bundle's outputs before
``finish_bundle`` runs, so ``BatchElements`` loses its last partial batch. Tagged outputs, side inputs,
``GroupByKey`` and ``Flatten`` are plain Beam that every runner supports, so the fix belongs in the
translation, not in the pipeline: :class:`DaskRunner` here keeps Beam's overrides (``Create``,
``Reshuffle``, ``GroupByKey``, ``Flatten``) and ops, and translates per *PCollection*:

* a ``ParDo`` bundle yields ``(tag, value)`` pairs, collected after ``finish_bundle``; each output
  PCollection is the bag filtered to its tag;
* every leaf bag (a PCollection nothing consumes) is computed, in one Dask graph (shared parts once);
* a ``Reshuffle`` deals its elements over several partitions (Beam's translation leaves it a no-op,
  which kept a whole file's records in the one partition that read it, on one worker);
* ``Reshuffle``, ``GroupByKey``, ``Flatten`` and side inputs are tasks written by hand over partition
  keys (:func:`_all_to_all`, :func:`_flatten`, :func:`_gather`): Dask's task shuffle, ``db.concat``'s
  growing partition lists and ``dask.delayed`` over partitions (a cull of the whole graph per side
  input) made a 10k-record run 9165 tasks and 12 s of driver CPU; now about 1550 tasks and 0.1 s.

A Dask bag partition is one Beam bundle: ``DoFn.setup`` runs per partition, which is why the engine
factories cache the loaded engine per worker process (:mod:`.redact`). A local cluster's workers are
forked with the engine already built (:func:`_local_cluster`, :mod:`.dask_forkserver`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from apache_beam import pvalue
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, Receiver, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import transform_evaluator as te
from apache_beam.runners.dask.overrides import _Flatten, _GroupAlsoByWindow, _GroupByKeyOnly, _Reshuffle
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.core import DoFn
from apache_beam.transforms.sideinputs import SideInputMap

log = logging.getLogger(__name__)

_MAIN = None  # the tag of a ParDo's main output


class _Collect(Receiver):
    """Receives one tag's outputs of a bundle as ``(tag, value)`` pairs in a shared list."""

    def __init__(self, tag: str | None, out: list[tuple[str | None, Any]]) -> None:
        self._tag = tag
        self._out = out

    def receive(self, windowed_value: Any) -> None:
        self._out.append((self._tag, windowed_value.value))


class _Receivers(dict):
    def __init__(self, out: list[tuple[str | None, Any]]) -> None:
        super().__init__()
        self._out = out

    def __missing__(self, tag: str | None) -> _Collect:
        receiver = self[tag] = _Collect(tag, self._out)
        return receiver


def _concat(parts: list[list[Any]]) -> list[Any]:
    return [item for part in parts for item in part]


def _run_bundle(items: Iterable[Any], fn: DoFn, window_fn: Any, label: str, args: list[Any],
                kwargs: dict[str, Any], views: list[tuple[Any, Any, Any]], *values: list[Any],
                ) -> list[tuple[str | None, Any]]:
    """One Dask partition = one Beam bundle: setup, process each element, finish, teardown.
    ``views`` describe the side inputs whose computed values are ``values`` (one list each)."""
    side_inputs = [SideInputMap(view, options, [te.get_windowed_value(v, mapping) for v in vals])
                   for (view, options, mapping), vals in zip(views, values, strict=True)] or None
    out: list[tuple[str | None, Any]] = []
    receivers = _Receivers(out)
    handler = _OutputHandler(window_fn=window_fn, main_receivers=receivers[_MAIN], tagged_receivers=receivers,
                             per_element_output_counter=None, output_batch_converter=None,
                             process_yields_batches=False, process_batch_yields_elements=False)
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn), handler, context=DoFnContext(label, state=None), side_inputs=side_inputs,
        input_args=args, input_kwargs=kwargs, user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam())
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:  # wrapped here, one at a time: a separate map task kept a windowed copy of the
        invoker.invoke_process(te.get_windowed_value(item, window_fn))  # partition until this task ran
    invoker.invoke_finish_bundle()  # before collecting: BatchElements emits its last batch here
    invoker.invoke_teardown()
    return out


def _deal(part: list[Any], n: int) -> tuple[list[Any], ...]:
    """One partition's elements dealt round-robin into ``n`` lists."""
    items = list(part)
    return tuple(items[i::n] for i in range(n))


def _key_hash(key: Any) -> int:
    """The same number for equal keys in every process (``hash`` of a str differs between processes)."""
    from dask.base import tokenize

    return int(tokenize(key), 16)


def _split_by_key(part: Iterable[tuple[Any, Any]], n: int) -> tuple[list[tuple[Any, Any]], ...]:
    """One partition's ``(key, value)`` pairs split into ``n`` lists by a hash of the key."""
    buckets: tuple[list[tuple[Any, Any]], ...] = tuple([] for _ in range(n))
    hashes: dict[Any, int] = {}  # keys repeat (counts, shards): hash each once per partition
    for item in part:
        key = item[0]
        h = hashes.get(key)
        if h is None:
            h = hashes[key] = _key_hash(key) % n
        buckets[h].append(item)
    return buckets


def _group(parts: list[list[tuple[Any, Any]]]) -> list[tuple[Any, list[Any]]]:
    """``(key, [values])`` for the pairs of every input partition's share of this output partition."""
    groups: dict[Any, list[Any]] = {}
    for part in parts:
        for key, value in part:
            groups.setdefault(key, []).append(te.defenestrate(value))
    return list(groups.items())


def _all_to_all(bag: Any, n: int, split: Any, split_args: tuple[Any, ...], merge: Any, prefix: str,
                producers: bool = False) -> Any:
    """A bag of ``n`` partitions: ``split(part, *split_args)`` cuts every input partition into ``n`` lists,
    output partition ``j`` is ``merge`` of the ``j``-th lists. Written as plain tasks (in_partitions
    + in_partitions * n picks + n merges): Dask's task shuffle (``Bag.groupby``) made thousands of tasks
    for the run's small groupings, and ``dask.delayed`` over a list of partitions culls and copies the
    whole graph built so far."""
    import operator

    import dask.bag as db
    from dask._task_spec import List, Task, TaskRef
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    token = tokenize(bag.name, n, prefix)
    cut, pick, name = f"{prefix}-split-{token}", f"{prefix}-pick-{token}", f"{prefix}-{token}"
    dsk: dict[Any, Any] = {}
    for i in range(bag.npartitions):
        dsk[(cut, i)] = Task((cut, i), split, TaskRef((bag.name, i)), *split_args)
        for j in range(n):
            dsk[(pick, i, j)] = Task((pick, i, j), operator.getitem, TaskRef((cut, i)), j)
    for j in range(n):
        picks = List(*(TaskRef((pick, i, j)) for i in range(bag.npartitions)))
        dsk[(name, j)] = Task((name, j), merge, picks, _data_producer=producers)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[bag])
    return db.Bag(graph, name, n)


def _reshuffle(bag: Any, n: int) -> Any:
    """A bag of ``n`` partitions holding ``bag``'s elements, every input partition dealt over all of them
    (a real redistribution: ``Bag.repartition`` only splits or merges neighbouring partitions).

    Its partitions are where the work of the steps after it starts, so they are marked as data producers:
    the scheduler then queues them (root-task queuing) and gives a worker its next partition when it has
    finished one, instead of starting the first step of every partition at once (on 100k records each
    worker held every partition's parsed records until their redaction ran: +75 MiB, growing)."""
    return _all_to_all(bag, n, _deal, (n,), _concat, "reshuffle", producers=True)


def _group_by_key(bag: Any, n: int) -> Any:
    """Beam's ``GroupByKey`` (global window): ``(key, [values])`` per key, the keys hashed over ``n``
    partitions."""
    return _all_to_all(bag, n, _split_by_key, (n,), _group, "group-by-key")


def _flatten(bags: list[Any]) -> Any:
    """Beam's ``Flatten``: partition ``i`` holds partition ``i`` of every input that has one. (``db.concat``
    appends the partition lists, so flattening five 8-partition outputs made 40 partitions, and a Flatten
    of those 121: every stage below ran a task per partition, most of them empty.)"""
    import dask.bag as db
    from dask._task_spec import List, Task, TaskRef
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    n = max(bag.npartitions for bag in bags)
    name = f"flatten-{tokenize(*(bag.name for bag in bags))}"
    dsk = {(name, i): Task((name, i), _concat, List(*(TaskRef((bag.name, i)) for bag in bags
                                                      if i < bag.npartitions)))
           for i in range(n)}
    return db.Bag(HighLevelGraph.from_collections(name, dsk, dependencies=bags), name, n)


def _gather(bag: Any) -> Any:
    """A ``Delayed`` list of all of ``bag``'s elements: one task over its partitions, so a side input is
    a dependency of its consumer, computed once (never a nested compute inside a task, which would rerun
    the side input's upstream, writes included). Built by hand: ``dask.delayed`` of the partitions
    culls the whole graph built so far at each side input (12 s of driver CPU for a run's graph), and a
    Bag reduction passed as an argument is copied under new keys, upstream included (6x the work)."""
    from dask._task_spec import List, Task, TaskRef
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    name = f"side-input-{bag.name}"
    task = Task(name, _concat, List(*(TaskRef((bag.name, i)) for i in range(bag.npartitions))))
    return Delayed(name, HighLevelGraph.from_collections(name, {name: task}, dependencies=[bag]))


def _select(pairs: Iterable[tuple[str | None, Any]], tag: str | None) -> list[Any]:
    """One tag's values of a bundle's output, as a list: a partition that several tasks read (a side input
    and a main input) must not be a one-shot iterator."""
    return [value for item_tag, value in pairs if item_tag == tag]


@dataclasses.dataclass
class _Translator(PipelineVisitor):
    """Builds one Dask bag per PCollection; ``leaves`` are the bags nothing else consumes."""

    bag_kwargs: dict[str, Any]
    spread: int = 2  # partitions a Reshuffle spreads its input over
    hints: dict[str, int] = dataclasses.field(default_factory=dict)  # more for these (see _partition_hints)
    bags: dict[pvalue.PValue, Any] = dataclasses.field(default_factory=dict)
    consumed: set[pvalue.PValue] = dataclasses.field(default_factory=set)
    roots: list[Any] = dataclasses.field(default_factory=list)

    def _side_inputs(self, node: AppliedPTransform) -> tuple[list[tuple[Any, Any, Any]], list[Any]]:
        """The side inputs (view class, view options, window mapping) and, for each, a Delayed list of its
        values (:func:`_gather`)."""
        views, values = [], []
        for si in node.side_inputs:
            self.consumed.add(si.pvalue)
            values.append(_gather(self.bags[si.pvalue]))
            views.append((type(si), si._view_options(), si._window_mapping_fn))
        return views, values

    def visit_transform(self, node: AppliedPTransform) -> None:
        import apache_beam as beam

        inputs = [i for i in node.inputs if not isinstance(i, pvalue.PBegin)]
        self.consumed.update(inputs)
        in_bags = [self.bags[i] for i in inputs]
        transform = node.transform
        if isinstance(transform, _GroupAlsoByWindow):
            # global windows only: Beam's GroupByKey op already yields (key, [values])
            for pcoll in node.outputs.values():
                self.bags[pcoll] = in_bags[0]
            return
        if isinstance(transform, _Reshuffle):
            # Beam's translation makes this a no-op: a file read in one partition would then be redacted
            # in that one partition, on one worker. Deal its elements out so that every worker takes a share.
            spread = _reshuffle(in_bags[0], max(self.spread, self.hints.get(node.full_label, 0)))
            for pcoll in node.outputs.values():
                self.bags[pcoll] = spread
            return
        if isinstance(transform, _GroupByKeyOnly):
            bag = in_bags[0]
            grouped = _group_by_key(bag, max(1, min(self.spread, bag.npartitions)))
            for pcoll in node.outputs.values():
                self.bags[pcoll] = grouped
            return
        if isinstance(transform, beam.ParDo):
            views, values = self._side_inputs(node)
            main = next(iter(node.main_inputs.values()))
            window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
            args, kwargs = transform.raw_side_inputs
            pairs = in_bags[0].map_partitions(
                _run_bundle, transform.fn, window_fn, transform.label, list(args), kwargs, views, *values)
            for tag, pcoll in node.outputs.items():
                self.bags[pcoll] = pairs.map_partitions(_select, tag)
            return
        if isinstance(transform, _Flatten) and in_bags:
            flat = _flatten(in_bags)
            for pcoll in node.outputs.values():
                self.bags[pcoll] = flat
            return
        op_class = te.TRANSLATIONS.get(type(transform), te.NoOp)
        bag_kwargs = self.bag_kwargs
        if op_class is te.Create and not (bag_kwargs.get("npartitions") or bag_kwargs.get("partition_size")):
            bag_kwargs = {**bag_kwargs, "partition_size": 128}  # Beam's default, minus its warning
        op = op_class(node, bag_kwargs=bag_kwargs)
        if isinstance(op, te.Flatten):
            bag = op.apply(in_bags)
        elif isinstance(op, te.NoOp):
            bag = in_bags[0] if in_bags else None
        else:
            bag = op.apply(in_bags[0] if in_bags else None)
        if bag is not None and not isinstance(op, te.NoOp):
            # Beam's ops leave one-shot iterators, and a partition may have two readers (side + main input)
            bag = bag.map_partitions(list)
        for pcoll in node.outputs.values():
            if bag is not None:
                self.bags[pcoll] = bag

    def leaves(self) -> list[Any]:
        return [bag for pcoll, bag in self.bags.items() if pcoll not in self.consumed]


class _Result(beam_dask.DaskRunnerResult):
    """Closes the client (and the local cluster it started) once the job has finished."""

    cluster: Any = None

    def wait_until_finish(self, duration: int | None = None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            if self._state in (PipelineState.DONE, PipelineState.FAILED):
                self.close()

    def cancel(self) -> str:
        try:
            return super().cancel()
        finally:
            self.close()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _partition_hints(pipeline: Any) -> dict[str, int]:
    """``Reshuffle`` labels -> the partition count their producer asked for (``files.PARTITIONS_HINT``,
    one per so many bytes of input, capped at ``MAX_PARTITIONS``): read before Beam's overrides replace
    the transforms. A Dask graph's partition count is fixed when it is built; with the same few
    partitions for any input, each partition (a task's list of records) grew with the input."""
    from redactline.connectors.files import PARTITIONS_HINT

    hints: dict[str, int] = {}

    class _Hints(PipelineVisitor):
        def enter_composite_transform(self, node: AppliedPTransform) -> None:
            self.visit_transform(node)

        def visit_transform(self, node: AppliedPTransform) -> None:
            hint = getattr(node.transform, PARTITIONS_HINT, None)
            if hint:
                hints[node.full_label] = min(int(hint), MAX_PARTITIONS)

    pipeline.visit(_Hints())
    return hints


#: The most partitions a hint may ask for: past it a partition grows again (a few thousand tasks per
#: stage is what the scheduler handles without its own overhead showing).
MAX_PARTITIONS = 1024


def _spread(client: Any, bag_kwargs: dict[str, Any]) -> int:
    """Partitions per ``Reshuffle``: ``--dask_npartitions`` if given, else four per worker thread (small
    enough partitions that a slow worker does not hold up the run, few enough that each bundle is worth
    scheduling)."""
    if bag_kwargs.get("npartitions"):
        return int(bag_kwargs["npartitions"])
    threads = sum(client.nthreads().values()) or 1
    return 4 * threads


# Housekeeping intervals of a local cluster (read when it starts; the workers get them from their nanny).
# Distributed's defaults sample each worker's stack every 10 ms for the dashboard's profiler and tick,
# monitor and steal every 20-100 ms: an idle 2-worker cluster burnt 5.9% of a core in the driver and 3.8%
# in each worker (0.9% and 0.35% with these), which on a 100k-record run was ~15 s of the driver's CPU.
_QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.scheduler.work-stealing-interval": "500ms",
    # the scheduler's HTTP server always listens (on 127.0.0.1 here); serve it a health check only: no
    # task pages, no proxy (which asked on every run for a package to be installed)
    "distributed.scheduler.http.routes": ["distributed.http.health"],
    # only the tasks marked as data producers (a reshuffle's partitions) are queued as "root" tasks. By
    # its own guess the scheduler also queued small groups of later steps (a group larger than twice the
    # threads counts: 4 tasks with one worker), behind every partition still to start, while the
    # partitions they read stayed in memory: one worker grew 248 -> 433 MiB from 10k to 100k records
    "distributed.scheduler.rootish-taskgroup": 0,
}


def _local_cluster(workers: int) -> Any:
    """``workers`` worker processes (one thread each) and a scheduler in this process, on 127.0.0.1.

    The workers are forked from a forkserver that has imported their modules and built the engine
    (:mod:`.dask_forkserver`): spawned, each worker paid 4-5 s of imports and 2-3 s of engine build, N
    times over on the same cores. Without a forkserver each spawned worker imports the same module as
    its preload and builds the engine before it registers. A forkserver this process started for an
    earlier run holds that run's engine, not this one's: its workers build the engine in the first batch.
    No dashboards and no log chatter: the scheduler shares the driver's process and the cores.
    """
    import multiprocessing

    import dask
    import dask.distributed as ddist

    if logging.getLogger("redactline").getEffectiveLevel() > logging.INFO:
        # the scheduler logs here, at INFO, through the root handler (silence_logs only quiets
        # distributed's own handlers): a run without --log-level INFO shows warnings only
        logging.getLogger("distributed").setLevel(logging.WARNING)
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method, **_QUIET_CLUSTER}):
        if method == "forkserver":
            from distributed.utils import get_mp_context

            # after distributed's own call, which sets its preload list once per process
            get_mp_context().set_forkserver_preload(
                ["distributed", "dask.bag", f"{__package__}.dask_forkserver"])
        return ddist.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR,
                                  preload=[f"{__package__}.dask_forkserver"])


class DaskRunner(beam_dask.DaskRunner):
    """Beam's Dask runner with per-PCollection translation (see the module docstring).

    ``--dask_client_address tcp://HOST:PORT`` connects to a running scheduler; without it a local
    cluster of ``--num_workers`` worker processes (default 2, one thread each) is started for the run
    and closed after it; its workers start with the engine built (:func:`_local_cluster`).
    """

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> _Result:
        import time

        import dask.distributed as ddist
        from apache_beam.options.pipeline_options import WorkerOptions

        dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(drop_default=True,
                                                                                current_only=True)
        bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        cluster = None
        started = time.perf_counter()
        if not dask_options.get("address") and not dask_options.get("scheduler_file"):
            workers = options.view_as(WorkerOptions).num_workers or 2
            cluster = _local_cluster(workers)
            dask_options["address"] = cluster.scheduler_address
            log.info("local Dask cluster of %d worker(s) started in %.1f s", workers,
                     time.perf_counter() - started)
        client = ddist.Client(**dask_options)
        try:
            hints = _partition_hints(pipeline)
            pipeline.replace_all(beam_dask.dask_overrides())
            translated = time.perf_counter()
            translator = _Translator(bag_kwargs, spread=_spread(client, bag_kwargs), hints=hints)
            pipeline.visit(translator)
            # one graph for all leaves, optimised together: ``dask.optimize(*leaves)`` fuses each leaf's
            # chain on its own and so runs every shared stage once per leaf (the redaction six times)
            futures = client.compute(translator.leaves())
            log.info("Dask graph translated and submitted in %.2f s", time.perf_counter() - translated)
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        result = _Result(client, futures)
        result.cluster = cluster
        return result
