"""The ``redactline`` package itself. Its subpackages are the repository's top-level folders (mapped in
``[tool.setuptools.package-dir]``); this folder only holds ``__main__`` (``python -m redactline``)."""

import logging as _logging


def _not_apitools_notice(record: _logging.LogRecord) -> bool:
    """Beam logs "apitools not found" on the root logger when it is imported (about BigQuery, which no
    redactline run uses): it read like a problem at the top of every run, the Dask workers' included.
    A filter on the root logger itself drops it before any handler, whoever configured logging, and it
    is in place before any redactline module imports Beam."""
    return not (record.name == "root" and str(record.msg).startswith("apitools not found"))


_logging.getLogger().addFilter(_not_apitools_notice)
