"""Build a client from a policy's ``external_api`` destination, and read API keys from the environment.

The API key is read from the environment variable the destination names, here, at build time — on the
worker, never in the driver's pickled pipeline — and a missing variable is an error that names the
variable (never a value). A destination without ``api_key_env`` sends no credentials (a local
OpenAI-compatible server on loopback, for instance).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

import httpx

from .anthropic_messages import AnthropicMessagesClient
from .base import ChatClient, ClientSettings, LlmConfigError, Sleep
from .openai_chat import OpenAIChatClient

CLIENTS: dict[str, type[ChatClient]] = {"openai": OpenAIChatClient, "anthropic": AnthropicMessagesClient}


def read_api_key(variable: str, what: str, environ: Mapping[str, str] | None = None) -> str:
    """The API key in environment variable ``variable``, surrounding white space stripped.

    :class:`LlmConfigError` when it is unset or blank; the message names the variable and ``what`` the
    key is for, never a value. Used by the LLM clients and the proxy's ``--api-key-env``.
    """
    environ = os.environ if environ is None else environ
    key = environ.get(variable, "").strip()
    if not key:
        raise LlmConfigError(f"environment variable {variable} ({what}) is not set or empty")
    return key


def settings_from_destination(destination: Any, name: str,
                              environ: Mapping[str, str] | None = None) -> ClientSettings:
    """``ClientSettings`` for ``destination`` (a ``DestinationConfig`` of kind ``external_api``)."""
    if getattr(destination, "kind", None) != "external_api":
        raise LlmConfigError(f"destination {name!r} is not of kind external_api")
    if destination.provider not in CLIENTS:
        raise LlmConfigError(f"destination {name!r}: unknown provider {destination.provider!r}; "
                             f"expected one of {sorted(CLIENTS)}")
    if not destination.url or not destination.model:
        raise LlmConfigError(f"destination {name!r}: url and model are required")
    api_key = None
    if destination.api_key_env:
        api_key = read_api_key(destination.api_key_env, f"API key of destination {name!r}", environ)
    return ClientSettings(
        base_url=destination.url,
        model=destination.model,
        api_key=api_key,
        max_tokens=destination.max_tokens,
        timeout_s=float(destination.timeout_s),
        connect_timeout_s=min(10.0, float(destination.timeout_s)),
        max_concurrency=destination.max_concurrency,
        max_retries=destination.max_retries,
        name=name,
    )


def client_from_destination(
    destination: Any,
    name: str,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep | None = None,
    rng: random.Random | None = None,
) -> ChatClient:
    """The client for ``destination`` (named ``name`` in the policy); close it (or use ``with``) when done."""
    settings = settings_from_destination(destination, name, environ)
    kwargs: dict[str, Any] = {"transport": transport, "rng": rng}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return CLIENTS[destination.provider](settings, **kwargs)
