"""``redactline prompt``: redact one prompt, send it to an external LLM API, print the answer re-identified.

The same egress exchange (:mod:`redactline.policies.exchange`) as the batch route
(``pipelines/llm_stage.py``) and the proxy, for one text typed by a person:

1. the text is redacted with one pseudonym context, so the model sees ``<PERSON_1>``, ``<PERSON_2>``...
   and can tell people apart;
2. residency (when the policy has rules: the prompt's jurisdiction comes from ``--jurisdiction``; an
   unknown one is held unless the policy says ``unknown: allow``) and the destination's egress controls
   (``jurisdictions``, ``never_send``, ``allowed_entities``) decide whether it may leave at all;
3. the redacted text is the user message (the destination's record ``template`` is not applied: there
   is no record), with the destination's ``system`` message when it has one;
4. the answer is re-identified locally and printed. ``--show-sent`` prints, on stderr, exactly the bytes
   of the request body that left the machine (never the API key).

Exit codes: 0 answered; 1 the request failed (after retries); 2 usage or configuration error (bad
policy, unknown destination, missing API key variable, empty text); 3 refused by the policy (residency
or egress: nothing was sent). With ``--json`` every outcome is one JSON object on stdout (``ok`` true
with the answer, or false with ``error: {kind, code, message}``), the exit code unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3

_EPILOG = """\
exit codes:
  0  the answer was printed
  1  the request failed (HTTP error, timeout, retries exhausted)
  2  usage or configuration error (policy, destination, API key variable, empty text)
  3  refused by the policy (residency or egress controls); nothing was sent

examples:
  export OPENAI_API_KEY=...            # the variable named by the destination's api_key_env
  redactline prompt --policy policy.yaml --destination gpt "Draft a reply to Jane Doe (jane@example.com)"
  echo "Summarise: ..." | redactline prompt --policy policy.yaml --destination claude --show-sent -
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prompt",
        help="redact one prompt, send it to an external LLM API, print the re-identified answer",
        description="Redact TEXT under the policy, check residency and the destination's egress\n"
        "controls, send the sanitized prompt to the destination (kind external_api) and print\n"
        "the answer with the original values restored locally. Only placeholders leave.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("text", metavar="TEXT", help="the prompt; '-' reads it from stdin")
    parser.add_argument("--policy", required=True, type=Path, metavar="FILE", help="policy file (YAML)")
    parser.add_argument("--destination", required=True, metavar="NAME",
                        help="a destination of kind external_api in the policy")
    parser.add_argument("--jurisdiction", metavar="CODE",
                        help="jurisdiction of the prompt's data (ISO 3166 code or group such as EU), for "
                        "residency rules and the destination's jurisdictions list")
    parser.add_argument("--show-sent", action="store_true",
                        help="print the exact request body sent (on stderr; with --json, as 'sent')")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of text, in every outcome: the answer "
                        "(destination, model, usage) or the error (kind usage|refused|upstream, code, "
                        "message), with the same exit codes")
    parser.set_defaults(func=run_prompt)


_KINDS = {EXIT_FAILED: "upstream", EXIT_USAGE: "usage", EXIT_REFUSED: "refused"}


def _fail(code: int, message: str, args: argparse.Namespace | None = None, *, reason: str | None = None,
          extra: dict[str, Any] | None = None) -> int:
    """Report a failure on stderr, and with ``--json`` also as one JSON object on stdout (PII-free:
    messages name fields, codes and statuses, never prompt text)."""
    print(f"redactline prompt: {message}", file=sys.stderr)
    if args is not None and getattr(args, "json", False):
        error: dict[str, Any] = {"kind": _KINDS[code], "code": reason or _KINDS[code], "message": message}
        print(json.dumps({"ok": False, "exit_code": code, "error": error, **(extra or {})},
                         ensure_ascii=False, indent=2))
    return code


def run_prompt(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        return _fail(EXIT_USAGE, "the prompt is empty", args, reason="empty_prompt")

    from redactline.policies import PolicyError, load_policy
    from redactline.policies.answer_scan import scan_answers
    from redactline.policies.destinations import lookup_destination
    from redactline.policies.exchange import RESIDENCY, EgressExchange, system_message
    from redactline.policies.prompts import PromptError
    from redactline.policies.regions import parse_jurisdiction

    from . import LlmError, Prompt, client_from_destination

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        return _fail(EXIT_USAGE, str(exc), args, reason="policy_error")
    except OSError as exc:
        return _fail(EXIT_USAGE, f"cannot read {args.policy}: {exc.strerror or type(exc).__name__}", args,
                     reason="policy_error")
    try:
        jurisdiction = parse_jurisdiction(args.jurisdiction)
        destination = lookup_destination(policy.destinations, args.destination, "external_api")
        system_message(destination)  # fails now, before the key is read or anything is redacted
        client = client_from_destination(destination, args.destination)
    except PromptError as exc:
        return _fail(EXIT_USAGE, f"destination {args.destination!r}: its system message refers to record "
                     f"fields, which a single prompt does not have ({exc})", args, reason="prompt_error")
    except ValueError as exc:  # --jurisdiction, DestinationLookupError, LlmConfigError (missing key)
        return _fail(EXIT_USAGE, str(exc), args, reason="configuration_error")

    with client:
        exchange = EgressExchange(policy.engine(), destination, residency=policy.residency)
        redacted = exchange.redact_prompt(text)
        decision = redacted.decide(jurisdiction)
        if not decision.allowed:
            held = {"destination": args.destination, "control": decision.control,
                    "jurisdiction": decision.jurisdiction, "entities": redacted.entity_counts()}
            if decision.control == RESIDENCY:
                shown = decision.jurisdiction or "unknown (use --jurisdiction)"
                return _fail(EXIT_REFUSED, f"refused by residency: {decision.reason} (jurisdiction {shown}, "
                             f"destination region {destination.region}); nothing was sent", args,
                             reason=decision.reason, extra=held)
            return _fail(EXIT_REFUSED, f"refused by destination {args.destination!r}: {decision.reason}: "
                         f"{decision.detail}; nothing was sent", args, reason=decision.reason, extra=held)

        rendered = redacted.render()
        body = client.encode(Prompt(user=rendered.user, system=rendered.system))
        if args.show_sent and not args.json:
            sent = body.decode("utf-8")
            sys.stderr.write(f"--- sent: POST {client.url} ---\n{sent}\n--- end of sent ---\n")
            sys.stderr.flush()
        try:
            answer = client.post(body)
        except LlmError as exc:
            failed: dict[str, Any] = {"destination": args.destination, "attempts": exc.attempts,
                                      "status": exc.status}
            if args.show_sent:
                failed["sent"] = json.loads(body)
            return _fail(EXIT_FAILED, str(exc), args, reason=exc.code, extra=failed)
        scan = scan_answers(exchange.engine, [answer.text], destination.scan_answers or "off")
        if scan.total:  # entity types and counts only: the values stay out of the message
            print(f"redactline prompt: the answer held {scan.total} entit{'y' if scan.total == 1 else 'ies'} "
                  f"the prompt did not carry ({scan.summary()}): "
                  f"{'redacted' if destination.scan_answers == 'redact' else 'flagged'}", file=sys.stderr)
        restored = redacted.reidentify(scan.texts[0])

    if args.json:
        out: dict[str, Any] = {
            "ok": True,
            "exit_code": EXIT_OK,
            "answer": restored,
            "destination": args.destination,
            "provider": destination.provider,
            "model": answer.model,
            "usage": {"input_tokens": answer.usage.input_tokens, "output_tokens": answer.usage.output_tokens},
            "attempts": answer.attempts,
            "entities": redacted.entity_counts(),
            "answer_scan": {"mode": destination.scan_answers or "off",
                            "found": dict(sorted(scan.found.items()))},
        }
        if args.show_sent:
            out["sent"] = json.loads(body)
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(restored)
    return EXIT_OK
