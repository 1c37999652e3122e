"""CLI verbs of the pipelines area: ``run``, ``demo``, ``quarantine show`` and ``policy profile``.

Heavy imports (Beam, Presidio) happen inside the command functions so ``redactline --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_POLICY = DEMO_DIR / "demo-policy.yaml"
DEMO_DATA = DEMO_DIR / "customers.csv"
DEFAULT_OUT = "redactline-out"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run``, ``demo`` and ``quarantine`` to the ``redactline`` command."""
    # '+' as prefix char: every '-'/'--' flag (ours and Beam's) is passed through untouched to run().
    run = subparsers.add_parser(
        "run", add_help=False, prefix_chars="+",
        help="run a redaction pipeline (see 'redactline run --help'; takes Beam pipeline options too)",
    )
    run.add_argument("argv", nargs=argparse.REMAINDER)
    run.set_defaults(func=_cmd_run)

    demo = subparsers.add_parser(
        "demo", help="the whole path on built-in defaults: sample data, demo policy, simulated enclave",
        description="Read the bundled sample CSV, redact it with the bundled demo policy, check residency, "
        "seal the records for a simulated enclave started on 127.0.0.1 (UNSAFE test attestation) that runs "
        "the policy's task (a one-line summary per ticket by a small bundled model), and write the "
        "enclave's results, the held records, the sealed quarantine and the run manifest.",
    )
    demo.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: ./{DEFAULT_OUT})")
    demo.add_argument("--no-enclave", action="store_true",
                      help="skip the enclave: write the redacted records themselves")
    demo.add_argument("--quiet", action="store_true", help="no progress line")
    demo.add_argument("--enclave-backend", choices=("llm", "spacy-analysis"), default="llm",
                      help="the simulated enclave's backend: llm (default: a one-line summary per ticket by "
                      "the bundled SmolLM2-135M model; spacy-analysis if it cannot be loaded) or "
                      "spacy-analysis (quicker: entity labels and noun chunks, no summaries)")
    demo.add_argument("--model", metavar="PATH",
                      help="llm backend: a GGUF model file instead of the bundled SmolLM2-135M-Instruct")
    demo.set_defaults(func=_cmd_demo)

    quarantine = subparsers.add_parser("quarantine", help="inspect quarantine files")
    verbs = quarantine.add_subparsers(dest="quarantine_command", metavar="VERB")
    show = verbs.add_parser("show", help="decrypt and print a quarantine file (PLAINTEXT: for operators)")
    show.add_argument("path", help="quarantine JSONL file")
    key = show.add_mutually_exclusive_group()
    key.add_argument("--key-file", help="file holding the quarantine key (default: the per-user generated "
                     "key a run without a key flag uses)")
    key.add_argument("--key-env", help="environment variable holding the quarantine key")
    show.add_argument("--reason", help="only entries with this reason code")
    show.add_argument("--json", action="store_true", help="one JSON object per entry, raw as text")
    show.set_defaults(func=_cmd_quarantine_show)

    # `policy profile` reads sources through connectors/, which policies/ must not import: it is added to
    # the `policy` command (registered by policies.cli, listed before this module) from here.
    policy = subparsers.choices.get("policy")
    if policy is not None:
        _register_policy_profile(policy.get_default("policy_verbs"))


def _register_policy_profile(verbs: argparse._SubParsersAction) -> None:
    from redactline.policies.profile import DEFAULT_SAMPLE

    profile = verbs.add_parser(
        "profile",
        help="profile a structured source's fields; print the transforms.fields block for review",
        description="Sample the first N records of SOURCE through its connector, classify each field the "
        "policy does not name (header-name hint + what the policy's engine finds in the values) and print "
        "the profile. --format yaml prints the transforms.fields block to paste into the policy. No value "
        "is printed.",
    )
    profile.add_argument("--policy", required=True, help="policy YAML file")
    profile.add_argument("--source", required=True,
                         help="file or glob (*.csv, *.jsonl, *.parquet), postgresql://...#table or http(s)://...")
    profile.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                         help=f"records read from the start of the source (default {DEFAULT_SAMPLE})")
    profile.add_argument("--format", choices=["text", "yaml", "json"], default="text")
    profile.add_argument("--source-key",
                         help="PostgreSQL source: key column (the sample is its lowest key range)")
    profile.add_argument("--http-pagination", choices=("cursor", "page", "link"),
                         help="HTTP source: pagination style (required for an http(s) source)")
    profile.add_argument("--http-items-path", default="items",
                         help="HTTP source: dotted path of the item array in a page")
    profile.add_argument("--http-auth-env",
                         help="HTTP source: environment variable whose value is sent as Authorization")
    profile.set_defaults(func=_cmd_policy_profile)


def _cmd_policy_profile(args: argparse.Namespace) -> int:
    from .profile_sample import profile_command

    return profile_command(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from .run import run

    return run(args.argv)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .outputs import OutputPathError, check_directory
    from .run import run

    out = Path(args.out)
    try:
        check_directory("--out", str(out))
    except OutputPathError as exc:
        print(f"redactline demo: error: {exc}", file=sys.stderr)
        return 2
    if args.model is not None and (args.no_enclave or args.enclave_backend != "llm"):
        print("redactline demo: error: --model is the llm backend's model: not with --no-enclave or "
              "--enclave-backend spacy-analysis", file=sys.stderr)
        return 2
    argv = [
        "--overwrite",  # the demo's own files, replaced on every run
        "--source", str(DEMO_DATA),
        "--sink", str(out / ("customers.redacted.jsonl" if args.no_enclave else "customers.results.jsonl")),
        "--held", str(out / "customers.held.jsonl"),
        "--quarantine", str(out / "customers.quarantine.jsonl"),
        "--manifest", str(out / "manifest.json"),
    ]
    if args.quiet:
        argv.append("--quiet")
    if args.no_enclave:
        print(f"redactline demo: {DEMO_DATA.name} through policy {DEMO_POLICY.name} -> {out}/")
        code = run([*argv, "--policy", str(DEMO_POLICY)], summary=True)
    else:
        from .demo_enclave import run_demo

        code = run_demo(argv, out, policy=DEMO_POLICY, data=DEMO_DATA, backend_kind=args.enclave_backend,
                        model=args.model)
    if code == 0:
        print(f"inspect quarantined rows: redactline quarantine show {out / 'customers.quarantine.jsonl'}")
    return code


def _cmd_quarantine_show(args: argparse.Namespace) -> int:
    from .quarantine import KeySpec, QuarantineKeyError, default_key_path, read_entries

    key_file = args.key_file if args.key_file or args.key_env else str(default_key_path())
    try:
        key = KeySpec(env=args.key_env, file=key_file).load()
    except QuarantineKeyError as exc:
        print(f"redactline quarantine show: error: {exc}", file=sys.stderr)
        return 2
    path = Path(args.path)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "no such file" if not path.exists() else \
            "not a regular file"
        print(f"redactline quarantine show: error: {args.path}: {problem}", file=sys.stderr)
        return 2
    print("# decrypted quarantine entries: contains raw records in PLAINTEXT", file=sys.stderr)
    failed, at = 0, 1  # at: the entry being read or printed (for the error)
    try:
        for entry in read_entries(args.path, key):
            if args.reason and entry["reason"] != args.reason:
                at += 1
                continue
            raw = entry.get("raw")
            text = None if raw is None else raw.decode("utf-8", errors="backslashreplace")
            failed += raw is None
            if args.json:
                print(json.dumps({**entry, "raw": text}, ensure_ascii=False))
            else:
                print(f"[{entry['reason']}] {entry['source']} {entry['ref']}: {entry['detail']}")
                print(f"    {text if text is not None else '<' + entry['error'] + '>'}")
            at += 1
    except OSError as exc:
        print(f"redactline quarantine show: error: {args.path}: {exc.strerror or type(exc).__name__}",
              file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, AttributeError):  # the text is not repeated: it may be data
        print(f"redactline quarantine show: error: {args.path}: entry {at} is not a quarantine entry "
              "(one JSON object per line with reason, source, ref, detail, sealed)", file=sys.stderr)
        return 2
    if failed:  # wrong key or corrupt entries: what could be opened was printed, the check fails
        print(f"redactline quarantine show: {failed} entr{'y' if failed == 1 else 'ies'} could not be opened "
              "(sealed under another key, or corrupt); exit 1", file=sys.stderr)
    return 1 if failed else 0
