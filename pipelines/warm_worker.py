"""Local worker processes that build the policy's engine while they start.

With ``--direct_running_mode multi_processing`` Beam's FnApiRunner starts every worker as
``python -m apache_beam.runners.worker.sdk_worker_main`` and gives it work stage by stage. A worker
that receives its first redaction batch then stops to import Presidio and spaCy and build the engine
(2-4 s), after the read stage, while the other core waits: time paid in series, once per worker, that
two workers cannot share. Here each worker starts as ``python -m redactline.pipelines.warm_worker``
instead (:func:`.engine_handoff.worker_command`): a background thread builds the run's engine
(:meth:`PolicyEngineFactory.warm`) from the factory the driver offers (:mod:`.engine_handoff`) while
Beam's own worker main, unchanged, connects to the runner and runs the read stage.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from . import engine_handoff


def _quiet_stderr() -> None:
    """The worker's own stderr shows errors only. Beam sets the worker's root logger to INFO and sends
    its log records to the runner, which logs them at the driver's ``--log-level``: printed here as well,
    every run would show Beam's start-up chatter, and each warning twice, per worker."""
    from .cli import configure_logging

    configure_logging("WARNING")  # a stderr handler now, before Beam's import-time warning adds its own
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.ERROR)


def main() -> None:
    _quiet_stderr()
    factory = engine_handoff.take_factory()
    if factory is not None:
        # the modules of every DoFn the graph holds, imported here before Beam's worker starts: two
        # threads importing the same package at once can see each other's half-initialised modules
        import redactline.pipelines.run  # noqa: F401

        threading.Thread(target=factory.warm, name="redactline-warm-engine", daemon=True).start()
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)
    # The job is over when Beam's worker main returns (its outputs were sent, its files closed). Exit
    # now: tearing down the interpreter (the spaCy model, the engine's tables) took longer than the
    # runner's last steps, and the runner waits for every worker process to end before it returns.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
