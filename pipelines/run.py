"""Run a redaction pipeline: source -> redact -> residency -> sink, with held, quarantine and manifest.

Usage (``redactline run`` takes the same flags)::

    python -m redactline.pipelines.run --policy POLICY.yaml --source URI --sink URI \\
        [--held URI] [--quarantine FILE.jsonl] [--manifest FILE.json] [--destination NAME] \\
        [--quarantine-key-env VAR | --quarantine-key-file PATH] [--quiet] [Beam pipeline options...]

Every record read leaves as exactly one of: delivered to ``--sink`` (redacted, lineage under
``_redactline``), held by residency (``--held``, redacted, with the reason), or quarantined (sealed
raw bytes with a reason code and the source reference). The manifest adds them up; a run whose
``read == delivered + held + quarantined`` check fails exits 1.

Enclave destination. With ``--destination enclave:URL`` (or a policy destination of kind ``enclave``
with a ``url``) redacted records are not written in clear: the enclave's attestation is verified first
(``--enclave-root PEM``, ``--pcr-policy FILE``; a simulator's root only with
``--unsafe-allow-simulated``), residency is checked against the region the enclave attests, records
are sealed in batches and sent, and ``--sink`` receives the enclave's results. A refused attestation
stops the run before any record is read (exit 1). A batch the enclave cannot take after retries is
quarantined with its reason; the manifest counts sealed batches, records sent and results received.

Runners. With no ``--runner`` (or ``--runner local``) the pipeline runs on Beam's FnApiRunner in
this process; it downloads nothing and opens no network connection of its own. Add
``--direct_num_workers N --direct_running_mode multi_processing`` to use N worker processes (they talk
to this process over 127.0.0.1 only). Every other Beam option reaches Beam untouched, e.g.::

    --runner DataflowRunner --project P --region europe-west3 --temp_location gs://b/tmp
    --runner FlinkRunner --flink_master host:8081 --environment_type LOOPBACK
    --runner SparkRunner --spark_master_url spark://host:7077

(``--runner DirectRunner`` is Beam's own default and may download the Prism runner binary.) On remote
runners the policy file, the quarantine key (``--quarantine-key-env`` must be set on workers, or
``--quarantine-key-file`` readable there) and the output paths must be reachable from the workers.

Exit codes: 0 success (quarantined or held records included), 1 the run failed or its manifest
check failed, 2 a usage or configuration error (the message names the flag or file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from redactline.policies import PolicyError, load_policy
from redactline.policies.regions import normalize_jurisdiction
from redactline.policies.residency import check_region

from . import manifest as mf
from . import uris
from .enclave_destination import EnclaveConfigError, EnclavePreflightError, enclave_url, plan_enclave
from .options import LOCAL_RUNNER, RedactlineOptions
from .progress import Progress
from .quarantine import KeySpec, QuarantineKeyError, WriteQuarantine, resolve_key_spec
from .redact import ENTITIES, REDACTED, REJECTED, EngineFactory, PolicyEngineFactory, RedactRecords
from .route import DELIVERED, HELD, RouteByResidency

log = logging.getLogger(__name__)


class UsageError(ValueError):
    """Bad flags or configuration: exit code 2, message names the flag or file."""


@dataclass
class RunPlan:
    """Everything decided before the pipeline is built (all validated)."""

    run_id: str
    policy_path: str
    policy_identity: dict[str, Any]
    policy_sha256: str
    residency: Any
    region: str | None
    source: uris.Endpoint
    sink: uris.Endpoint
    held: uris.Endpoint
    quarantine_path: str
    manifest_path: str
    key_spec: KeySpec
    opts: RedactlineOptions
    enclave: Any = None  # EnclaveDestination when records are sealed for an attested enclave
    llm_destination: str | None = None  # name of the policy's external_api destination (llm:NAME)
    destination_info: dict[str, Any] | None = None  # what the manifest says about the destination


def _help_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redactline run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    RedactlineOptions._add_argparse_args(parser)
    return parser


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _check_unknown_flags(options: PipelineOptions) -> None:
    """Beam drops flags it does not know with a warning; a misspelt redactline flag must not pass."""
    known = set(options.get_all_options())
    ours = {a.dest for a in _help_parser()._actions}
    for key in set(options.get_all_options(retain_unknown_options=True)) - known:
        close = difflib.get_close_matches(key.replace("-", "_"), ours, n=1, cutoff=0.8)
        if close:
            raise UsageError(f"unknown flag --{key}; did you mean --{close[0].replace('_', '-')}?")


def plan(options: PipelineOptions) -> RunPlan:
    """Validate flags, load the policy, resolve destinations, paths and the quarantine key."""
    _check_unknown_flags(options)
    opts = options.view_as(RedactlineOptions)
    if not opts.policy:
        raise UsageError("--policy is required")
    try:
        policy = load_policy(opts.policy)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--policy {opts.policy}: {exc.strerror or exc}") from None
    try:
        source = uris.parse("--source", opts.source, allow_http=True)
        sink = uris.parse("--sink", opts.sink)
    except uris.UriError as exc:
        raise UsageError(str(exc)) from None
    if opts.batch_size < 1 or opts.max_record_bytes < 1:
        raise UsageError("--batch-size and --max-record-bytes must be >= 1")
    if opts.jurisdiction is not None and normalize_jurisdiction(opts.jurisdiction) is None:
        raise UsageError(f"--jurisdiction {opts.jurisdiction}: not an ISO 3166-1 alpha-2 code or a group")

    try:
        enclave_target = enclave_url(policy, opts.destination)
    except EnclaveConfigError as exc:
        raise UsageError(str(exc)) from None
    llm_name, llm_info = _llm_destination(policy, opts)
    if llm_name is not None:
        try:
            region = check_region(opts.sink_region or policy.destinations[llm_name].region)
        except ValueError as exc:
            raise UsageError(f"--destination {opts.destination}: {exc}") from None
    else:
        region = None if enclave_target else _destination_region(policy, opts)
    out_dir, stem = uris.default_outputs(sink)
    try:
        held = uris.parse("--held", opts.held or str(out_dir / f"{stem}.held.jsonl"))
    except uris.UriError as exc:
        raise UsageError(str(exc)) from None
    quarantine_path = opts.quarantine or str(out_dir / f"{stem}.quarantine.jsonl")
    manifest_path = opts.manifest or str(out_dir / f"{stem}.manifest.json")
    for path in (quarantine_path, manifest_path, *(e.uri for e in (sink, held) if e.kind == "file")):
        if "://" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        key_spec = resolve_key_spec(opts.quarantine_key_env, opts.quarantine_key_file,
                                    Path(quarantine_path).parent)
    except QuarantineKeyError as exc:
        raise UsageError(str(exc)) from None
    identity = policy.identity
    enclave, destination_info = None, llm_info
    if enclave_target is not None:
        try:
            enclave, destination_info = plan_enclave(opts, *enclave_target, identity.sha256)
        except EnclaveConfigError as exc:
            raise UsageError(str(exc)) from None
        region = enclave.region
    return RunPlan(
        run_id=opts.run_id or str(uuid.uuid4()),
        policy_path=str(policy.path),
        policy_identity=identity.as_dict(),
        policy_sha256=identity.sha256,
        residency=policy.residency,
        region=region,
        source=source,
        sink=sink,
        held=held,
        quarantine_path=quarantine_path,
        manifest_path=manifest_path,
        key_spec=key_spec,
        opts=opts,
        enclave=enclave,
        llm_destination=llm_name,
        destination_info=destination_info,
    )


LLM_PREFIX = "llm:"


def _llm_destination(policy: Any, opts: RedactlineOptions) -> tuple[str | None, dict[str, Any] | None]:
    """``--destination llm:NAME``: the policy's external_api destination NAME, checked now (key set)."""
    if not (opts.destination or "").startswith(LLM_PREFIX):
        return None, None
    from redactline.connectors.llm.factory import (
        LlmConfigError,
        external_destination,
        settings_from_destination,
    )

    name = opts.destination[len(LLM_PREFIX):]
    try:
        destination = external_destination(policy, name)
        settings_from_destination(destination, name)  # fails now, naming the variable, if the key is unset
    except LlmConfigError as exc:
        raise UsageError(f"--destination {opts.destination}: {exc}") from None
    info = {"kind": "external_api", "name": name, "provider": destination.provider,
            "model": destination.model, "url": destination.url, "region": destination.region}
    return name, info


def _destination_region(policy: Any, opts: RedactlineOptions) -> str | None:
    region = opts.sink_region
    if region is None and opts.destination is not None:
        if opts.destination not in policy.destinations:
            names = ", ".join(sorted(policy.destinations)) or "none"
            raise UsageError(f"--destination {opts.destination}: not in the policy (declared: {names})")
        region = policy.destinations[opts.destination].region
    if region is None and len(policy.destinations) == 1:
        region = next(iter(policy.destinations.values())).region
    if region is None:
        if policy.residency is not None:
            raise UsageError("the policy has residency rules: name the sink's destination with "
                             "--destination NAME or its region with --sink-region REGION")
        return None
    try:
        return check_region(region)
    except ValueError as exc:
        raise UsageError(f"{'--sink-region' if opts.sink_region else '--destination'}: {exc}") from None


def build(pipeline: beam.Pipeline, rp: RunPlan, counts_path: str,
          engine_factory: EngineFactory | None = None, source: beam.PTransform | None = None) -> None:
    """Add the whole job to ``pipeline``. ``engine_factory``/``source`` replace the defaults (tests)."""
    opts = rp.opts
    if source is None:
        source = uris.source_transform(
            rp.source, jurisdiction=normalize_jurisdiction(opts.jurisdiction) if opts.jurisdiction else None,
            max_field_bytes=opts.max_field_bytes, key=opts.source_key, partitions=opts.source_partitions,
            pagination=opts.http_pagination, items_path=opts.http_items_path, auth_env=opts.http_auth_env,
        )
    lineage = {
        "policy": rp.policy_identity["name"],
        "version": rp.policy_identity["version"],
        "sha256": rp.policy_sha256,
        "run_id": rp.run_id,
    }
    src = pipeline | "Source" >> source
    read = (src["records"], src["rejected"]) | "AllRead" >> beam.Flatten()
    if rp.llm_destination is not None:
        _build_llm(rp, src, read, lineage, counts_path, engine_factory)
        return
    red = src["records"] | "Redact" >> RedactRecords(
        engine_factory or PolicyEngineFactory(rp.policy_path, rp.policy_sha256),
        lineage, rp.residency, opts.max_record_bytes, opts.batch_size,
    )
    routed = red[REDACTED] | "Residency" >> RouteByResidency(rp.residency, rp.region,
                                                             keep_meta=rp.enclave is not None)
    delivered = routed[DELIVERED]
    rejected = [src["rejected"], red[REJECTED]]
    outcomes: dict[str, Any] = {}
    if rp.enclave is not None:
        from redactline.enclave_sink.sink import REJECTED as SEND_REJECTED
        from redactline.enclave_sink.sink import RESULTS, STATS, SealAndSend

        sent = delivered | "Enclave" >> SealAndSend(rp.enclave, rp.run_id, lineage)
        delivered = sent[RESULTS]  # a record counts as delivered once its result came back
        rejected.append(sent[SEND_REJECTED])
        outcomes["destination"] = sent[STATS]
    delivered | "Sink" >> uris.sink_transform(rp.sink, key=opts.sink_key, num_shards=opts.num_shards)
    routed[HELD] | "HeldSink" >> uris.sink_transform(rp.held, key=opts.sink_key, num_shards=1)
    quarantined = tuple(rejected) | "AllRejected" >> beam.Flatten()
    quarantined | "Quarantine" >> WriteQuarantine(rp.quarantine_path, rp.key_spec)
    {
        "read": read,
        "delivered": delivered,
        "held": routed[HELD],
        "quarantined": quarantined,
        "entities": red[ENTITIES],
        **outcomes,
    } | "Count" >> mf.CountOutcomes(counts_path)


def _build_llm(rp: RunPlan, src: Any, read: Any, lineage: dict[str, Any], counts_path: str,
               engine_factory: EngineFactory | None) -> None:
    """Source -> redact, residency, egress, prompt, send, re-identify (one step) -> results sink."""
    from . import llm_stage

    opts = rp.opts
    out = src["records"] | "ExternalLlm" >> llm_stage.SendToLlm(
        engine_factory or PolicyEngineFactory(rp.policy_path, rp.policy_sha256), rp.policy_path,
        rp.policy_sha256, rp.llm_destination, lineage, rp.residency, rp.region, opts.max_record_bytes,
        opts.batch_size,
    )
    sink = uris.sink_transform(rp.sink, key=opts.sink_key, num_shards=opts.num_shards)
    out[llm_stage.RESULTS] | "Sink" >> sink
    out[llm_stage.HELD] | "HeldSink" >> uris.sink_transform(rp.held, key=opts.sink_key, num_shards=1)
    quarantined = (src["rejected"], out[llm_stage.REJECTED]) | "AllRejected" >> beam.Flatten()
    quarantined | "Quarantine" >> WriteQuarantine(rp.quarantine_path, rp.key_spec)
    {
        "read": read,
        "delivered": out[llm_stage.RESULTS],
        "held": out[llm_stage.HELD],
        "quarantined": quarantined,
        "entities": out[llm_stage.ENTITIES],
        "destination": out[llm_stage.USAGE],
    } | "Count" >> mf.CountOutcomes(counts_path)


def _runner(options: PipelineOptions) -> tuple[Any, str]:
    """The runner object (None = let Beam pick from --runner) and its name for the manifest."""
    std = options.view_as(StandardOptions)
    if std.runner in (None, LOCAL_RUNNER):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        direct = options.view_as(DirectOptions)
        mode = direct.direct_running_mode or "in_memory"
        workers = direct.direct_num_workers or 1
        std.runner = None
        return FnApiRunner(), f"FnApiRunner ({mode}, {workers} worker{'s' if workers != 1 else ''})"
    return None, str(std.runner)


def run(argv: list[str] | None = None, *, engine_factory: EngineFactory | None = None,
        source: beam.PTransform | None = None, stdout: TextIO | None = None,
        summary: bool | None = None) -> int:
    """Run the pipeline for ``argv``; returns the exit code (see the module docstring).

    The summary (counts and output paths) is printed unless ``--quiet``; ``summary`` forces it on or
    off. A failed run always prints it to stderr.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout = stdout or sys.stdout
    if "-h" in argv or "--help" in argv:
        _help_parser().print_help(stdout)
        return 0
    try:
        options = PipelineOptions(argv)
        rp = plan(options)
    except UsageError as exc:
        print(f"redactline run: error: {exc}", file=sys.stderr)
        return 2
    except EnclavePreflightError as exc:
        print(f"redactline run: FAILED before reading any record: {exc}", file=sys.stderr)
        return 1
    runner, runner_name = _runner(options)
    counts_path = rp.manifest_path + ".counts.json"
    started = _now()
    state = "FAILED"
    error: str | None = None
    try:
        pipeline = beam.Pipeline(runner=runner, options=options)
        build(pipeline, rp, counts_path, engine_factory, source)
        in_process = options.view_as(DirectOptions).direct_running_mode != "multi_processing"
        with Progress(enabled=not rp.opts.quiet, counts_visible=runner is not None and in_process):
            result = pipeline.run()
            state = str(result.wait_until_finish() or result.state)
    except (uris.UriError, FileNotFoundError) as exc:
        print(f"redactline run: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the run failed; the message may quote data, so report its type only
        error = type(exc).__name__
        log.debug("pipeline failed", exc_info=True)
    ended = _now()
    counts = _counts_or_empty(counts_path) if error is None else None
    manifest = mf.build_manifest(
        run_id=rp.run_id, started_at=started, ended_at=ended, runner=runner_name,
        state=state if error is None else f"FAILED ({error})", policy=rp.policy_identity,
        source=rp.source.safe,
        sinks={"delivered": rp.sink.safe, "held": rp.held.safe, "quarantine": rp.quarantine_path},
        counts=counts or _EMPTY,
        destination=rp.destination_info,
    )
    if counts is None:
        manifest["check"]["holds"] = False
        manifest["check"]["error"] = "no counts: the pipeline did not finish"
    mf.write_manifest(manifest, rp.manifest_path)
    if counts is not None and os.path.exists(counts_path):
        os.remove(counts_path)
    ok = error is None and manifest["check"]["holds"] and state.endswith("DONE")
    if (not rp.opts.quiet if summary is None else summary) or not ok:
        out = stdout if ok else sys.stderr
        print(f"run {rp.run_id}: {'done' if ok else 'FAILED'} on {runner_name}", file=out)
        if error:
            print(f"  pipeline error: {error} (details at DEBUG log level)", file=out)
        for line in mf.summary_lines(manifest):
            print(f"  {line}", file=out)
        print(f"  delivered:  {rp.sink.safe}", file=out)
        print(f"  held:       {rp.held.safe}", file=out)
        print(f"  quarantine: {rp.quarantine_path}", file=out)
        print(f"  manifest:   {rp.manifest_path}", file=out)
    return 0 if ok else 1


_EMPTY: dict[str, Any] = {
    "read": 0, "delivered": 0, "held": {}, "quarantined": {}, "entities": {}, "destination": {}
}


def _counts_or_empty(path: str) -> dict[str, Any] | None:
    try:
        return mf.read_counts(path)
    except (OSError, ValueError):
        return None


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    sys.exit(run())


if __name__ == "__main__":
    main()
