"""The one Beam runner the tests build pipelines on.

The in-process ``FnApiRunner``: it starts no service and downloads nothing (the default direct runner
may pick the Prism runner, which fetches a binary). Extra pipeline options select its other modes, e.g.
``--direct_num_workers=2 --direct_running_mode=multi_processing``; a module-level function used in a
transform is pickled by reference, so in-process runs can collect outputs into a module's dict.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner


def pipeline(*options: str) -> beam.Pipeline:
    """A new Pipeline on the FnApiRunner with the given command-line pipeline options."""
    return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(list(options)))
