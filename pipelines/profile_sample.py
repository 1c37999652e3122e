"""Column profiling on the driver: sample the source through its connector, profile the sample with the
policy's engine (:mod:`redactline.policies.profile`), for ``redactline run`` and ``policy profile``.

A run profiles structured sources by default (CSV, JSONL, Parquet, PostgreSQL; ``--profile`` /
``--no-profile``): the first ``--profile-sample`` records (200) are read on the driver, the profile's
whole-field rules go to the workers inside the engine factory (no values), and the manifest's
``profile`` section records each field's decision. An HTTP API is profiled only with ``--profile``
(its items are often nested documents rather than rows).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redactline.connectors.records import Record
from redactline.policies.profile import DEFAULT_SAMPLE, Profile, profile_records

from . import uris
from .redact import offer_analyzer

log = logging.getLogger(__name__)

STRUCTURED_FORMATS = frozenset({"csv", "jsonl", "parquet"})


def is_structured(endpoint: uris.Endpoint) -> bool:
    """Sources profiled by default: row-shaped files and PostgreSQL tables."""
    return endpoint.kind == "postgres" or (endpoint.kind == "file" and endpoint.fmt in STRUCTURED_FORMATS)


def sample_source(endpoint: uris.Endpoint, n: int, *, key: str | None = None, pagination: str | None = None,
                  items_path: str = "items", auth_env: str | None = None,
                  max_field_bytes: int | None = None) -> list[Record]:
    """The first ``n`` records of ``endpoint``, parsed as the run's source connector parses them."""
    from redactline.connectors import sample

    kwargs = {"max_field_bytes": max_field_bytes} if max_field_bytes else {}
    if endpoint.kind == "postgres":
        assert endpoint.table is not None
        return sample.sample_postgres(endpoint.dsn, endpoint.table, n, key=key, **kwargs)
    if endpoint.kind == "http":
        if pagination is None:
            raise uris.UriError("--source is an HTTP API: give --http-pagination cursor|page|link")
        return sample.sample_http(endpoint.uri, n, pagination=pagination, items_path=items_path,
                                  auth_env=auth_env)
    return sample.sample_files(endpoint.uri, n, fmt=endpoint.fmt, **kwargs)


def profile_source(policy: Any, endpoint: uris.Endpoint, n: int = DEFAULT_SAMPLE, *,
                   built: list[Any] | None = None, **source_options: Any) -> Profile:
    """Profile the first ``n`` records of ``endpoint`` under ``policy`` (a loaded Policy) with the
    policy's engine, built once and only when some value needs analysing (it loads spaCy); its analyzer
    and the CPU seconds its set-up took (model load and first-call warm-up, which an in-process worker
    reuses) are appended to ``built`` when given."""
    from redactline.policies.engine import RedactionEngine, build_analyzer

    records = sample_source(endpoint, n, **source_options)
    engines: list[RedactionEngine] = []  # one engine for the field names and the values

    def analyze(texts: list[str]) -> Any:
        if not engines:
            cpu = time.process_time()
            analyzer = build_analyzer(policy.document.detection)
            engine = RedactionEngine(policy, analyzer, policy.keys)
            # the first call's one-time set-up (recognizer loads, pattern gates, lazy tables) stays with
            # the analyzer and the process, so an in-process worker reuses it like the loaded model
            engine.analyze_texts(["Warm up"])
            if built is not None:
                built.append((analyzer, time.process_time() - cpu))
            engines.append(engine)
        return engines[0].analyze_texts(texts)

    return profile_records((r.fields for r in records), analyze, policy.document.transforms,
                           sample=n, source=endpoint.safe)


def profile_for_run(opts: Any, endpoint: uris.Endpoint, policy_path: str, policy_sha256: str,
                    ) -> tuple[Profile | None, dict[str, Any]]:
    """The run's profile (None when profiling is off or failed) and the manifest's ``profile`` section.

    A source that cannot be sampled skips profiling with a note (the run then reports its own error
    if the source is unreadable); fields stay inspected as without profiling.
    """
    from redactline.policies import load_policy

    enabled = opts.profile if opts.profile is not None else is_structured(endpoint)
    if not enabled:
        why = "--no-profile" if opts.profile is False else f"not a structured source ({endpoint.kind})"
        return None, {"enabled": False, "note": f"profiling off: {why}"}
    started, cpu_started = time.perf_counter(), time.process_time()
    policy = load_policy(policy_path)
    if policy.identity.sha256 != policy_sha256:
        raise RuntimeError(f"policy {policy_path} changed since the run started (hash mismatch)")
    built: list[Any] = []
    try:
        profile = profile_source(
            policy, endpoint, opts.profile_sample, built=built, key=opts.source_key,
            pagination=opts.http_pagination,
            items_path=opts.http_items_path, auth_env=opts.http_auth_env,
            max_field_bytes=opts.max_field_bytes,
        )
    except Exception as exc:  # the message may quote data or secrets: report the type only
        note = f"profiling skipped: sampling the source failed ({type(exc).__name__})"
        log.warning("%s", note)
        log.debug("profiling failed", exc_info=True)
        return None, {"enabled": False, "note": note}
    for analyzer, _ in built:  # an in-process runner's worker reuses the loaded model
        offer_analyzer(policy_path, policy_sha256, analyzer)
    seconds = round(time.perf_counter() - started, 3)
    cpu_seconds = round(time.process_time() - cpu_started, 3)  # the driver does nothing else meanwhile
    load_cpu = round(sum(load for _, load in built), 3)  # moved, not added, when the worker reuses it
    return profile, {"enabled": True, "seconds": seconds, "cpu_seconds": cpu_seconds,
                     "model_load_cpu_seconds": load_cpu, **profile.as_manifest(policy.document.transforms)}


def profile_command(args: Any) -> int:
    """``redactline policy profile`` (its flags are defined in :mod:`.run_cli`): print the profile."""
    import json
    import sys

    from redactline.connectors.http_api import HttpApiError
    from redactline.connectors.postgres import PostgresError
    from redactline.policies import PolicyError, load_policy

    def fail(message: str) -> int:
        print(f"redactline policy profile: error: {message}", file=sys.stderr)
        return 2

    if args.sample < 1:
        return fail("--sample must be >= 1")
    try:
        policy = load_policy(args.policy)
        endpoint = uris.parse("--source", args.source, allow_http=True)
        profile = profile_source(policy, endpoint, args.sample, key=args.source_key,
                                 pagination=args.http_pagination, items_path=args.http_items_path,
                                 auth_env=args.http_auth_env)
    except (PolicyError, uris.UriError, FileNotFoundError, PostgresError, HttpApiError) as exc:
        return fail(str(exc))  # these messages name files and safe URIs, never values or secrets
    except OSError as exc:
        return fail(f"{args.source}: {exc.strerror or type(exc).__name__}")
    transforms = policy.document.transforms
    if args.format == "json":
        print(json.dumps(profile.as_manifest(transforms), indent=2, sort_keys=True))
    elif args.format == "yaml":
        print(profile.fields_yaml(transforms), end="")
    else:
        print(profile.text(transforms))
    return 0
