"""Clients for external LLM APIs: OpenAI-compatible chat completions and the Anthropic Messages API.

They only move *already sanitized* prompts and bring back answers that still hold placeholders;
redaction before and re-identification after are the egress exchange's job
(:mod:`redactline.policies.exchange`, called by ``pipelines/llm_stage.py``, ``prompt_cli.py`` here and
``connectors/proxy.py``). No Beam and no enclave code here, so the ``redactline prompt`` command and the
proxy start fast.

    from redactline.connectors.llm import Prompt, client_from_destination

    with client_from_destination(policy.destinations["gpt"], "gpt") as client:
        answer = client.complete(Prompt("Summarise: <PERSON_1> called about the invoice."))
        results = client.complete_many([Prompt(...), Prompt(...)])  # Answer | LlmError, in order
"""

from .anthropic_messages import ANTHROPIC_VERSION, AnthropicMessagesClient
from .base import (
    BAD_RESPONSE,
    HTTP_STATUS,
    NETWORK,
    RETRY_AFTER_TOO_LONG,
    TIMEOUT,
    Answer,
    ChatClient,
    ClientSettings,
    LlmConfigError,
    LlmError,
    Prompt,
    Usage,
)
from .factory import (
    CLIENTS,
    client_from_destination,
    read_api_key,
    settings_from_destination,
)
from .openai_chat import OpenAIChatClient

__all__ = [
    "ANTHROPIC_VERSION",
    "BAD_RESPONSE",
    "CLIENTS",
    "HTTP_STATUS",
    "NETWORK",
    "RETRY_AFTER_TOO_LONG",
    "TIMEOUT",
    "AnthropicMessagesClient",
    "Answer",
    "ChatClient",
    "ClientSettings",
    "LlmConfigError",
    "LlmError",
    "OpenAIChatClient",
    "Prompt",
    "Usage",
    "client_from_destination",
    "read_api_key",
    "settings_from_destination",
]
