"""``redactline enclave ...``: attestation tooling. ``verify`` today; ``serve`` plugs in beside it.

Exit codes: 0 every requested check passed, 1 verification failed, 2 usage or file error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the ``enclave`` command and its verbs to the top-level ``redactline`` parser."""
    enclave = subparsers.add_parser("enclave", help="attestation verification and the enclave service")
    verbs = enclave.add_subparsers(dest="enclave_command", metavar="VERB")
    enclave.set_defaults(func=lambda args: _usage(enclave))
    _register_verify(verbs)
    _register_serve(verbs)


def _register_serve(verbs: Any) -> None:
    from .server.serve import add_serve_arguments, run_serve

    p = verbs.add_parser(
        "serve",
        help="run the confidential inference service (in the enclave, or simulated locally)",
        description="Serve attestation, sealed batches and health over HTTP. With the simulated provider "
        "the attestation root is a locally generated test root: UNSAFE, for local runs and tests only.",
    )
    add_serve_arguments(p)
    p.set_defaults(func=run_serve)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_USAGE


def _register_verify(verbs: Any) -> None:
    p = verbs.add_parser(
        "verify",
        help="verify an AWS Nitro attestation document",
        description="Verify a Nitro attestation document (raw CBOR, base64 or hex): signature, certificate "
        "chain to the pinned AWS root, age, debug mode, and optionally nonce and PCR policy.",
    )
    p.add_argument("document", metavar="DOC", help="attestation document file (raw, base64 or hex)")
    p.add_argument(
        "--root", metavar="PEM", help="trust this root instead of AWS's (UNSAFE unless it is AWS's)"
    )
    p.add_argument("--at", metavar="ISO8601", help="verify as if the clock read this time (UTC if no offset)")
    p.add_argument("--pcr-policy", metavar="FILE", help="YAML PCR allowlist (see measurement.py)")
    p.add_argument("--nonce", metavar="HEX", help="expected nonce, hex")
    p.add_argument(
        "--max-age", metavar="SECONDS", type=float, default=300.0, help="maximum document age (300)"
    )
    p.add_argument("--allow-debug", action="store_true", help="accept debug-mode enclaves (PCR0-2 zero)")
    p.set_defaults(func=_verify)


def _fail_usage(message: str) -> int:
    print(f"redactline enclave verify: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _verify(args: argparse.Namespace) -> int:
    # Heavy imports here so that `redactline --help` stays instant.
    from redactline.policies.bounded_io import BoundedReadError, read_bounded

    from .attestation import AttestationError, NitroAttestationVerifier
    from .docio import decode_document, read_document_file
    from .measurement import PolicyFileError, load_measurement_policy
    from .trust import trust_root_from_pem

    try:
        raw = read_document_file(args.document)  # bounded: an oversized file is refused unread
    except BoundedReadError as exc:
        problem = f"cannot read {args.document}: {exc.os_error}" if exc.os_error else str(exc)
        return _fail_usage(problem)
    root = None
    if args.root:
        try:
            root = trust_root_from_pem(read_bounded(args.root, 64 * 1024))  # a PEM root is ~1 KiB
        except BoundedReadError as exc:
            problem = f"cannot read {args.root}: {exc.os_error}" if exc.os_error else str(exc)
            return _fail_usage(problem)
        except ValueError:
            return _fail_usage(f"{args.root} is not a PEM certificate")
        if root.unsafe:
            print(
                f"WARNING: --root {args.root} is not the AWS Nitro root; trusting it is UNSAFE and proves "
                "nothing about real enclave hardware.",
                file=sys.stderr,
            )
    try:
        at = _parse_time(args.at) if args.at else None
    except ValueError:
        return _fail_usage(f"--at {args.at!r} is not an ISO 8601 time")
    try:
        nonce = bytes.fromhex(args.nonce) if args.nonce else None
    except ValueError:
        return _fail_usage("--nonce must be hex")
    policy = None
    if args.pcr_policy:
        try:
            policy = load_measurement_policy(args.pcr_policy)
        except PolicyFileError as exc:
            return _fail_usage(str(exc))
    if args.max_age <= 0:
        return _fail_usage("--max-age must be positive")

    verifier = NitroAttestationVerifier(
        root=root,
        clock=(lambda: at) if at else (lambda: dt.datetime.now(dt.UTC)),
        max_age=dt.timedelta(seconds=args.max_age),
        policy=policy,
        allow_debug=args.allow_debug,
    )
    try:
        document = decode_document(raw)
        verified = verifier.verify(document, expected_nonce=nonce)
    except AttestationError as exc:
        _print_summary(raw, None)
        print(f"verdict: FAIL: {exc.reason}")
        return EXIT_FAILED
    _print_summary(raw, verified)
    notes = []
    if policy is None:
        notes.append("measurements NOT checked (no --pcr-policy)")
    if nonce is None:
        notes.append("nonce NOT checked (no --nonce)")
    if verified.is_debug:
        notes.append("DEBUG-mode enclave accepted (--allow-debug)")
    if verified.trusted_root_unsafe:
        notes.append("chained to an UNSAFE root")
    print("verdict: PASS" + ("" if not notes else " (" + "; ".join(notes) + ")"))
    return EXIT_OK


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _print_summary(raw: bytes, verified: Any) -> None:
    if verified is None:
        print(f"document: {len(raw)} bytes read")
        return
    print(f"module_id: {verified.module_id}")
    print(f"timestamp: {verified.timestamp.isoformat()}")
    print(f"document sha256: {verified.document_sha256.hex()}")
    print(f"debug mode: {'yes' if verified.is_debug else 'no'}")
    for index, value in verified.pcrs.items():
        if any(value) or index in (0, 1, 2, 8):
            print(f"PCR{index}: {value.hex()}")
    key = verified.public_key
    print(
        "public_key: "
        + ("absent" if key is None else f"{len(key)} bytes, sha256 {hashlib.sha256(key).hexdigest()}")
    )
    for name in ("user_data", "nonce"):
        value = getattr(verified, name)
        print(f"{name}: {'absent' if value is None else f'{len(value)} bytes'}")
