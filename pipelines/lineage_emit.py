"""Where a run's OpenLineage events go: the ``openlineage-python`` client's transports, as configured.

Nothing is sent unless configured. ``--lineage-transport`` takes:

* ``console``: each event as one JSON line on stderr (the client's console transport);
* ``file:PATH``: each event appended as one JSON line to the local file PATH (the file transport);
* ``http:URL``: POST to a lineage backend such as Marquez (the HTTP transport): ``URL`` is the server
  (events go to ``URL/api/v1/lineage``) or, with a path, the full endpoint; a bearer key comes from
  ``$OPENLINEAGE_API_KEY``, never from the URL (a user, password or query in it is refused);
* ``none``: send nothing, whatever the environment says.

Without the flag the client's own configuration applies when there is one: ``$OPENLINEAGE_URL`` (with
``$OPENLINEAGE_ENDPOINT``, ``$OPENLINEAGE_API_KEY``), ``$OPENLINEAGE_CONFIG`` (a YAML file, any of the
client's transports, e.g. ``composite`` or ``kafka`` when its package is installed),
``OPENLINEAGE__TRANSPORT__...`` variables, or an ``openlineage.yml`` in the working directory or
``~/.openlineage/``. ``OPENLINEAGE_DISABLED=true`` turns it off.

A lineage backend that cannot be reached does not fail the run: the event is reported as not sent (the
exception type and the safe target, no event content) and the manifest still embeds the final event.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "api/v1/lineage"
_ENV_SWITCHES = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")


class LineageConfigError(ValueError):
    """A ``--lineage-transport`` value or lineage configuration that cannot be used (exit 2)."""


@dataclass
class Emitter:
    """Sends events through one configured client; ``target`` describes it without credentials."""

    client: Any
    target: str

    def emit(self, event: Any) -> bool:
        """Send ``event``; False (with a warning naming the failure's type) when the transport failed."""
        try:
            self.client.emit(event)
        except Exception as exc:  # noqa: BLE001 - any transport failure: lineage never fails the run
            log.warning("OpenLineage %s event not sent to %s (%s)", event.eventType.value, self.target,
                        type(exc).__name__)
            return False
        return True

    def close(self) -> None:
        try:
            self.client.close(5.0)
        except Exception:  # noqa: BLE001 - closing a transport must not fail the run either
            log.debug("closing the OpenLineage transport failed", exc_info=True)


def configured_by_environment() -> bool:
    """Whether the client's own configuration (environment or a YAML file it reads) names a transport."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if any(os.environ.get(name) for name in _ENV_SWITCHES):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT") for k in os.environ):
        return True
    return Path("openlineage.yml").is_file() or (Path.home() / ".openlineage" / "openlineage.yml").is_file()


def configure(spec: str | None) -> Emitter | None:
    """The emitter for ``--lineage-transport spec`` (None: the environment's), or None when nothing is
    configured. Raises :class:`LineageConfigError` for a value that cannot be used."""
    if spec is not None and spec.strip().lower() == "none":
        return None
    if spec is None and not configured_by_environment():
        return None
    _quiet_client_logs()
    try:
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport import get_default_factory

        with _environment_kept():
            if spec is None:
                client = OpenLineageClient()
                return Emitter(client, f"the configured {client.transport.kind} transport")
            config, target = _transport_config(spec)
            transport = get_default_factory().create(config)
            return Emitter(OpenLineageClient(transport=transport), target)
    except LineageConfigError:
        raise
    except Exception as exc:  # the client's own configuration errors (YAML, unknown transport type)
        # the message may quote configuration values (keys): name the type only
        raise LineageConfigError(f"OpenLineage configuration cannot be used ({type(exc).__name__})") from None


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """The client copies ``$OPENLINEAGE_URL`` and the API key into new ``OPENLINEAGE__TRANSPORT__...``
    variables of this process (inherited by every child) when it is built; it reads them only then."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(before):
            if name.startswith("OPENLINEAGE__"):
                del os.environ[name]


def _transport_config(spec: str) -> tuple[dict[str, Any], str]:
    """The client's transport configuration for ``--lineage-transport spec`` and a safe description."""
    kind, sep, value = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "console" and not sep:
        _console_to_stderr()
        return {"type": "console"}, "the console (stderr)"
    if kind == "file" and value:
        if "://" in value:
            raise LineageConfigError(f"--lineage-transport {spec}: file: takes a local path")
        path = Path(value).expanduser().absolute()
        if not path.parent.is_dir():
            raise LineageConfigError(f"--lineage-transport {spec}: directory {path.parent} does not exist")
        return {"type": "file", "log_file_path": str(path), "append": True}, str(path)
    if kind == "http" and value:
        return _http_config(spec, value)
    raise LineageConfigError(f"--lineage-transport {spec!r}: expected console, file:PATH, http:URL or none")


def _http_config(spec: str, url: str) -> tuple[dict[str, Any], str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LineageConfigError(f"--lineage-transport http:URL needs an http(s) URL with a host: {spec!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise LineageConfigError("--lineage-transport http:URL: no user, password, query or fragment in the "
                                 "URL; give a key in $OPENLINEAGE_API_KEY")
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.lstrip("/")
    endpoint = path + DEFAULT_ENDPOINT if not path or path.endswith("/") else path
    # the client's default retries take ~9 s per event against a backend that is down; the run waits
    config: dict[str, Any] = {"type": "http", "url": base, "endpoint": endpoint, "timeout": 5.0,
                              "retry": {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.3}}
    key = os.environ.get("OPENLINEAGE_API_KEY")
    if key:
        config["auth"] = {"type": "api_key", "apiKey": key}
    return config, f"{base}/{endpoint}"


def _quiet_client_logs() -> None:
    """The client logs whole configurations (keys included) and events at DEBUG: keep it at WARNING,
    whatever ``--log-level`` says (the console transport's own logger is set apart)."""
    logging.getLogger("openlineage").setLevel(logging.WARNING)


def _console_to_stderr() -> None:
    """The console transport logs each event at INFO; show exactly those lines on stderr."""
    console = logging.getLogger("openlineage.client.transport.console")
    console.setLevel(logging.INFO)
    console.propagate = False
    if not any(isinstance(h, _StderrHandler) for h in console.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        console.addHandler(handler)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when the handler was made)."""

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass
