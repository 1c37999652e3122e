"""Keep analysed text out of logs.

Presidio's context enhancer logs the words around each finding (names, e-mail addresses) at DEBUG, so
a job run with ``--log-level debug`` (or a test's caplog) would write PII to its logs. Importing
``redactline.policies`` sets those loggers' own level to WARNING: a root logger lowered later does not
bring them back.
"""

from __future__ import annotations

import logging

TEXT_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")


def quiet_text_loggers() -> None:
    """Raise the loggers that write analysed text at DEBUG/INFO to WARNING (never lower them)."""
    for name in TEXT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET (0) included
            logger.setLevel(logging.WARNING)
