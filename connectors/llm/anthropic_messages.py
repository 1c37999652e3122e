"""Anthropic Messages API: ``POST {base}/v1/messages`` with ``x-api-key`` and ``anthropic-version``.

The base URL is the host without the version (``https://api.anthropic.com``), as in the official SDK.

Request: ``{"model", "max_tokens" (required by the API), "system"?, "messages": [{"role": "user",
"content"}]}``. Answer: the ``text`` of every ``{"type": "text"}`` block of ``content``, joined; usage
``input_tokens`` / ``output_tokens``, where prompt-cache reads and writes
(``cache_read_input_tokens``, ``cache_creation_input_tokens``) are added to the input side because they
are input tokens too (billed differently, but sent all the same).
"""

from __future__ import annotations

from typing import Any

from .base import ChatClient, Prompt, Usage, non_negative_int

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicMessagesClient(ChatClient):
    provider = "anthropic"
    path = "/v1/messages"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        return headers

    def build_body(self, prompt: Prompt) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "max_tokens": self.settings.max_tokens}
        if prompt.system:
            body["system"] = prompt.system
        body["messages"] = [{"role": "user", "content": prompt.user}]
        return body

    def parse_answer(self, body: Any) -> tuple[str, Usage, str | None]:
        blocks = body["content"]
        if not isinstance(blocks, list):
            raise ValueError("content is not a list")
        texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("no text block")
        usage = body.get("usage") or {}
        input_tokens = sum(non_negative_int(usage.get(k)) for k in
                           ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
        model = body.get("model")
        return (
            "".join(texts),
            Usage(input_tokens, non_negative_int(usage.get("output_tokens"))),
            model if isinstance(model, str) else None,
        )
