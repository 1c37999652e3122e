"""``redactline policy validate|test|diff|explain|hash|schema`` and ``redactline eval``.

Exit codes: 0 success; 1 a check failed (invalid policy, failing test case, metric under threshold,
loosening with --fail-on-loosening); 2 usage errors (missing file, bad arguments) and refused input (a
file over a size limit or not a regular file, a YAML depth/alias limit, a duplicate key, an ``extends``
outside the root policy's directory, a symbolic-link loop, a pattern with catastrophic backtracking).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _add_extends_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-extends-outside",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="let extends reach files under DIR too (repeatable; default: the root policy's directory "
        "tree and library:NAME; env REDACTLINE_ALLOW_EXTENDS_OUTSIDE)",
    )


def _add_skip_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-non-policies",
        action="store_true",
        help="skip files that are not redaction policies (no top-level kind: RedactionPolicy or "
        "apiVersion: redactline.dev/...), e.g. CI workflows passed by a pre-commit hook",
    )


def _add_format_flag(parser: argparse.ArgumentParser, text: str = "text") -> None:
    parser.add_argument(
        "--format", choices=[text, "json"], default=text,
        help=f"output format (default {text}); json: one JSON document on stdout, errors included, "
        "same exit codes",
    )


def _json_out(args: argparse.Namespace, code: int, **document: object) -> int:
    """Print the command's one JSON document (``ok``, ``exit_code``, then ``document``); return ``code``."""
    print(json.dumps({"ok": code == EXIT_OK, "exit_code": code, **document}, indent=2, ensure_ascii=False))
    return code


def _policy_files(args: argparse.Namespace) -> list[Path]:
    """``args.files``, without the non-policy YAML files when ``--skip-non-policies`` is given."""
    if not getattr(args, "skip_non_policies", False):
        return list(args.files)
    from .loader import is_policy_file

    return [path for path in args.files if is_policy_file(path)]


def register(subparsers: argparse._SubParsersAction) -> None:
    policy = subparsers.add_parser(
        "policy",
        help="validate, test, diff and explain policy files",
        description="Work with redaction policy files (YAML).",
    )
    verbs = policy.add_subparsers(dest="verb", metavar="VERB", required=True)
    policy.set_defaults(policy_verbs=verbs)  # other areas add verbs here (pipelines: policy profile)

    validate = verbs.add_parser(
        "validate",
        help="check schema, regexes, key references and extends",
        description="Validate policy files. Every error names the file, the line and the field path.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument(
        "--no-keys",
        action="store_true",
        help="do not resolve key material (check the references only), e.g. in CI without secrets",
    )
    validate.add_argument(
        "--sample",
        type=Path,
        metavar="FILE",
        help="a sample of the data (CSV, Parquet or JSON Lines): every field path the policy names "
        "(transforms.fields, subject_field) must exist in it",
    )
    _add_format_flag(validate)
    _add_extends_flag(validate)
    _add_skip_flag(validate)
    validate.set_defaults(func=_validate)

    test = verbs.add_parser(
        "test",
        help="run the inline test cases of policy files",
        description="Run each policy's inline golden cases. Exit 1 if any case fails.",
    )
    test.add_argument("files", nargs="+", type=Path, metavar="FILE")
    test.add_argument("--format", choices=["text", "json", "junit"], default="text")
    test.add_argument(
        "-k", dest="pattern", metavar="PATTERN", help="only cases whose name matches (glob or substring)"
    )
    test.add_argument("-o", "--output", type=Path, help="write the report to this file instead of stdout")
    test.add_argument(
        "--test-keys",
        action="store_true",
        help="run with throwaway keys derived from each key's name instead of the real key material "
        "(CI and pre-commit without secrets); an expect whose output depends on key values is compared "
        "by shape and says so",
    )
    test.add_argument(
        "--coverage",
        action="store_true",
        help="report which of each policy's recognizers, entity types and field rules the cases exercised "
        "(in the text or JSON report; on stderr with --format junit)",
    )
    test.add_argument(
        "--fail-under",
        type=float,
        metavar="PCT",
        help="exit 1 when a policy's coverage is under PCT percent (implies --coverage)",
    )
    _add_extends_flag(test)
    _add_skip_flag(test)
    test.set_defaults(func=_test)

    diff = verbs.add_parser(
        "diff",
        help="compare the meaning of two policy versions (Markdown)",
        description="Compare policies by meaning: operators per entity and field, recognizers, "
        "thresholds, residency. Loosenings are flagged. Output is Markdown for a pull-request comment. "
        "Either OLD NEW (each resolves its extends beside itself) or --base REF FILE... (each FILE and "
        "everything it extends as of git revision REF, against the working tree).",
        usage="%(prog)s [options] OLD NEW | %(prog)s [options] --base REF FILE...",
    )
    diff.add_argument("files", nargs="+", type=Path, metavar="FILE")
    diff.add_argument(
        "--base",
        "--base-ref",
        dest="base",
        metavar="REF",
        help="git revision to compare against (e.g. origin/main): the old policy and its extends are read "
        "from git at REF; a FILE absent at REF is reported as new",
    )
    diff.add_argument("--sample", type=Path, help="JSONL records or text lines: show before/after outputs")
    diff.add_argument("--fail-on-loosening", action="store_true", help="exit 1 when anything loosens")
    _add_format_flag(diff, "markdown")
    _add_extends_flag(diff)
    diff.set_defaults(func=_diff)

    explain = verbs.add_parser(
        "explain",
        help="show each finding with recognizer, score, context boost and operator",
        description="Explain what a policy does to one text or record. The original values are not printed.",
    )
    explain.add_argument("file", type=Path)
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--text")
    source.add_argument("--record", help="a JSON object")
    explain.add_argument("--format", choices=["text", "json"], default="text")
    _add_extends_flag(explain)
    explain.set_defaults(func=_explain)

    hash_ = verbs.add_parser(
        "hash",
        help="print a policy's meaning hash (64 hex digits; no key material needed)",
        description="Print the SHA-256 of what a policy means (detection, transforms, residency, "
        "destinations, key names): the value enclave serve --allow-policy takes and run manifests record. "
        "Tests, owners and the description do not change it; --document hashes the whole resolved file.",
    )
    hash_.add_argument("files", nargs="+", type=Path, metavar="FILE")
    hash_.add_argument("--document", action="store_true", help="print the document hash instead")
    _add_extends_flag(hash_)
    hash_.set_defaults(func=_hash)

    schema = verbs.add_parser("schema", help="print the JSON Schema of the policy format")
    schema.set_defaults(func=_schema)

    evaluate = subparsers.add_parser(
        "eval",
        help="measure a policy on a labelled corpus",
        description="Per-type precision/recall/F1, any-type recall and precision, and the leak rate "
        "(share of gold PII characters left uncovered, overall and per corpus type) of a policy on a "
        "labelled corpus: JSON Lines or a JSON array, each document the project's {text, spans: [{start, "
        "end, type}]} or presidio-evaluator's {full_text, spans: [{entity_type, start_position, "
        "end_position}]}.",
    )
    evaluate.add_argument("--policy", type=Path, required=True)
    evaluate.add_argument("--corpus", type=Path, required=True)
    evaluate.add_argument("--format", choices=["text", "json"], default="text")
    evaluate.add_argument(
        "--fail-under",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when METRIC is under VALUE (for leak_rate: over VALUE); repeatable",
    )
    evaluate.add_argument(
        "--misses",
        type=Path,
        metavar="FILE",
        help="write each gold span that leaks (JSON Lines: type, offsets, value, leaked characters, the "
        "text around it) to FILE. The file holds the corpus's PII values: use it on your own "
        "development corpora only, never on production or held-out evaluation data",
    )
    evaluate.add_argument(
        "--context", type=int, default=40, metavar="N", help="characters of text either side in --misses"
    )
    evaluate.set_defaults(func=_eval)


def _error(message: str) -> None:
    print(message, file=sys.stderr)


def _load(path: Path, args: argparse.Namespace | None = None, errors: list[str] | None = None, **kwargs):
    """The policy, or None after printing its errors (also appended to ``errors``); refused input sets
    ``args.refused`` (exit 2)."""
    from . import PolicyError, load_policy
    from .loader import allow_extends_outside, real_policy_path

    try:
        with allow_extends_outside(getattr(args, "allow_extends_outside", None) or []):
            return load_policy(real_policy_path(path), **kwargs)
    except PolicyError as exc:
        _error(str(exc))
        if errors is not None:
            errors.append(str(exc))
        if args is not None and exc.refused:
            args.refused = True
        return None


def _failed(args: argparse.Namespace) -> int:
    return EXIT_USAGE if getattr(args, "refused", False) else EXIT_FAILED


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    as_json = args.format == "json"
    results: list[dict[str, object]] = []
    for path in _policy_files(args):
        errors: list[str] = []
        policy = _load(path, args, errors, resolve_keys=not args.no_keys)
        if policy is None:
            failed += 1
            results.append({"file": str(path), "valid": False, "errors": errors})
            continue
        if args.sample is not None and _sample_issues(policy, args, errors):
            failed += 1
            results.append({"file": str(path), "valid": False, "errors": errors})
            continue
        ident = policy.identity
        results.append({"file": str(path), "valid": True, "errors": [], "name": ident.name,
                        "version": ident.version, "sha256": ident.sha256,
                        "document_sha256": ident.document_sha256})
        if not as_json:
            print(f"OK  {path}  {ident.name} {ident.version}  sha256:{ident.sha256}")
    code = _failed(args) if failed else EXIT_OK
    return _json_out(args, code, policies=results) if as_json else code


def _sample_issues(policy: Any, args: argparse.Namespace, errors: list[str]) -> bool:
    """Print (and append to ``errors``) the field paths ``policy`` names that ``--sample`` lacks."""
    from .sample_fields import SampleError, missing_field_issues, sample_paths

    try:
        paths = sample_paths(args.sample)
    except SampleError as exc:
        args.refused = True
        issues_text = [str(exc)]
    else:
        issues = missing_field_issues(policy.document, policy.sources, paths, args.sample)
        issues_text = [str(issue) for issue in issues]
    for line in issues_text:
        _error(line)
    errors.extend(issues_text)
    return bool(issues_text)


def _hash(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        policy = _load(path, args, resolve_keys=False)
        if policy is None:
            failed += 1
            continue
        ident = policy.identity
        digest = ident.document_sha256 if args.document else ident.sha256
        print(f"{digest}  {path}" if len(args.files) > 1 else digest)
    return _failed(args) if failed else EXIT_OK


def _test(args: argparse.Namespace) -> int:
    from .testing import (
        Coverage,
        format_coverage,
        format_json,
        format_junit,
        format_text,
        load_error,
        run_policy_tests,
    )

    want_coverage = args.coverage or args.fail_under is not None
    coverages: list[Coverage] = []
    results = []
    broken = 0
    for path in _policy_files(args):
        errors: list[str] = []
        policy = _load(path, args, errors, resolve_keys=not args.test_keys)
        if policy is None:
            broken += 1
            message = errors[0] if errors else "could not be loaded"
            if "key '" in message and not args.test_keys:
                message += "\n(no key material here: --test-keys runs the cases with throwaway keys)"
            results.append(load_error(str(path), message))
            continue
        coverage = Coverage.of(policy) if want_coverage else None
        results.extend(run_policy_tests(policy, args.pattern, test_keys=args.test_keys, coverage=coverage))
        if coverage is not None:
            coverages.append(coverage)
    render = {"text": format_text, "json": format_json, "junit": format_junit}[args.format]
    # a policy that did not load is an errored case in every format
    report = render(results, coverages if want_coverage else None)
    if want_coverage and args.format == "junit":
        for coverage in coverages:
            _error(format_coverage(coverage))
    if args.output:
        args.output.write_text(report + "\n", encoding="utf-8")
    else:
        print(report)
    if broken and getattr(args, "refused", False):
        return EXIT_USAGE
    if args.pattern and not any(not r.errored for r in results):
        _error(f"no test case matches {args.pattern!r}")
        return EXIT_FAILED
    under = [c for c in coverages if args.fail_under is not None and c.percent < args.fail_under]
    for coverage in under:
        _error(f"FAIL: coverage of {coverage.policy} is {coverage.percent:g}%, under {args.fail_under:g}%")
    return EXIT_FAILED if broken or under or any(not r.passed for r in results) else EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from .at_revision import RevisionError, policies_at

    errors: list[str] = []

    def fail(code: int, message: str | None = None) -> int:
        if message is not None:
            _error(message)
            errors.append(message)
        return _json_out(args, code, errors=errors, policies=[]) if args.format == "json" else code

    if args.base is None:
        if len(args.files) != 2:
            return fail(EXIT_USAGE, "policy diff: give OLD NEW, or --base REF FILE...")
        old, new = (_load(path, args, errors, resolve_keys=args.sample is not None) for path in args.files)
        if old is None or new is None:
            return fail(_failed(args))
        return _diff_report(args, [(old, new)])
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        return fail(EXIT_USAGE, f"policy diff: not a file: {', '.join(missing)}")
    pairs = []
    try:
        with policies_at(args.base, args.files, args.allow_extends_outside) as snapshot:
            for path in args.files:
                new = _load(path, args, errors, resolve_keys=args.sample is not None)
                base_path = snapshot.path_of(path)
                old = None
                if base_path is not None:
                    with snapshot.resolving():
                        old = _load(base_path, args, errors, resolve_keys=args.sample is not None)
                    if old is None:
                        return fail(_failed(args), f"(the file above is {path} as of {args.base})")
                    old.revision = snapshot.commit
                if new is None:
                    return fail(_failed(args))
                pairs.append((old, new))
            return _diff_report(args, pairs)
    except RevisionError as exc:
        return fail(EXIT_USAGE, f"policy diff --base {args.base}: {exc}")


def _diff_report(args: argparse.Namespace, pairs: list) -> int:
    """Markdown (or JSON) for each (old, new) pair (old None: a new policy); exit 1 on loosening when
    asked."""
    from .diff import diff_policies, read_samples, render_markdown, render_new_policy, sample_outputs

    as_json = args.format == "json"
    rows = None
    if args.sample:
        try:
            rows = read_samples(args.sample)
        except (OSError, ValueError) as exc:
            _error(f"{args.sample}: {exc}")
            return _json_out(args, EXIT_USAGE, errors=[f"{args.sample}: {exc}"], policies=[]) if as_json \
                else EXIT_USAGE
    loosened = False
    reports = []
    documents: list[dict[str, object]] = []
    for old, new in pairs:
        if old is None:
            reports.append(render_new_policy(new.identity))
            documents.append({"new": True, "old": None, "current": new.identity.as_dict(), "changes": [],
                              "loosening": False})
            continue
        changes = diff_policies(old.document, new.document)
        samples = sample_outputs(old.engine(), new.engine(), rows) if rows is not None else None
        loosens = any(c.effect == "loosening" for c in changes)
        loosened = loosened or loosens
        if as_json:
            documents.append(_diff_json(old.identity, new.identity, changes, samples, loosens))
        else:
            reports.append(render_markdown(changes, old.identity, new.identity, samples))
    code = EXIT_FAILED if args.fail_on_loosening and loosened else EXIT_OK
    if as_json:
        return _json_out(args, code, errors=[], loosening=loosened, policies=documents)
    print("\n".join(reports))
    return code


def _diff_json(old: Any, new: Any, changes: list, samples: list | None, loosens: bool) -> dict[str, object]:
    """One policy pair as JSON. Samples give entity types and whether the output changed, never the
    outputs themselves (a loosened policy's output may hold a kept value)."""
    document: dict[str, object] = {
        "new": False,
        "old": old.as_dict(),
        "current": new.as_dict(),
        "loosening": loosens,
        "changes": [{"section": c.section, "subject": c.subject, "before": c.before, "after": c.after,
                     "effect": c.effect, "note": c.note} for c in changes],
    }
    if samples is not None:
        document["samples"] = [{"index": r.index, "changed": r.changed, "found_before": list(r.found_before),
                                "found_after": list(r.found_after)} for r in samples]
    return document


def _explain(args: argparse.Namespace) -> int:
    policy = _load(args.file, args)
    if policy is None:
        return _failed(args)
    engine = policy.engine()
    if args.text is not None:
        result = engine.redact_text(args.text)
        output: object = result.text
    else:
        try:
            record = json.loads(args.record)
        except json.JSONDecodeError as exc:
            _error(f"--record is not valid JSON: {exc.msg} at column {exc.colno}")
            return EXIT_USAGE
        if not isinstance(record, dict):
            _error("--record must be a JSON object")
            return EXIT_USAGE
        result = engine.redact_record(record)
        output = result.record
    findings = [f.__dict__ for f in result.findings]
    if args.format == "json":
        print(json.dumps({"output": output, "findings": findings}, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"policy {policy.identity.name} {policy.identity.version} (sha256:{policy.identity.sha256})")
    print(f"{len(findings)} finding(s):")
    for f in result.findings:
        # a name with a finding shows as its placeholder (the engine never reports the name itself)
        where = f"{'field name' if f.in_field_name else 'field'} {f.field} " if f.field else ""
        print(
            f"  {where}[{f.start}:{f.end}] {f.entity_type:<16} score {f.score:.2f} "
            f"(context +{f.context_boost:.2f})  by {f.recognizer:<28} -> {f.operator}"
        )
    rendered = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    print(f"output: {rendered}")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from .schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    if not args.corpus.is_file():
        _error(f"{args.corpus}: corpus file not found")
        return EXIT_USAGE
    policy = _load(args.policy, args)
    if policy is None:
        return _failed(args)
    report = evaluate(policy.engine(), args.corpus, misses=args.misses, context=max(0, args.context))
    print(report.to_json() if args.format == "json" else report.to_text())
    failures: list[str] = []
    for spec in args.fail_under:
        try:
            failures += report.check_fail_under(spec)
        except ValueError as exc:
            _error(f"--fail-under {spec}: {exc}")
            return EXIT_USAGE
    for failure in failures:
        _error(f"FAIL: {failure}")
    return EXIT_FAILED if failures else EXIT_OK
