"""The ``redactline`` command: one entry point, sub-commands registered by each part of the package.

Each area owns its verbs in a small module exposing ``register(subparsers)``; heavy imports (Presidio,
Beam, spaCy) happen inside the command functions so that ``--help`` stays instant. A reader that
closes the pipe early (``redactline policy schema | head -1``) ends the command quietly with exit 141
(128 + SIGPIPE, what a shell reports for a command killed by it).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import sys

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LEVEL_ENV = "REDACTLINE_LOG_LEVEL"
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE

# (module, attribute): each module defines register(subparsers) that adds its verbs.
_COMMAND_MODULES = (
    "redactline.policies.cli",  # policy validate|test|diff|explain|schema, eval
    "redactline.pipelines.run_cli",  # run, demo, quarantine show
    "redactline.enclave_sink.cli",  # enclave verify|serve
    "redactline.connectors.llm.prompt_cli",  # prompt
    "redactline.connectors.proxy_cli",  # proxy
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redactline",
        description="Redact records under versioned policies, then seal them for an attested enclave "
        "or send sanitized prompts to an LLM API.",
    )
    parser.add_argument("--version", action="version", version=f"redactline {_version()}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper, default=None,
                        help=f"logging level (default: ${LOG_LEVEL_ENV} or WARNING); DEBUG shows the details "
                        "an error points to (types and code locations, never record values)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # that area has no CLI yet
        module.register(subparsers)
    completion = subparsers.add_parser(
        "completion", help="print a shell completion script (bash or zsh)",
        description="Print a completion script generated from redactline's own parsers. Install with e.g. "
        "'redactline completion bash > ~/.local/share/bash-completion/completions/redactline' or, for "
        "zsh, into a file named _redactline on your $fpath.",
    )
    completion.add_argument("shell", choices=COMPLETION_SHELLS)
    completion.set_defaults(func=lambda args: _completion(parser, args.shell))
    return parser


COMPLETION_SHELLS = ("bash", "zsh")


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    """The script shtab generates from the real parser, so completion never drifts from the flags."""
    import shtab

    sys.stdout.write(shtab.complete(parser, shell=shell))
    return 0


def _version() -> str:
    """The installed distribution's version (package metadata)."""
    try:
        return importlib.metadata.version("redactline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


class LogLevelError(ValueError):
    """``$REDACTLINE_LOG_LEVEL`` names no level."""


def configure_logging(level: str | None = None) -> None:
    """Set the root logger's level: ``level``, else ``$REDACTLINE_LOG_LEVEL``, else WARNING.

    Adds a stderr handler when none is configured (the first call in a process)."""
    name = (level or os.environ.get(LOG_LEVEL_ENV) or "WARNING").strip().upper()
    if name not in LOG_LEVELS:
        raise LogLevelError(f"{LOG_LEVEL_ENV}={name!r}: expected one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(level=name)
    root = logging.getLogger()
    root.setLevel(name)
    for handler in root.handlers:
        if not any(isinstance(f, _BeamImportNoise) for f in handler.filters):
            handler.addFilter(_BeamImportNoise())
    # Beam logs a line at INFO for every string type hint of every DoFn it wraps (dozens per run)
    typehints = logging.getLogger("apache_beam.typehints.native_type_compatibility")
    typehints.setLevel(logging.NOTSET if name == "DEBUG" else logging.WARNING)


class _BeamImportNoise(logging.Filter):
    """Drops the warning every local worker process logs at start, "No semi_persistent_directory found"
    (a directory only container workers have), printed by the worker and again by the runner that
    relays it. (Beam's import-time "apitools not found" is dropped by a filter on the root logger, set
    when the ``redactline`` package is imported.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return "No semi_persistent_directory found" not in (
            message if record.name != "apache_beam.runners.portability.local_job_service"
            else record.getMessage())


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
    except BrokenPipeError:
        # the reader went away: nothing left to say. Point stdout at /dev/null so that the exit flush
        # does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return code


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.log_level)
    except LogLevelError as exc:
        print(f"redactline: error: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
