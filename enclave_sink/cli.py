"""``redactline enclave ...``: attestation tooling. ``verify`` today; ``serve`` plugs in beside it.

Exit codes: 0 every requested check passed, 1 verification failed, 2 usage or file error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
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
        help="verify attestation evidence: AWS Nitro, AMD SEV-SNP or Intel TDX",
        description="Verify a Nitro attestation document (raw CBOR, base64 or hex), an SEV-SNP report or a "
        "TDX quote (raw, or in a redactline evidence bundle): signature, certificate chain to the pinned "
        "root (AWS; AMD ARK per product; Intel SGX Root CA), age or TCB, debug mode, and optionally nonce "
        "and measurement policy. The TEE type is detected unless --tee is given.",
    )
    p.add_argument("document", metavar="DOC", nargs="?", help="evidence file (Nitro: raw, base64 or hex)")
    p.add_argument(
        "--manifest", metavar="M",
        help="instead of DOC: re-verify every attestation a run manifest kept, each at the time it was "
        "verified (signature, chain, measurements with --pcr-policy, config binding, model digest, region)",
    )
    p.add_argument("--tee", choices=("nitro", "sev-snp", "tdx"), help="expected TEE type (default: detect)")
    p.add_argument(
        "--cert", metavar="FILE", action="append", default=[],
        help="certificates not carried in the evidence (SNP VCEK/VLEK, ASK/ARK; PEM or DER); repeatable",
    )
    p.add_argument(
        "--collateral", metavar="DIR",
        help="TDX collateral folder: TCB info and QE identity JSON, TCB signing chain PEM, CRLs",
    )
    p.add_argument(
        "--allow-tcb-unknown", action="store_true",
        help="accept a TDX quote whose TCB status is unknown (no --collateral)",
    )
    p.add_argument(
        "--tcb-status", metavar="STATUS", action="append",
        help="acceptable TDX TCB status (repeatable; default UpToDate)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument(
        "--root", metavar="PEM", help="trust this root instead of AWS's (UNSAFE unless it is AWS's)"
    )
    p.add_argument("--at", metavar="ISO8601", help="verify as if the clock read this time (UTC if no offset)")
    p.add_argument(
        "--pcr-policy", "--policy", dest="pcr_policy", metavar="FILE",
        help="YAML measurement policy: PCR allowlist, or per-TEE allowlists (see measurement.py)",
    )
    p.add_argument("--nonce", metavar="HEX", help="expected nonce, hex")
    p.add_argument(
        "--max-age", metavar="SECONDS", type=float, default=300.0, help="maximum document age (300)"
    )
    p.add_argument(
        "--allow-debug", action="store_true",
        help="accept debuggable guests (Nitro PCR0-2 zero, SNP policy DEBUG, TDX DEBUG attribute)",
    )
    p.set_defaults(func=_verify)


def _fail_usage(args: argparse.Namespace, message: str) -> int:
    """A usage or file error: on stderr, and with ``--format json`` also as the one JSON document."""
    print(f"redactline enclave verify: error: {message}", file=sys.stderr)
    if getattr(args, "format", "text") == "json":
        print(json.dumps({"verdict": "ERROR", "exit_code": EXIT_USAGE, "error": message}))
    return EXIT_USAGE


def _verify(args: argparse.Namespace) -> int:
    # Heavy imports here so that `redactline --help` stays instant.
    from redactline.policies.bounded_io import BoundedReadError, read_bounded

    from .docio import read_document_file
    from .measurement import PolicyFileError, load_measurement_policy
    from .trust import trust_root_from_pem

    if (args.document is None) == (args.manifest is None):
        return _fail_usage(args, "give an evidence file DOC or --manifest M (one of them)")
    try:
        # bounded: an oversized file is refused unread
        raw = b"" if args.manifest else read_document_file(args.document)
    except BoundedReadError as exc:
        problem = f"cannot read {args.document}: {exc.os_error}" if exc.os_error else str(exc)
        return _fail_usage(args, problem)
    root = None
    if args.root:
        try:
            root = trust_root_from_pem(read_bounded(args.root, 64 * 1024))  # a PEM root is ~1 KiB
        except BoundedReadError as exc:
            problem = f"cannot read {args.root}: {exc.os_error}" if exc.os_error else str(exc)
            return _fail_usage(args, problem)
        except ValueError:
            return _fail_usage(args, f"{args.root} is not a PEM certificate")
        if root.unsafe:
            print(
                f"WARNING: --root {args.root} is not the AWS Nitro root; trusting it is UNSAFE and proves "
                "nothing about real enclave hardware.",
                file=sys.stderr,
            )
    try:
        at = _parse_time(args.at) if args.at else None
    except ValueError:
        return _fail_usage(args, f"--at {args.at!r} is not an ISO 8601 time")
    try:
        nonce = bytes.fromhex(args.nonce) if args.nonce else None
    except ValueError:
        return _fail_usage(args, "--nonce must be hex")
    policy = None
    if args.pcr_policy:
        try:
            policy = load_measurement_policy(args.pcr_policy)
        except PolicyFileError as exc:
            return _fail_usage(args, str(exc))
    if args.max_age <= 0:
        return _fail_usage(args, "--max-age must be positive")

    if args.manifest:
        return _verify_manifest(args, root, policy)
    return _verify_and_report(args, raw, root, at, nonce, policy)


MAX_MANIFEST_BYTES = 64 << 20  # a manifest keeps a few KiB per attestation


def _verify_manifest(args: argparse.Namespace, root: Any, policy: Any) -> int:
    """Re-verify a manifest's ``destination.evidence`` entries; exit 1 if any fails or none is kept."""
    from redactline.policies.bounded_io import BoundedReadError, read_bounded

    from .evidence_log import reverify
    from .verify_any import VerifyOptions

    try:
        manifest = json.loads(read_bounded(args.manifest, MAX_MANIFEST_BYTES))
    except BoundedReadError as exc:
        return _fail_usage(args, f"cannot read {args.manifest}: {exc.os_error}" if exc.os_error else str(exc))
    except ValueError:
        return _fail_usage(args, f"{args.manifest} is not JSON")
    destination = manifest.get("destination") if isinstance(manifest, dict) else None
    entries = (destination or {}).get("evidence") if isinstance(destination, dict) else None
    if not isinstance(entries, list):
        return _fail_usage(args, f"{args.manifest} keeps no attestation evidence (not an enclave run?)")
    options = VerifyOptions(
        tee=args.tee, root=root, max_age=dt.timedelta(seconds=args.max_age), policy=policy,
        allow_debug=args.allow_debug, allow_tcb_unknown=args.allow_tcb_unknown,
    )
    checks = [reverify(entry, options) if isinstance(entry, dict) else None for entry in entries]
    ok = bool(checks) and all(c is not None and c.ok for c in checks)
    if args.format == "json":
        print(json.dumps({"verdict": "PASS" if ok else "FAIL", "exit_code": EXIT_OK if ok else EXIT_FAILED,
                          "evidence": [
            {"document_sha256": c.document_sha256, "tee": c.tee, "verified_at": c.verified_at,
             "verdict": "PASS" if c.ok else "FAIL", "reason": c.reason or None}
            if c is not None else {"verdict": "FAIL", "reason": "not an evidence entry"} for c in checks
        ]}))
    else:
        for c in checks:
            if c is None:
                print("evidence ?: FAIL: not an evidence entry")
                continue
            print(f"evidence {c.document_sha256[:16]} ({c.tee}, verified {c.verified_at}): "
                  + ("PASS" if c.ok else f"FAIL: {c.reason}"))
        if not checks:
            print("no attestation evidence in the manifest")
        notes = "" if policy is not None else " (measurements NOT checked: no --pcr-policy)"
        print(f"verdict: {'PASS' if ok else 'FAIL'}{notes if ok else ''}")
    return EXIT_OK if ok else EXIT_FAILED


def _verify_and_report(
    args: argparse.Namespace, raw: bytes, root: Any, at: dt.datetime | None, nonce: bytes | None, policy: Any
) -> int:
    """Load --cert/--collateral, verify with the detected TEE's verifier, print text or JSON."""
    from redactline.policies.bounded_io import BoundedReadError, read_bounded

    from .errors import AttestationError
    from .snp import load_certificates
    from .tdx import DEFAULT_TCB_STATUSES, load_collateral
    from .verify_any import VerifyOptions, verify_evidence

    certificates = []
    for name in args.cert:
        try:
            certificates.extend(load_certificates(read_bounded(name, 64 * 1024)))
        except BoundedReadError as exc:
            return _fail_usage(args, f"cannot read {name}: {exc.os_error}" if exc.os_error else str(exc))
        except AttestationError:
            return _fail_usage(args, f"{name} is not a PEM or DER certificate")
    collateral = None
    if args.collateral:
        if not os.path.isdir(args.collateral):
            return _fail_usage(args, f"--collateral {args.collateral} is not a folder")
        try:
            collateral = load_collateral(args.collateral)
        except (AttestationError, ValueError, OSError) as exc:
            return _fail_usage(args, f"--collateral {args.collateral}: {getattr(exc, 'reason', exc)}")
    options = VerifyOptions(
        tee=args.tee,
        root=root,
        clock=(lambda: at) if at else (lambda: dt.datetime.now(dt.UTC)),
        max_age=dt.timedelta(seconds=args.max_age),
        policy=policy,
        allow_debug=args.allow_debug,
        certificates=tuple(certificates),
        collateral=collateral,
        tcb_statuses=tuple(args.tcb_status or DEFAULT_TCB_STATUSES),
        allow_tcb_unknown=args.allow_tcb_unknown,
    )
    try:
        verified = verify_evidence(raw, options, expected_nonce=nonce)
    except AttestationError as exc:
        if args.format == "json":
            check = exc.reason.split(":", 1)[0] if ":" in exc.reason else "verification"
            print(json.dumps({"verdict": "FAIL", "exit_code": EXIT_FAILED, "check": check,
                              "reason": exc.reason, "bytes": len(raw)}))
        else:
            _print_summary(raw, None)
            print(f"verdict: FAIL: {exc.reason}")
        return EXIT_FAILED
    notes = []
    if policy is None:
        notes.append("measurements NOT checked (no --pcr-policy)")
    if nonce is None:
        notes.append("nonce NOT checked (no --nonce)")
    if verified.is_debug:
        notes.append("DEBUG-mode enclave accepted (--allow-debug)")
    if verified.tcb.get("tcb_status") == "unknown":
        notes.append("TCB status unknown (--allow-tcb-unknown)")
    if verified.trusted_root_unsafe:
        notes.append("chained to an UNSAFE root")
    if args.format == "json":
        print(json.dumps({"verdict": "PASS", "exit_code": EXIT_OK, "notes": notes, **_summary(verified)},
                         default=str))
    else:
        _print_summary(raw, verified)
        print("verdict: PASS" + ("" if not notes else " (" + "; ".join(notes) + ")"))
    return EXIT_OK


def _summary(verified: Any) -> dict[str, Any]:
    def opt(value: bytes | None) -> str | None:
        return None if value is None else value.hex()

    return {
        "tee": verified.tee,
        "timestamp": verified.timestamp.isoformat(),
        "document_sha256": verified.document_sha256.hex(),
        "debug": verified.is_debug,
        "measurements": {name: value.hex() for name, value in verified.measurements.items()},
        "report_data": opt(verified.report_data),
        "public_key_sha256": None if verified.public_key is None
        else hashlib.sha256(verified.public_key).hexdigest(),
        "user_data": opt(verified.user_data),
        "nonce": opt(verified.nonce),
        "tcb": dict(verified.tcb),
        "module_id": verified.module_id or None,
        "unsafe_root": verified.trusted_root_unsafe,
    }


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _print_summary(raw: bytes, verified: Any) -> None:
    if verified is None:
        print(f"document: {len(raw)} bytes read")
        return
    print(f"tee: {verified.tee}")
    if verified.tee != "nitro":
        print(f"verified at: {verified.timestamp.isoformat()}")
        print(f"debug mode: {'yes' if verified.is_debug else 'no'}")
        for name, value in verified.measurements.items():
            print(f"{name}: {value.hex()}")
        print(f"report_data: {verified.report_data.hex()}")
        for name, value in verified.tcb.items():
            print(f"tcb {name}: {value}")
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
