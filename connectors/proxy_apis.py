"""The proxy's other request models: OpenAI Responses and embeddings, and the Anthropic Messages API.

Same rule as :mod:`redactline.connectors.proxy_request` (whose reader this module reuses): a NEW body is
built from an explicit allowlist, every forwarded string is text (redacted under the request's one
pseudonym context), an identifier (refused when the engine finds an entity in it) or a checked closed
value; anything else is a 400 naming the field path.

* ``POST /v1/responses`` (OpenAI Responses API): ``input`` as a string or a list of messages (text
  parts only: ``input_text`` / ``output_text`` / ``refusal``), ``instructions``; answers have
  ``output[].content[].text`` (and ``refusal``, reasoning summaries, the echoed ``instructions``, and
  ``output_text`` when present) re-identified. Stored-conversation references (``previous_response_id``,
  ``conversation``), tools and streaming are refused: the proxy cannot redact or re-identify them.
* ``POST /v1/embeddings``: ``input`` as a string or a list of strings (token arrays are refused: they
  cannot be redacted); the vectors come back untouched (they hold no text).
* ``POST /v1/messages`` (Anthropic Messages, when the upstream speaks it): ``system`` and ``messages``
  (string or text blocks), ``stop_sequences``; answers have ``content[].text`` re-identified. Streaming,
  tools and images are refused.
"""

from __future__ import annotations

from typing import Any

from .proxy_request import (
    INVALID_FIELD,
    INVALID_MESSAGES,
    REQUEST_ERROR,
    UNSUPPORTED_CONTENT,
    UNSUPPORTED_FIELD,
    Handler,
    ParsedRequest,
    ProxyRefusal,
    _boolean,
    _check_keys,
    _choice,
    _expect_list,
    _expect_object,
    _integer,
    _model,
    _nullable,
    _number,
    _one_of,
    _parse_fields,
    _parts,
    _Reader,
    _refuse,
    _stop,
)

# --- OpenAI Responses ---------------------------------------------------------------------------------------

_RESPONSES_ROLES = ("user", "assistant", "system", "developer")
_RESPONSES_PARTS = {"input_text": ("text",), "output_text": ("text", "annotations"),
                    "refusal": ("refusal",)}


def _responses_input(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if isinstance(value, str):
        r.text(value, path, parent, key)
        return
    if not isinstance(value, list) or not value:
        raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, "input must be a string or a non-empty list")
    items: list[Any] = [None] * len(value)
    parent[key] = items
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, f"{where} is not an object")
        if item.get("type", "message") != "message":
            raise ProxyRefusal(400, REQUEST_ERROR, UNSUPPORTED_CONTENT,
                               f"{where}.type: only message items are forwarded (no tool calls, files or "
                               "item references)")
        _check_keys(item, ("type", "role", "content"), where)
        copy: dict[str, Any] = {"role": _choice(item.get("role"), f"{where}.role", _RESPONSES_ROLES)}
        if "type" in item:
            copy["type"] = "message"
        items[index] = copy
        content = item.get("content")
        if isinstance(content, str):
            r.text(content, f"{where}.content", copy, "content")
        elif isinstance(content, list):
            _parts(r, content, f"{where}.content", copy, "content", _RESPONSES_PARTS)
        else:
            raise _refuse(INVALID_FIELD, f"{where}.content must be a string or a list of text parts")


def _instructions(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
    else:
        r.text(value, path, parent, key)


def _responses_text(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    """``text: {"format": {"type": "text" | "json_object"}, "verbosity"}``; schemas go through chat."""
    if value is None:
        parent[key] = None
        return
    options = _expect_object(value, path)
    _check_keys(options, ("format", "verbosity"), path)
    out: dict[str, Any] = {}
    if "format" in options:
        fmt = _expect_object(options["format"], f"{path}.format")
        _check_keys(fmt, ("type",), f"{path}.format")
        out["format"] = {"type": _choice(fmt.get("type"), f"{path}.format.type", ("text", "json_object"))}
    if "verbosity" in options:
        out["verbosity"] = _choice(options["verbosity"], f"{path}.verbosity", ("low", "medium", "high"))
    parent[key] = out


def _reasoning(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
        return
    options = _expect_object(value, path)
    _check_keys(options, ("effort", "summary"), path)
    out: dict[str, Any] = {}
    if "effort" in options:
        out["effort"] = _choice(options["effort"], f"{path}.effort", ("minimal", "low", "medium", "high"))
    if "summary" in options:
        out["summary"] = _choice(options["summary"], f"{path}.summary", ("auto", "concise", "detailed"))
    parent[key] = out


def _not_streaming(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value not in (None, False):
        raise _refuse(UNSUPPORTED_FIELD, f"{path}: the proxy does not stream this API; send stream: false")
    parent[key] = False


_RESPONSES_FIELDS: dict[str, Handler] = {
    "model": _model,
    "input": _responses_input,
    "instructions": _instructions,
    **dict.fromkeys(("temperature", "top_p"), _nullable(_number)),
    **dict.fromkeys(("max_output_tokens", "top_logprobs"), _nullable(_integer)),
    "store": _nullable(_boolean),
    "stream": _not_streaming,
    "text": _responses_text,
    "reasoning": _reasoning,
    "truncation": _one_of("auto", "disabled"),
    "service_tier": _one_of("auto", "default", "flex", "scale", "priority"),
}


def parse_responses_request(body: dict[str, Any]) -> ParsedRequest:
    """A Responses API request as the proxy forwards it (texts pending), or :class:`ProxyRefusal`."""
    return _parse_fields(body, _RESPONSES_FIELDS, ("model", "input"))


def _restore(holder: dict[str, Any], key: str, vault: Any) -> None:
    if isinstance(holder.get(key), str):
        holder[key] = vault.reidentify(holder[key])


def reidentify_response(body: Any, vault: Any) -> Any:
    """Re-identify a Responses API answer in place: message text and refusals, reasoning summaries, the
    echoed ``instructions`` and ``output_text``."""
    if not isinstance(body, dict):
        return body
    for item in body.get("output") or []:
        if not isinstance(item, dict):
            continue
        for part in (*(item.get("content") or []), *(item.get("summary") or [])):
            if isinstance(part, dict):
                _restore(part, "text", vault)
                _restore(part, "refusal", vault)
    _restore(body, "output_text", vault)
    _restore(body, "instructions", vault)
    return body


# --- OpenAI embeddings --------------------------------------------------------------------------------------


def _embedding_input(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if isinstance(value, str):
        r.text(value, path, parent, key)
        return
    items = _expect_list(value, path)
    if not items:
        raise _refuse(INVALID_FIELD, f"{path} must not be empty")
    out: list[Any] = [None] * len(items)
    parent[key] = out
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ProxyRefusal(400, REQUEST_ERROR, UNSUPPORTED_CONTENT,
                               f"{path}[{index}]: only strings are forwarded (token arrays cannot be "
                               "redacted)")
        r.text(item, f"{path}[{index}]", out, index)


_EMBEDDINGS_FIELDS: dict[str, Handler] = {
    "model": _model,
    "input": _embedding_input,
    "encoding_format": _one_of("float", "base64"),
    "dimensions": _nullable(_integer),
}


def parse_embeddings_request(body: dict[str, Any]) -> ParsedRequest:
    """An embeddings request as the proxy forwards it (inputs pending), or :class:`ProxyRefusal`."""
    return _parse_fields(body, _EMBEDDINGS_FIELDS, ("model", "input"))


# --- Anthropic Messages -----------------------------------------------------------------------------------

_ANTHROPIC_BLOCKS = {"text": ("text",)}


def _anthropic_content(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if isinstance(value, str):
        r.text(value, path, parent, key)
    elif isinstance(value, list):
        _parts(r, value, path, parent, key, _ANTHROPIC_BLOCKS)
    else:
        raise _refuse(INVALID_FIELD, f"{path} must be a string or a list of text blocks")


def _anthropic_messages(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if not isinstance(value, list) or not value:
        raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, "messages must be a non-empty list")
    out: list[Any] = []
    for index, message in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(message, dict):
            raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, f"{where} is not an object")
        _check_keys(message, ("role", "content"), where)
        copy: dict[str, Any] = {"role": _choice(message.get("role"), f"{where}.role", ("user", "assistant"))}
        out.append(copy)
        _anthropic_content(r, message.get("content"), f"{where}.content", copy, "content")
    parent[key] = out


def _stop_sequences(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    _expect_list(value, path)
    _stop(r, value, path, parent, key)


_ANTHROPIC_FIELDS: dict[str, Handler] = {
    "model": _model,
    "max_tokens": lambda r, v, p, parent, k: parent.__setitem__(k, _integer(v, p)),
    "messages": _anthropic_messages,
    "system": _anthropic_content,
    **dict.fromkeys(("temperature", "top_p"), _nullable(_number)),
    "top_k": _nullable(_integer),
    "stop_sequences": _stop_sequences,
    "stream": _not_streaming,
}


def parse_anthropic_request(body: dict[str, Any]) -> ParsedRequest:
    """An Anthropic Messages request as the proxy forwards it, or :class:`ProxyRefusal`."""
    return _parse_fields(body, _ANTHROPIC_FIELDS, ("model", "max_tokens", "messages"), dropped=("metadata",))


def message_texts(body: Any) -> list[tuple[dict[str, Any], str]]:
    """The (holder, key) of every text block of an Anthropic answer."""
    if not isinstance(body, dict):
        return []
    return [(block, "text") for block in body.get("content") or []
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)]


def reidentify_message(body: Any, vault: Any) -> Any:
    """Re-identify an Anthropic Messages answer in place (``content[].text``)."""
    for holder, key in message_texts(body):
        holder[key] = vault.reidentify(holder[key])
    return body
