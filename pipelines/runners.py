"""Which Beam runner a run uses: ``--runner`` short names resolved by redactline, the rest left to Beam.

* no ``--runner`` or ``local``: Beam's FnApiRunner in this process (downloads nothing); with
  ``--direct_running_mode multi_processing --direct_num_workers N``, N local worker processes;
* ``DaskRunner``: :class:`~redactline.pipelines.dask_runner.DaskRunner` on a Dask ``distributed``
  cluster (``--dask_client_address tcp://HOST:PORT``, or a local cluster of ``--num_workers N``
  processes); needs the ``dask`` extra;
* any other name reaches Beam untouched (``DataflowRunner``, ``FlinkRunner``, ``PortableRunner``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from .options import LOCAL_RUNNER

DASK_RUNNER = "DaskRunner"
DASK_MISSING = ("--runner DaskRunner needs the dask extra, which is not installed here: "
                "pip install 'redactline[dask]'")


class RunnerUnavailable(ValueError):
    """``--runner`` names a runner whose packages are not installed (a usage error: exit code 2)."""


def check_available(options: PipelineOptions) -> None:
    """Refuse, before anything is read or written, a ``--runner`` redactline resolves but cannot import."""
    if options.view_as(StandardOptions).runner not in (DASK_RUNNER, "dask"):
        return
    try:
        import dask.distributed  # noqa: F401  (the extra: dask + distributed)
        from apache_beam.runners.dask import dask_runner  # noqa: F401  (Beam's runner imports dask.bag)
    except ImportError:
        raise RunnerUnavailable(DASK_MISSING) from None


@dataclass(frozen=True)
class RunnerChoice:
    """``runner`` (None: Beam picks from ``--runner``), its name for the manifest, and whether the
    DoFns run in this process (then the in-process progress tally is the run's own)."""

    runner: Any
    name: str
    in_process: bool
    warm_workers: bool = False  # its workers start as warm_worker: offer them the engine factory


def choose(options: PipelineOptions) -> RunnerChoice:
    """Resolve ``--runner`` (see the module docstring); clears the short name so Beam does not."""
    std = options.view_as(StandardOptions)
    if std.runner in (None, LOCAL_RUNNER):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        direct = options.view_as(DirectOptions)
        mode = direct.direct_running_mode or "in_memory"
        workers = direct.direct_num_workers or 1
        std.runner = None
        name = f"FnApiRunner ({mode}, {workers} worker{'s' if workers != 1 else ''})"
        if mode == "multi_processing":
            return RunnerChoice(_warm_workers_runner(), name, in_process=False, warm_workers=True)
        return RunnerChoice(FnApiRunner(), name, in_process=True)
    if std.runner in (DASK_RUNNER, "dask"):
        check_available(options)
        from .dask_runner import DaskRunner

        std.runner = None
        where = dask_where(options)
        # a local cluster's workers inherit the driver's environment: offer them the engine factory
        return RunnerChoice(DaskRunner(), f"DaskRunner ({where})", in_process=False,
                            warm_workers=where.startswith("local cluster"))
    return RunnerChoice(None, str(std.runner), in_process=False)


def _warm_workers_runner() -> Any:
    """Beam's FnApiRunner, its multi-processing workers started as :mod:`.warm_worker` (they build the
    engine while they connect) instead of Beam's ``sdk_worker_main``."""
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    from . import engine_handoff

    class WarmWorkersRunner(FnApiRunner):
        def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> Any:
            # Beam replaces the worker command when the mode is multi_processing: clear it, and give
            # the same kind of environment (a subprocess per worker) with the warm worker's command
            options.view_as(DirectOptions).direct_running_mode = None
            command = engine_handoff.worker_command()
            self._default_environment = SubprocessSDKEnvironment.from_command_string(command)
            return super().run_pipeline(pipeline, options)

    return WarmWorkersRunner()


def dask_where(options: PipelineOptions) -> str:
    """The Dask cluster named for the manifest: the scheduler address, or the local cluster's size."""
    from apache_beam.options.pipeline_options import WorkerOptions
    from apache_beam.runners.dask.dask_runner import DaskOptions

    dask = options.view_as(DaskOptions)
    if dask.address:
        return f"scheduler {dask.address}"
    if dask.scheduler_file:
        return f"scheduler file {dask.scheduler_file}"
    return f"local cluster, {options.view_as(WorkerOptions).num_workers or 2} worker processes"
