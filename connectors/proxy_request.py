"""The proxy's closed request model: what a chat-completions request may hold, and where its text is.

:func:`parse_request` reads a client's JSON body against an explicit allowlist and builds a NEW body from
what it understood; nothing is copied across unread. Every string of an accepted request is one of:

* **text**, redacted under the request's ONE pseudonym context: message content and text parts,
  ``name``, ``refusal``, tool and function descriptions, JSON-schema ``description`` / ``title`` /
  ``$comment`` and the string values of ``examples`` / ``enum`` / ``const`` / ``default``, tool-call
  arguments (parsed as JSON and redacted value by value, numbers included, then re-serialised; arguments
  that are not JSON are redacted as text), stop sequences, prediction content;
* an **identifier** (tool and function names, tool-call ids, schema property names, ``required``
  entries, ``$ref``, ``format``, ``pattern``, object keys inside tool-call arguments and schema values,
  the model name): forwarded as is, and the request is refused when the engine finds an entity in one;
* a **closed value** (``role``, ``type`` fields, ``tool_choice: "auto"`` ...) checked against its
  allowed values; numbers and booleans are type-checked.

Anything else (an unknown key at any level, a list where a string belongs, a role the API does not
have) is refused with a :class:`ProxyRefusal` (HTTP 400) whose message names the field path. Paths use
the API's own field names and indices; a client-chosen key (a schema property, an unknown field) is
shown only when it looks like an API field name (lower-case snake case), else by its position, and a
value is never quoted. ``user`` and ``metadata`` are dropped (free-form identifiers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

REQUEST_ERROR = "redactline_request"

# Refusal codes of the request model (stable: clients may branch on them).
INVALID_MESSAGES = "invalid_messages"  # messages missing, empty or not a list
UNSUPPORTED_FIELD = "unsupported_field"  # a key the proxy does not know, at any level
UNSUPPORTED_CONTENT = "unsupported_content"  # a content part that is not text (image, audio, file)
INVALID_FIELD = "invalid_field"  # wrong type, or a value outside the allowed ones
IDENTIFIER_ENTITY = "identifier_has_entity"  # a name or id in which the engine found an entity

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
DROPPED_TOP_LEVEL = ("user", "metadata")

_MAX_SCHEMA_DEPTH = 32
_MAX_JSON_DEPTH = 64
_SAFE_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ProxyRefusal(Exception):
    """A request the proxy will not forward. ``message`` is PII-free by construction."""

    def __init__(self, status: int, error_type: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code
        self.message = message

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type, "code": self.code, "param": None}}


def _refuse(code: str, message: str) -> ProxyRefusal:
    return ProxyRefusal(400, REQUEST_ERROR, code, message)


class _Pending:
    """Stands where a text goes until it is redacted. Not JSON-serialisable: a slot that was never
    filled breaks the request instead of letting the original through."""

    def __repr__(self) -> str:
        return "<pending>"


PENDING = _Pending()


@dataclass
class TextSlot:
    """A text to redact and how to write its redacted form into the outgoing body."""

    path: str
    text: str
    put: Callable[[str], None]


@dataclass(frozen=True)
class Identifier:
    """A name or id forwarded as is when the engine finds no entity in it (other than ``ignore`` types)."""

    path: str
    value: str
    ignore: frozenset[str] = frozenset()


@dataclass
class ParsedRequest:
    """The outgoing body (texts still :data:`PENDING`), its texts and its identifiers."""

    body: dict[str, Any]
    texts: list[TextSlot]
    identifiers: list[Identifier]
    finishers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    def apply(self, redacted: Sequence[str]) -> dict[str, Any]:
        """Write the redacted texts (in :attr:`texts` order) and re-serialise tool-call arguments."""
        for slot, text in zip(self.texts, redacted, strict=True):
            slot.put(text)
        for finish in self.finishers:
            finish()
        return self.body


def refuse_identifiers(identifiers: Sequence[Identifier], results: Sequence[Iterable[str]]) -> None:
    """:class:`ProxyRefusal` when an identifier has an entity. ``results``: the entity types found in each."""
    flagged = []
    for identifier, types in zip(identifiers, results, strict=True):
        found = sorted(set(types) - identifier.ignore)
        if found:
            flagged.append((identifier.path, found))
    if flagged:
        path, types = flagged[0]
        more = f" (and {len(flagged) - 1} more)" if len(flagged) > 1 else ""
        raise _refuse(IDENTIFIER_ENTITY,
                      f"{path} contains {', '.join(types)}{more}: names and ids are forwarded as they are, "
                      "so they must not hold personal data")


# --- paths ------------------------------------------------------------------------------------------------


def _key_label(key: str, index: int) -> str:
    """A client-chosen key as shown in a path: itself when it looks like an API field name, else its
    position."""
    return key if _SAFE_KEY.fullmatch(key) else f"<key #{index}>"


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


# --- the reader -------------------------------------------------------------------------------------------

Handler = Callable[["_Reader", Any, str, dict[str, Any], str], None]


class _Reader:
    """Collects texts and identifiers while building the outgoing body."""

    def __init__(self) -> None:
        self.texts: list[TextSlot] = []
        self.identifiers: list[Identifier] = []
        self.finishers: list[Callable[[], None]] = []

    # --- leaves ----------------------------------------------------------------------------------
    def text(self, value: Any, path: str, parent: dict[str, Any] | list[Any], key: Any) -> None:
        """``parent[key]`` becomes the redacted form of ``value`` (a string)."""
        if not isinstance(value, str):
            raise _refuse(INVALID_FIELD, f"{path} must be a string")
        parent[key] = PENDING
        self.texts.append(TextSlot(path, value, lambda new, p=parent, k=key: p.__setitem__(k, new)))

    def ident(self, value: Any, path: str, ignore: frozenset[str] = frozenset()) -> str:
        if not isinstance(value, str):
            raise _refuse(INVALID_FIELD, f"{path} must be a string")
        if value:
            self.identifiers.append(Identifier(path, value, ignore))
        return value

    def json_value(self, value: Any, path: str, parent: dict[str, Any] | list[Any], key: Any, depth: int = 0
                   ) -> None:
        """Free JSON data (tool-call arguments, schema examples): every string and number is redacted as
        text, object keys are identifiers."""
        if depth > _MAX_JSON_DEPTH:
            raise _refuse(INVALID_FIELD, f"{path} is nested too deeply")
        if isinstance(value, str):
            self.text(value, path, parent, key)
        elif value is None or isinstance(value, bool):
            parent[key] = value
        elif isinstance(value, int | float):
            # a number can be a card or phone number: redact its text, keep the number when nothing changed
            shown = json.dumps(value)
            parent[key] = PENDING
            self.texts.append(TextSlot(path, shown, lambda new, p=parent, k=key, v=value, s=shown:
                                       p.__setitem__(k, v if new == s else new)))
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            parent[key] = items
            for index, item in enumerate(value):
                self.json_value(item, f"{path}[{index}]", items, index, depth + 1)
        elif isinstance(value, dict):
            out: dict[str, Any] = {}
            parent[key] = out
            for index, (name, item) in enumerate(value.items()):
                self.ident(name, f"{path}.<key #{index}>")
                out[name] = None
                self.json_value(item, _join(path, _key_label(name, index)), out, name, depth + 1)
        else:  # pragma: no cover - json.loads makes nothing else
            raise _refuse(INVALID_FIELD, f"{path} is not JSON")

    def arguments(self, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
        """Tool-call arguments: a JSON text redacted value by value and re-serialised, else text."""
        if not isinstance(value, str):
            raise _refuse(INVALID_FIELD, f"{path} must be a string (JSON text)")
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            self.text(value, path, parent, key)
            return
        holder: list[Any] = [None]
        self.json_value(parsed, path, holder, 0)
        parent[key] = PENDING
        self.finishers.append(lambda: parent.__setitem__(key, json.dumps(holder[0], ensure_ascii=False)))

    # --- JSON schema -------------------------------------------------------------------------------
    def schema(self, value: Any, path: str, parent: dict[str, Any] | list[Any], key: Any, depth: int = 0
               ) -> None:
        if depth > _MAX_SCHEMA_DEPTH:
            raise _refuse(INVALID_FIELD, f"{path} is nested too deeply")
        if isinstance(value, bool):
            parent[key] = value
            return
        if not isinstance(value, dict):
            raise _refuse(INVALID_FIELD, f"{path} must be a JSON schema object")
        out: dict[str, Any] = {}
        parent[key] = out
        for index, (word, item) in enumerate(value.items()):
            kind = _SCHEMA_KEYWORDS.get(word)
            where = _join(path, word if kind is not None else _key_label(word, index))
            if kind is None:
                raise _refuse(UNSUPPORTED_FIELD, f"{where}: not a JSON schema keyword the proxy can redact")
            if kind == "text":
                self.text(item, where, out, word)
            elif kind == "data":
                self.json_value(item, where, out, word)
            elif kind == "data_list":
                _expect_list(item, where)
                self.json_value(item, where, out, word)
            elif kind == "schema":
                self.schema(item, where, out, word, depth + 1)
            elif kind == "schema_or_list":
                if isinstance(item, list):
                    self.schema_list(item, where, out, word, depth)
                else:
                    self.schema(item, where, out, word, depth + 1)
            elif kind == "schema_list":
                self.schema_list(item, where, out, word, depth)
            elif kind == "schema_map":
                named = _expect_object(item, where)
                schemas: dict[str, Any] = {}
                out[word] = schemas
                for position, (name, sub) in enumerate(named.items()):
                    self.ident(name, f"{where}.<key #{position}>")
                    schemas[name] = None
                    self.schema(sub, _join(where, _key_label(name, position)), schemas, name, depth + 1)
            elif kind == "names":
                names = _expect_list(item, where)
                out[word] = [self.ident(name, f"{where}[{i}]") for i, name in enumerate(names)]
            elif kind == "ident":
                out[word] = self.ident(item, where)
            elif kind == "type":
                out[word] = _schema_type(item, where)
            elif kind == "dialect":
                if not isinstance(item, str) or not item.startswith(_DIALECT_PREFIXES):
                    raise _refuse(INVALID_FIELD, f"{where} must be a json-schema.org URL")
                out[word] = item
            elif kind == "number":
                out[word] = _number(item, where)
            else:  # "bool"
                out[word] = _boolean(item, where)

    def schema_list(self, value: Any, path: str, parent: dict[str, Any], key: str, depth: int) -> None:
        items = _expect_list(value, path)
        out: list[Any] = [None] * len(items)
        parent[key] = out
        for index, item in enumerate(items):
            self.schema(item, f"{path}[{index}]", out, index, depth + 1)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DIALECT_PREFIXES = ("https://json-schema.org/", "http://json-schema.org/")
_SCHEMA_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_SCHEMA_KEYWORDS: dict[str, str] = {
    **dict.fromkeys(("description", "title", "$comment"), "text"),
    **dict.fromkeys(("default", "const", "example"), "data"),
    **dict.fromkeys(("enum", "examples"), "data_list"),
    **dict.fromkeys(("additionalProperties", "unevaluatedProperties", "additionalItems", "not", "contains",
                     "propertyNames", "if", "then", "else"), "schema"),
    "items": "schema_or_list",
    **dict.fromkeys(("anyOf", "oneOf", "allOf", "prefixItems"), "schema_list"),
    **dict.fromkeys(("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"),
                    "schema_map"),
    "required": "names",
    **dict.fromkeys(("$ref", "$id", "$anchor", "format", "pattern", "contentEncoding", "contentMediaType"),
                    "ident"),
    "type": "type",
    "$schema": "dialect",
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
                     "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains",
                     "maxContains"), "number"),
    **dict.fromkeys(("uniqueItems", "nullable", "deprecated", "readOnly", "writeOnly"), "bool"),
}


# --- checked scalars --------------------------------------------------------------------------------------


def _expect_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _refuse(INVALID_FIELD, f"{path} must be an object")
    return value


def _expect_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _refuse(INVALID_FIELD, f"{path} must be a list")
    return value


def _check_keys(value: dict[str, Any], allowed: Iterable[str], path: str) -> None:
    allowed = set(allowed)
    for index, key in enumerate(value):
        if key not in allowed:
            where = _join(path, _key_label(key, index))
            raise _refuse(UNSUPPORTED_FIELD, f"{where}: unknown field; the proxy forwards only the fields it "
                          "can redact")


def _number(value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse(INVALID_FIELD, f"{path} must be a number")
    return value


def _integer(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(INVALID_FIELD, f"{path} must be an integer")
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _refuse(INVALID_FIELD, f"{path} must be true or false")
    return value


def _choice(value: Any, path: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _refuse(INVALID_FIELD, f"{path} must be one of {', '.join(allowed)}")
    return value


def _schema_type(value: Any, path: str) -> str | list[str]:
    if isinstance(value, list):
        return [_choice(item, f"{path}[{i}]", _SCHEMA_TYPES) for i, item in enumerate(value)]
    return _choice(value, path, _SCHEMA_TYPES)


def _nullable(check: Callable[[Any, str], Any]) -> Handler:
    def handler(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
        parent[key] = None if value is None else check(value, path)

    return handler


def _one_of(*allowed: str) -> Handler:
    return _nullable(lambda value, path: _choice(value, path, allowed))


# --- messages ---------------------------------------------------------------------------------------------

_MESSAGE_KEYS = ("role", "content", "name", "refusal", "tool_call_id", "tool_calls", "function_call")
_PART_TYPES: Mapping[str, tuple[str, ...]] = {"text": ("text",), "refusal": ("refusal",)}


def _parts(r: _Reader, value: list[Any], path: str, parent: dict[str, Any] | list[Any], key: Any,
           types: Mapping[str, tuple[str, ...]] = _PART_TYPES) -> None:
    """Content parts ``{"type": T, <text field>: str}``; ``types`` maps each allowed type to its keys
    (the first is the text field; an ``annotations`` key must be an empty list)."""
    out: list[Any] = [None] * len(value)
    parent[key] = out
    for index, part in enumerate(value):
        where = f"{path}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in types:  # a list or object "type" is no key of types
            shown = kind if isinstance(kind, str) and _SAFE_KEY.fullmatch(kind) else "unknown"
            raise ProxyRefusal(400, REQUEST_ERROR, UNSUPPORTED_CONTENT,
                               f"{where}: {shown} parts cannot be redacted; only text is forwarded")
        assert isinstance(part, dict)
        keys = types[kind]
        _check_keys(part, ("type", *keys), where)
        copy: dict[str, Any] = {"type": kind}
        out[index] = copy
        r.text(part.get(keys[0]), f"{where}.{keys[0]}", copy, keys[0])
        if "annotations" in part:
            if _expect_list(part["annotations"], f"{where}.annotations"):
                raise _refuse(INVALID_FIELD, f"{where}.annotations must be empty")
            copy["annotations"] = []


def _content(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
    elif isinstance(value, str):
        r.text(value, path, parent, key)
    elif isinstance(value, list):
        _parts(r, value, path, parent, key)
    else:
        raise _refuse(INVALID_FIELD, f"{path} must be a string, a list of text parts or null")


def _function_call(r: _Reader, value: Any, path: str) -> dict[str, Any]:
    """``{"name", "arguments"}`` of a tool call or a legacy function call in the history."""
    call = _expect_object(value, path)
    _check_keys(call, ("name", "arguments"), path)
    out: dict[str, Any] = {}
    if "name" in call:
        out["name"] = r.ident(call["name"], f"{path}.name")
    if "arguments" in call:
        r.arguments(call["arguments"], f"{path}.arguments", out, "arguments")
    return out


def _tool_calls(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    calls = _expect_list(value, path)
    out = []
    for index, call in enumerate(calls):
        where = f"{path}[{index}]"
        call = _expect_object(call, where)
        _check_keys(call, ("id", "type", "function"), where)
        copy: dict[str, Any] = {}
        if "id" in call:
            copy["id"] = r.ident(call["id"], f"{where}.id")
        if "type" in call:
            copy["type"] = _choice(call["type"], f"{where}.type", ("function",))
        if "function" in call:
            copy["function"] = _function_call(r, call["function"], f"{where}.function")
        out.append(copy)
    parent[key] = out


def _message(r: _Reader, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, f"{path} is not an object")
    _check_keys(value, _MESSAGE_KEYS, path)
    out: dict[str, Any] = {"role": _choice(value.get("role"), f"{path}.role", ROLES)}
    for key, item in value.items():
        where = f"{path}.{key}"
        if key == "content":
            _content(r, item, where, out, key)
        elif key in ("name", "refusal"):
            if item is None:
                out[key] = None
            else:
                r.text(item, where, out, key)
        elif key == "tool_call_id":
            out[key] = r.ident(item, where)
        elif key == "tool_calls":
            _tool_calls(r, item, where, out, key)
        elif key == "function_call":
            out[key] = None if item is None else _function_call(r, item, where)
    return out


def _messages(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if not isinstance(value, list) or not value:
        raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, "messages must be a non-empty list")
    parent[key] = [_message(r, message, f"{path}[{index}]") for index, message in enumerate(value)]


# --- tools, functions, formats ----------------------------------------------------------------------------


def _function_definition(r: _Reader, value: Any, path: str, keys: Sequence[str]) -> dict[str, Any]:
    function = _expect_object(value, path)
    _check_keys(function, keys, path)
    if "name" not in function:
        raise _refuse(INVALID_FIELD, f"{path}.name is required")
    out: dict[str, Any] = {}
    for key, item in function.items():
        where = f"{path}.{key}"
        if key == "name":
            out[key] = r.ident(item, where)
        elif key == "description":
            r.text(item, where, out, key)
        elif key in ("parameters", "schema"):
            r.schema(_expect_object(item, where), where, out, key)
        else:  # strict
            out[key] = None if item is None else _boolean(item, where)
    return out


def _tools(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    out = []
    for index, tool in enumerate(_expect_list(value, path)):
        where = f"{path}[{index}]"
        tool = _expect_object(tool, where)
        _check_keys(tool, ("type", "function"), where)
        _choice(tool.get("type"), f"{where}.type", ("function",))
        out.append({"type": "function", "function": _function_definition(
            r, tool.get("function"), f"{where}.function", ("name", "description", "parameters", "strict"))})
    parent[key] = out


def _functions(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    parent[key] = [_function_definition(r, item, f"{path}[{index}]", ("name", "description", "parameters"))
                   for index, item in enumerate(_expect_list(value, path))]


def _named(r: _Reader, value: Any, path: str) -> dict[str, Any]:
    named = _expect_object(value, path)
    _check_keys(named, ("name",), path)
    return {"name": r.ident(named.get("name"), f"{path}.name")}


def _tool_choice(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None or isinstance(value, str):
        parent[key] = None if value is None else _choice(value, path, ("none", "auto", "required"))
        return
    choice = _expect_object(value, path)
    _check_keys(choice, ("type", "function"), path)
    _choice(choice.get("type"), f"{path}.type", ("function",))
    parent[key] = {"type": "function", "function": _named(r, choice.get("function"), f"{path}.function")}


def _legacy_function_call(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None or isinstance(value, str):
        parent[key] = None if value is None else _choice(value, path, ("none", "auto"))
    else:
        parent[key] = _named(r, value, path)


def _response_format(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
        return
    fmt = _expect_object(value, path)
    kind = _choice(fmt.get("type"), f"{path}.type", ("text", "json_object", "json_schema"))
    if kind != "json_schema":
        _check_keys(fmt, ("type",), path)
        parent[key] = {"type": kind}
        return
    _check_keys(fmt, ("type", "json_schema"), path)
    parent[key] = {"type": kind, "json_schema": _function_definition(
        r, fmt.get("json_schema"), f"{path}.json_schema", ("name", "description", "schema", "strict"))}


def _stop(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
    elif isinstance(value, list):
        out: list[Any] = [None] * len(value)
        parent[key] = out
        for index, item in enumerate(value):
            r.text(item, f"{path}[{index}]", out, index)
    else:
        r.text(value, path, parent, key)


def _prediction(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
        return
    prediction = _expect_object(value, path)
    _check_keys(prediction, ("type", "content"), path)
    out: dict[str, Any] = {"type": _choice(prediction.get("type"), f"{path}.type", ("content",))}
    parent[key] = out
    content = prediction.get("content")
    if isinstance(content, list):
        _parts(r, content, f"{path}.content", out, "content", {"text": ("text",)})
    else:
        r.text(content, f"{path}.content", out, "content")


def _stream_options(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
        return
    options = _expect_object(value, path)
    _check_keys(options, ("include_usage", "include_obfuscation"), path)
    parent[key] = {k: _boolean(v, f"{path}.{k}") for k, v in options.items()}


_TOKEN_ID = re.compile(r"\d{1,7}")


def _logit_bias(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    if value is None:
        parent[key] = None
        return
    out = {}
    for index, (token, bias) in enumerate(_expect_object(value, path).items()):
        if not _TOKEN_ID.fullmatch(token):
            raise _refuse(INVALID_FIELD, f"{path}.<key #{index}> must be a token id")
        out[token] = _number(bias, f"{path}.{token}")
    parent[key] = out


def _modalities(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    parent[key] = None if value is None else [
        _choice(item, f"{path}[{index}]", ("text",)) for index, item in enumerate(_expect_list(value, path))]


def _model(r: _Reader, value: Any, path: str, parent: dict[str, Any], key: str) -> None:
    # model names carry snapshot dates (gpt-4o-2024-08-06): a date alone does not refuse them
    parent[key] = r.ident(value, path, ignore=frozenset({"DATE_TIME"}))


_TOP_LEVEL: dict[str, Handler] = {
    "model": _model,
    "messages": _messages,
    **dict.fromkeys(("temperature", "top_p", "presence_penalty", "frequency_penalty"), _nullable(_number)),
    **dict.fromkeys(("n", "max_tokens", "max_completion_tokens", "seed", "top_logprobs"),
                    _nullable(_integer)),
    **dict.fromkeys(("stream", "logprobs", "parallel_tool_calls", "store"), _nullable(_boolean)),
    "stream_options": _stream_options,
    "logit_bias": _logit_bias,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "functions": _functions,
    "function_call": _legacy_function_call,
    "response_format": _response_format,
    "stop": _stop,
    "prediction": _prediction,
    "modalities": _modalities,
    "reasoning_effort": _one_of("minimal", "low", "medium", "high"),
    "verbosity": _one_of("low", "medium", "high"),
    "service_tier": _one_of("auto", "default", "flex", "scale", "priority"),
}
TOP_LEVEL_FIELDS = (*_TOP_LEVEL, *DROPPED_TOP_LEVEL)


def _parse_fields(body: dict[str, Any], fields: Mapping[str, Handler], required: tuple[str, ...],
                 dropped: tuple[str, ...] = DROPPED_TOP_LEVEL) -> ParsedRequest:
    """``body`` read field by field with ``fields`` (``dropped`` ones skipped, an unknown one refused)."""
    reader = _Reader()
    out: dict[str, Any] = {}
    for name in required:
        if name not in body:
            raise _refuse(INVALID_FIELD, f"{name} is required")
    for index, (key, value) in enumerate(body.items()):
        if key in dropped:
            continue
        handler = fields.get(key)
        if handler is None:
            raise _refuse(UNSUPPORTED_FIELD, f"{_key_label(key, index)}: unknown top-level field; the proxy "
                          "forwards only the fields it can redact")
        handler(reader, value, key, out, key)
    return ParsedRequest(out, reader.texts, reader.identifiers, reader.finishers)


def parse_request(body: dict[str, Any]) -> ParsedRequest:
    """The request as the proxy will forward it (texts pending redaction), or :class:`ProxyRefusal` (400)."""
    if "messages" not in body:
        raise ProxyRefusal(400, REQUEST_ERROR, INVALID_MESSAGES, "messages must be a non-empty list")
    return _parse_fields(body, _TOP_LEVEL, ("model",))
