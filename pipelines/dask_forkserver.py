"""Preloaded by the forkserver that starts a local Dask cluster's worker processes (:mod:`.dask_runner`).

Imported once, in the forkserver, before any worker is forked from it: it imports the modules every
worker needs (Beam, Presidio, redactline's DoFns) and, when the driver offers its engine factory
(:mod:`.engine_handoff`), builds the run's engine. It is each worker's Dask preload too: a worker forked
from the forkserver has it imported already; a spawned one (no forkserver here) imports it, and so
builds the engine, before it registers with the scheduler. Each worker forked afterwards starts with
both (copy-on-write pages): N workers pay the imports and the spaCy load once, not N times, and the
first redaction bundle takes the built engine (:meth:`~.redact.PolicyEngineFactory.warm`).

The build runs here in the forkserver's only thread, never in a thread beside a fork. A failure only
loses the head start: it is logged by type and each worker builds its own engine.
"""

from __future__ import annotations

import logging
import warnings

log = logging.getLogger(__name__)


def _warm() -> None:
    from . import engine_handoff

    factory = engine_handoff.take_factory()  # the variable is removed: a worker does not warm again
    import redactline.pipelines.run  # noqa: F401  (the modules of every DoFn the graph holds)

    if factory is not None:
        factory.warm()


# A worker forked from here runs the driver's main module again as ``__mp_main__``; when that is a
# redactline module (``python -m redactline.pipelines.run``), runpy warns that it is already imported
# (by this preload), on stderr once per worker. Spawned workers import it twice too, without the warning.
warnings.filterwarnings("ignore", message=r"'redactline\..*' found in sys\.modules after import of package",
                        category=RuntimeWarning)
try:
    _warm()
except Exception as exc:  # noqa: BLE001 - a head start only: the workers build the engine themselves
    log.warning("Dask forkserver warm-up failed (%s); each worker builds its engine", type(exc).__name__)
