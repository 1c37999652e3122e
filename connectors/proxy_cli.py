"""``redactline proxy``: a local OpenAI-compatible endpoint that redacts requests and re-identifies answers.

Heavy imports (Presidio/spaCy, Starlette, uvicorn, httpx) happen inside the functions, never at import
time, so ``redactline --help`` stays instant.
Exit codes: 0 after a clean shutdown, 2 on a usage, policy or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Mapping
from typing import Any

EXIT_USAGE = 2
DEFAULT_PORT = 8787

_DESCRIPTION = """\
Serve POST /v1/chat/completions (streaming and not), POST /v1/responses and POST /v1/embeddings (not
streaming) and GET /v1/models on HTTP, so that existing OpenAI clients get redaction and
re-identification without code changes:

  redactline proxy --policy policy.yaml --upstream https://api.openai.com/v1 --api-key-env OPENAI_API_KEY
  OPENAI_BASE_URL=http://127.0.0.1:8787/v1 python my_app.py

Every message's text is redacted with the policy under one pseudonym context per request (the same
<PERSON_1> in every message), sent upstream, and the answer's placeholders are restored locally.
Embedding inputs are redacted the same way; the vectors come back as they are. With an Anthropic
upstream (--upstream-format anthropic, or a destination with provider anthropic) the proxy serves
POST /v1/messages (Anthropic Messages API, not streaming) instead. --scan-answers (or the destination's
scan_answers) scans answers for personal data the prompt did not carry: flag counts it (response header
x-redactline-answer-entities, a log line with entity types), redact replaces it with [ENTITY_TYPE].
Images, audio and files are refused (they cannot be redacted). Requests are redacted concurrently (--workers
engines), each within the policy's detection.budget: a request over it gets HTTP 413 (oversize) or 422
(engine_timeout) and is never sent. With --destination, the destination's
egress controls (never_send, allowed_entities, jurisdictions) and the policy's residency rules apply,
for the jurisdiction given by --jurisdiction; a refused request gets HTTP 403 and is never sent.

The request model is closed: every string of a request is redacted (messages, names, tool and function
descriptions, JSON-schema descriptions and examples, tool-call arguments value by value, stop sequences,
prediction content), or is a name or id that must hold no personal data, or a checked value such as
"auto"; any other field is refused with HTTP 400 naming its path. Only local programs may use the proxy:
a request whose Host is not the proxy's loopback address and port, with an Origin header (a web page) or
with a Content-Type other than application/json gets HTTP 403. With --require-token-env, clients must
also send "Authorization: Bearer <token>" (HTTP 401 otherwise) and their Authorization header is never
forwarded. Nothing logged contains message text.
"""


def register(subparsers: Any) -> None:
    """Add the ``proxy`` verb to the top-level ``redactline`` parser."""
    p = subparsers.add_parser(
        "proxy",
        help="local OpenAI-compatible proxy: redact chat requests, re-identify answers",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--policy", required=True, metavar="FILE", help="policy file (YAML)")
    p.add_argument(
        "--upstream", metavar="URL",
        help="OpenAI-compatible base URL, as an SDK's base_url (e.g. https://api.openai.com/v1); "
        "default: the --destination's url. Plain http only to loopback",
    )
    p.add_argument(
        "--destination", metavar="NAME",
        help="an external_api destination of the policy: its egress controls and residency apply, and its "
        "url/api_key_env/provider/scan_answers are the defaults",
    )
    p.add_argument(
        "--upstream-format", choices=("openai", "anthropic"),
        help="the upstream's API: openai (chat completions, responses, embeddings; base URL with /v1) or "
        "anthropic (messages; base URL without the version). Default: the destination's provider, else "
        "openai",
    )
    p.add_argument(
        "--scan-answers", choices=("off", "flag", "redact"),
        help="scan answers for personal data the prompt did not carry (default: the destination's "
        "scan_answers, else off); not with streaming requests, nor (redact) with logprobs",
    )
    p.add_argument(
        "--api-key-env", metavar="VAR",
        help="environment variable holding the upstream API key (default: the destination's api_key_env; "
        "with neither, the client's Authorization header is forwarded)",
    )
    p.add_argument(
        "--require-token-env", metavar="VAR",
        help="environment variable holding a local token: clients must send 'Authorization: Bearer <token>' "
        "(compared in constant time; HTTP 401 otherwise), and their Authorization header is never forwarded "
        "upstream (the upstream key comes from --api-key-env or the destination)",
    )
    p.add_argument(
        "--jurisdiction", metavar="CODE",
        help="jurisdiction of the data sent through this proxy (ISO 3166 code or group such as EU), "
        "for residency and destination jurisdictions; unknown when omitted (fails closed where it matters)",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"listen port (default {DEFAULT_PORT})")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS", help="upstream timeout (120)")
    p.add_argument(
        "--header-timeout", type=float, default=10.0, metavar="SECONDS",
        help="a request line and headers must arrive in full within this time, else 408 and the "
        "connection is closed (slow clients, slowloris; 10)",
    )
    p.add_argument(
        "--max-body-bytes", type=int, default=16 * 1024 * 1024, metavar="N",
        help="request size limit (16 MiB)",
    )
    p.add_argument(
        "--workers", type=int, default=2, metavar="N",
        help="requests redacted at the same time, one policy engine each (each loads spaCy; default 2). "
        "Each request is bounded by the policy's detection.budget: over it, HTTP 413 or 422, never sent",
    )
    p.set_defaults(func=_cmd_proxy)


def _fail(message: str) -> int:
    print(f"redactline proxy: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def build_config(args: argparse.Namespace, policy: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A :class:`~redactline.connectors.proxy.ProxyConfig` from the options; ValueError names the option."""
    from redactline.policies.destinations import check_api_url, lookup_destination
    from redactline.policies.regions import parse_jurisdiction

    from .llm.factory import read_api_key
    from .proxy import ProxyConfig

    destination = None
    if args.destination is not None:
        destination = lookup_destination(policy.destinations, args.destination, "external_api")
    upstream_format = getattr(args, "upstream_format", None) or \
        (destination.provider if destination is not None and destination.provider else "openai")
    if destination is not None and destination.provider != upstream_format:
        raise ValueError(f"--upstream-format {upstream_format}: destination {args.destination} has provider "
                         f"{destination.provider}")
    scan = getattr(args, "scan_answers", None) or \
        (destination.scan_answers if destination is not None and destination.scan_answers else "off")
    upstream = args.upstream or (destination.url if destination is not None else None)
    if not upstream:
        raise ValueError("--upstream URL is required (or a --destination with a url)")
    try:
        check_api_url(upstream)
    except ValueError as exc:
        raise ValueError(f"--upstream: {str(exc).removeprefix('url: ')}") from None
    key_env = args.api_key_env or (destination.api_key_env if destination is not None else None)
    api_key = read_api_key(key_env, "upstream API key", environ) if key_env else None
    token_env = args.require_token_env
    local_token = read_api_key(token_env, "local proxy token", environ) if token_env else None
    jurisdiction = parse_jurisdiction(args.jurisdiction)
    if args.port < 0 or args.port > 65535:
        raise ValueError("--port must be 0..65535")
    return ProxyConfig(
        upstream=upstream,
        api_key=api_key,
        destination_name=args.destination,
        destination=destination,
        residency=policy.residency if destination is not None else None,
        jurisdiction=jurisdiction,
        timeout_s=args.timeout,
        max_body_bytes=args.max_body_bytes,
        local_token=local_token,
        upstream_format=upstream_format,
        scan_answers=scan,
    )


def _cmd_proxy(args: argparse.Namespace) -> int:
    from redactline.policies import PolicyError, load_policy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        return _fail(f"policy: {exc}")
    try:
        config = build_config(args, policy)
    except ValueError as exc:
        return _fail(str(exc))
    if not 1 <= args.workers <= 64:
        return _fail("--workers must be 1..64")
    if not (math.isfinite(args.header_timeout) and args.header_timeout > 0):
        return _fail("--header-timeout must be a positive number of seconds")

    import uvicorn

    from .proxy import Redactor, build_app, uvicorn_config

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"redactline proxy: WARNING: listening on {args.host}: anyone who can reach it gets "
              "re-identified answers", file=sys.stderr)
    if config.local_token is not None and config.api_key is None:
        print("redactline proxy: --require-token-env without an upstream key: requests go upstream without "
              "an Authorization header", file=sys.stderr)
    if config.destination is None:
        print("redactline proxy: no --destination: requests are redacted, but no egress or residency "
              "controls apply", file=sys.stderr)
    redactor = Redactor.from_policy(policy, workers=args.workers)
    app = build_app(config, redactor)
    print(f"redactline proxy: policy {policy.name} {policy.version}; listening on "
          f"http://{args.host}:{args.port}/v1 -> {config.base}", file=sys.stderr)
    uvicorn.Server(uvicorn_config(app, args.host, args.port, header_timeout=args.header_timeout)).run()
    return 0
