"""OpenAI-compatible chat completions: ``POST {base}/chat/completions`` with ``Authorization: Bearer``.

The base URL includes the API version, as in the official SDK (``https://api.openai.com/v1``); the same
wire format is spoken by many compatible servers (vLLM, llama.cpp, Ollama, Azure-style gateways), which
is why the request uses ``max_tokens`` (understood by all of them) rather than OpenAI's newer
``max_completion_tokens``.

Request: ``{"model", "messages": [{"role": "system"|"user", "content"}], "max_tokens"}``.
Answer: ``choices[0].message.content`` (a string, or a list of ``{"type": "text", "text"}`` parts on
some servers); usage ``prompt_tokens`` / ``completion_tokens``. A reply with no text (a refusal, a tool
call) is a ``bad_response``: there is nothing to re-identify and nothing to deliver.
"""

from __future__ import annotations

from typing import Any

from .base import ChatClient, Prompt, Usage, non_negative_int


class OpenAIChatClient(ChatClient):
    provider = "openai"
    path = "/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        key = self.settings.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_body(self, prompt: Prompt) -> dict[str, Any]:
        messages = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": prompt.user})
        return {"model": self.settings.model, "messages": messages, "max_tokens": self.settings.max_tokens}

    def parse_answer(self, body: Any) -> tuple[str, Usage, str | None]:
        message = body["choices"][0]["message"]
        content = message["content"]
        if isinstance(content, list):
            content = "".join(part["text"] for part in content if part.get("type") == "text")
        if not isinstance(content, str):
            raise ValueError("no text content")
        usage = body.get("usage") or {}
        model = body.get("model")
        tokens = Usage(non_negative_int(usage.get("prompt_tokens")),
                       non_negative_int(usage.get("completion_tokens")))
        return content, tokens, model if isinstance(model, str) else None
