"""Run a redaction pipeline: source -> redact -> residency -> sink, with held, quarantine and manifest.

Usage (``redactline run`` takes the same flags)::

    python -m redactline.pipelines.run --policy POLICY.yaml --source URI --sink URI \\
        [--held URI] [--quarantine FILE.jsonl] [--manifest FILE.json] [--destination NAME] \\
        [--quarantine-key-env VAR | --quarantine-key-file PATH] [--quiet] [Beam pipeline options...]

Every record read leaves as exactly one of: delivered to ``--sink`` (redacted, lineage under
``_redactline``), held by residency (``--held``, redacted, with the reason), or quarantined (sealed
raw bytes with a reason code and the source reference). The manifest adds them up; a run whose
``read == delivered + held + quarantined`` check fails exits 1.

How a run goes: :func:`validate` (flags, policy, URIs, ``--destination`` resolved into one
:class:`~redactline.pipelines.destinations.base.Destination`; no writes, no network) -> :func:`prepare`
on the driver (output directories, quarantine key, the destination's preflight) -> :func:`build` (one
Beam graph: source -> prepare -> the destination's stage -> sinks, held, quarantine, counts; no I/O)
-> run, then the manifest.

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
runners the policy travels inside the job (resolved once on the driver); the quarantine key and policy
keys stay references (``--quarantine-key-env`` must be set on workers, or ``--quarantine-key-file``
readable there) and the output paths must be reachable from the workers.

Exit codes: 0 success (quarantined or held records included), 1 the run failed or its manifest
check failed, 2 a usage or configuration error (the message names the flag or file), 130/143
interrupted by SIGINT/SIGTERM (a FAILED manifest with partial counts is still written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import logging
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from redactline.policies import PolicyError, load_policy
from redactline.policies.loader import MAX_POLICY_BYTES
from redactline.policies.regions import parse_jurisdiction

from . import engine_handoff, failures, output_types, outputs, policy_ship, progress, runners, uris
from . import manifest as mf
from .cli import LogLevelError, configure_logging
from .destinations.base import (
    DELIVERED,
    DESTINATION,
    ENTITIES,
    HELD,
    REJECTED,
    Destination,
    DestinationConfigError,
    DestinationPreflightError,
    JobContext,
)
from .destinations.resolve import resolve_destination
from .interrupt import Interrupted, InterruptGuard
from .lineage_emit import LineageConfigError
from .lineage_emit import configure as configure_lineage
from .options import RedactlineOptions
from .profile_sample import profile_for_run
from .progress import Progress
from .progress_files import run_dir as live_progress_dir
from .quarantine import KeySpec, QuarantineKeyError, WriteQuarantine, key_id, resolve_key_spec
from .redact import PREPARED, EngineFactory, PolicyEngineFactory, PrepareRecords
from .redact import REJECTED as PREPARE_REJECTED
from .sink_check import DELIVERED as SINK_DELIVERED
from .sink_check import REJECTED as SINK_REJECTED
from .sink_check import Deliver
from .source_check import SourcePathError, check_source

log = logging.getLogger(__name__)


class UsageError(ValueError):
    """Bad flags or configuration: exit code 2, message names the flag or file."""


@dataclass(frozen=True)
class RunPlan:
    """Everything validated from the flags and the policy, before anything is written or contacted."""

    run_id: str
    policy_identity: dict[str, Any]
    source: uris.Endpoint
    sink: uris.Endpoint
    held: uris.Endpoint
    quarantine_path: str
    manifest_path: str
    jurisdiction: str | None  # --jurisdiction, canonical
    opts: RedactlineOptions
    job: JobContext
    destination: Destination


@dataclass(frozen=True)
class Prepared:
    """A plan made ready on the driver: output directories exist, the quarantine key is resolved and the
    destination passed its preflight (``destination_info`` is the manifest's ``destination``)."""

    plan: RunPlan
    key_spec: KeySpec
    destination_info: dict[str, Any] | None
    quarantine_key_id: str = ""  # the key's fingerprint for the manifest (never its path)
    profile_info: dict[str, Any] | None = None  # the manifest's ``profile`` section (no values)
    sink_types: output_types.SinkTypes | None = None  # the sinks' column types (type-stable outputs)


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


def validate(options: PipelineOptions, engine_factory: EngineFactory | None = None) -> RunPlan:
    """Check the flags, load the policy, parse the URIs and resolve the destination.

    Reads files (the policy, the enclave's trust files) but writes nothing and contacts nothing, except
    the storage a ``--policy s3://...`` or ``gs://...`` is read from.
    ``engine_factory`` replaces the policy's engine on the workers (tests).
    """
    _check_unknown_flags(options)
    try:
        runners.check_available(options)  # before the policy and the profile load spaCy
    except runners.RunnerUnavailable as exc:
        raise UsageError(str(exc)) from None
    opts = options.view_as(RedactlineOptions)
    if not opts.policy:
        raise UsageError("--policy is required")
    FileSystems.set_options(options)  # s3:// and gs:// paths below use the run's storage options
    try:
        # a policy in cloud storage is copied to a private local file first (the loader's size limit)
        policy = load_policy(uris.read_policy(opts.policy, MAX_POLICY_BYTES))
    except uris.UriError as exc:
        raise UsageError(str(exc)) from None
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
    if opts.profile_sample < 1:
        raise UsageError("--profile-sample must be >= 1")
    try:
        jurisdiction = parse_jurisdiction(opts.jurisdiction)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    identity = policy.identity
    run_id = opts.run_id or str(uuid.uuid4())
    policy_path = str(policy.path)
    policy_ship.ship(policy)  # resolved once here; the workers rebuild it from this document
    job = JobContext(
        run_id=run_id,
        policy_path=policy_path,
        policy_sha256=identity.sha256,
        lineage={"policy": identity.name, "version": identity.version, "sha256": identity.sha256,
                 "run_id": run_id},
        residency=policy.residency,
        engine_factory=engine_factory or PolicyEngineFactory(policy_path, identity.sha256),
        batch_size=opts.batch_size,
    )
    try:
        destination = resolve_destination(policy, opts, job)
    except DestinationConfigError as exc:
        raise UsageError(str(exc)) from None

    try:
        held = uris.parse("--held", opts.held or uris.default_output(sink, ".held.jsonl"))
    except uris.UriError as exc:
        raise UsageError(str(exc)) from None
    return RunPlan(
        run_id=run_id,
        policy_identity=identity.as_dict(),
        source=source,
        sink=sink,
        held=held,
        quarantine_path=opts.quarantine or uris.default_output(sink, ".quarantine.jsonl"),
        manifest_path=opts.manifest or uris.default_output(sink, ".manifest.json"),
        jurisdiction=jurisdiction,
        opts=opts,
        job=job,
        destination=destination,
    )


def prepare(plan: RunPlan) -> Prepared:
    """Driver-side preparation: check the output paths (:mod:`.outputs`), create output directories,
    resolve (or generate) the quarantine key, run the destination's preflight (attestation for an
    enclave), then profile the source's fields (after the preflight: a refused destination reads no
    record). Raises :class:`UsageError` or :class:`DestinationPreflightError`."""
    try:
        check_source(plan.source.flag, plan.source.uri, plan.source.kind)
        outputs.check_outputs(outputs.of_plan(plan), overwrite=plan.opts.overwrite)
        columns = output_types.check_plan_keys(plan)  # --sink-key, before anything is written
    except (SourcePathError, outputs.OutputPathError, output_types.OutputTypeError) as exc:
        raise UsageError(str(exc)) from None
    for path in (plan.quarantine_path, plan.manifest_path,
                 *(e.uri for e in (plan.sink, plan.held) if e.kind == "file")):
        if "://" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    opts = plan.opts
    try:
        key_spec = resolve_key_spec(opts.quarantine_key_env, opts.quarantine_key_file)
    except QuarantineKeyError as exc:
        raise UsageError(str(exc)) from None
    try:
        info = plan.destination.preflight()
    except DestinationConfigError as exc:
        raise UsageError(str(exc)) from None
    profile_info = _profile(plan)
    sink_types = output_types.for_plan(plan, columns)  # after profiling: its whole-field rules count
    return Prepared(plan=plan, key_spec=key_spec, destination_info=info, quarantine_key_id=key_id(key_spec),
                    profile_info=profile_info, sink_types=sink_types)


def _profile(plan: RunPlan) -> dict[str, Any]:
    """Profile the source and hand the whole-field rules to the workers' engine factory (it is pickled
    with the graph, which is built after this); returns the manifest's ``profile`` section."""
    factory = plan.job.engine_factory
    if not isinstance(factory, PolicyEngineFactory):
        return {"enabled": False, "note": "profiling off: the run's engine is not built from the policy file"}
    profile, info = profile_for_run(plan.opts, plan.source, plan.job.policy_path, plan.job.policy_sha256)
    factory.profile = profile
    return info


def build(pipeline: beam.Pipeline, prepared: Prepared, counts_path: str,
          source: beam.PTransform | None = None) -> None:
    """Add the job to ``pipeline`` as one graph: source -> prepare -> destination stage -> delivered
    sink, held sink, quarantine and counts. No I/O. ``source`` replaces the ``--source`` connector (tests).
    """
    plan = prepared.plan
    opts = plan.opts
    if source is None:
        source = uris.source_transform(
            plan.source, jurisdiction=plan.jurisdiction, max_field_bytes=opts.max_field_bytes,
            key=opts.source_key, partitions=opts.source_partitions, pagination=opts.http_pagination,
            items_path=opts.http_items_path, auth_env=opts.http_auth_env,
        )
    src = pipeline | "Source" >> source
    read = (src["records"], src["rejected"])  # counted where each is produced (never flattened to one stage)
    ready = src["records"] | "Prepare" >> PrepareRecords(opts.max_record_bytes, plan.job.residency)
    out = ready[PREPARED] | "Destination" >> plan.destination.stage()
    # a record the sink cannot take is quarantined, and only what the sinks accepted is counted
    sunk = out[DELIVERED] | "Sink" >> Deliver(
        uris.sink_transform(plan.sink, key=opts.sink_key, num_shards=opts.num_shards,
                            types=prepared.sink_types))
    held = out[HELD] | "HeldSink" >> Deliver(uris.sink_transform(plan.held, key=opts.sink_key, num_shards=1,
                                                                  types=prepared.sink_types))
    quarantined = (src["rejected"], ready[PREPARE_REJECTED], out[REJECTED], sunk[SINK_REJECTED],
                   held[SINK_REJECTED]) | "AllRejected" >> beam.Flatten()
    quarantined | "Quarantine" >> WriteQuarantine(plan.quarantine_path, prepared.key_spec)
    outcomes = {
        "read": read,
        "delivered": sunk[SINK_DELIVERED],
        "held": held[SINK_DELIVERED],
        "quarantined": quarantined,
        "entities": out[ENTITIES],
        "destination": out[DESTINATION],
    }
    outcomes | "Count" >> mf.CountOutcomes(counts_path)
    # counts so far, for the manifest of a run that does not finish (read: where the source produces it)
    outcomes | "Tally" >> progress.Tally()


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
    as_json = _wants_json(argv)

    def failed(code: int, message: str) -> int:
        print(message, file=sys.stderr)
        if as_json:
            print(json.dumps({"ok": False, "exit_code": code, "state": "NOT STARTED", "error": message}),
                  file=stdout)
        return code

    try:
        options = PipelineOptions(argv)
        level = options.view_as(RedactlineOptions).log_level
        if level:
            configure_logging(level)
        plan = validate(options, engine_factory)
        emitter = configure_lineage(plan.opts.lineage_transport)  # before prepare writes anything
        prepared = prepare(plan)
    except KeyboardInterrupt:  # Ctrl-C while loading the policy or profiling: nothing was written yet
        return failed(130, "redactline run: interrupted before the pipeline started (nothing written)")
    except (UsageError, LineageConfigError) as exc:
        return failed(2, f"redactline run: error: {exc}")
    except DestinationPreflightError as exc:
        return failed(1, f"redactline run: FAILED before reading any record: {exc}")
    rp = prepared.plan
    chosen = runners.choose(options)
    runner, runner_name = chosen.runner, chosen.name
    counts_path = rp.manifest_path + ".counts.json"
    in_process = chosen.in_process
    leftovers = outputs.Leftovers(outputs.of_plan(rp), extra_files=[counts_path])
    leftovers.snapshot()
    started = _now()
    from .run_lineage import RunLineage  # imports the OpenLineage client (~0.3 s): runs only

    lineage = RunLineage(prepared, runner_name, emitter)
    lineage.start(started)  # sent only when a transport is configured
    state = "FAILED"
    error: str | None = None
    stopped: Interrupted | None = None
    with InterruptGuard() as guard:  # SIGINT/SIGTERM end the run with a FAILED manifest (interrupt.py)
        try:
            with failures.WithheldBeamErrors():
                pipeline = beam.Pipeline(runner=runner, options=options)
                build(pipeline, prepared, counts_path, source)
                warm = rp.job.engine_factory if chosen.warm_workers else None
                # workers on this machine (warm_workers) publish live counts to a private dir they inherit
                live = chosen.warm_workers and not rp.opts.quiet
                with engine_handoff.engine_file(warm), live_progress_dir(live) as live_dir, Progress(
                        enabled=not rp.opts.quiet, counts_visible=runner is not None and in_process,
                        progress_dir=live_dir) as shown:
                    result = pipeline.run()
                    shown.follow(result)  # counts from the job's Beam metrics when its DoFns run elsewhere
                    state = str(result.wait_until_finish() or result.state)
        except Interrupted as exc:
            stopped = exc
        except (uris.UriError, FileNotFoundError) as exc:
            guard.cleaning_up()
            leftovers.remove()
            lineage.abandon(_now(), type(exc).__name__)  # START was sent: end the run with FAIL
            return failed(2, f"redactline run: error: {exc}")
        except Exception as exc:  # the run failed; its message may quote data: failures.summary names
            # what could not be reached, the exception type and the step, never a value
            error = failures.summary(exc, options)
            log.debug("pipeline failed: %s", failures.describe(exc))
        guard.cleaning_up()
        if stopped is None and guard.received is not None:  # Beam may wrap Interrupted in its own error
            stopped, error = Interrupted(guard.received), None
        return _finish(prepared, runner_name, started, state, error, stopped, counts_path,
                       partial_visible=runner is not None and in_process, leftovers=leftovers,
                       stdout=stdout, summary=summary, lineage=lineage)


def _finish(prepared: Prepared, runner_name: str, started: str, state: str, error: str | None,
            stopped: Interrupted | None, counts_path: str, *, partial_visible: bool,
            leftovers: outputs.Leftovers, stdout: TextIO, summary: bool | None,
            lineage: Any = None) -> int:
    """After the pipeline: remove temporary files, write the manifest, print the summary; the exit code.

    A run that failed or was interrupted has no counts file: its manifest takes the outcomes tallied
    in this process so far (``counts_status: partial``; ``unavailable`` when the workers were other
    processes) and its check fails.
    """
    rp = prepared.plan
    ended = _now()
    finished = error is None and stopped is None
    counts = _counts_or_empty(counts_path) if finished else None
    removed = leftovers.remove()
    if removed:
        log.info("removed %d temporary file(s) the run left", len(removed))
    partial = progress.outcomes() if counts is None and partial_visible else None
    if stopped is not None:
        state = f"FAILED (interrupted by {stopped.name})"
    elif error is not None:
        state = f"FAILED ({error})"
    manifest = mf.build_manifest(
        run_id=rp.run_id, started_at=started, ended_at=ended, runner=runner_name,
        state=state, policy=rp.policy_identity,
        source=rp.source.safe,
        sinks={"delivered": rp.sink.safe, "held": rp.held.safe, "quarantine": rp.quarantine_path},
        quarantine_key_id=prepared.quarantine_key_id,
        counts=counts or partial or _EMPTY,
        destination=prepared.destination_info,
        profile=prepared.profile_info,
    )
    manifest["counts_status"] = "complete" if counts else "partial" if partial else "unavailable"
    if stopped is not None:
        manifest["interrupted"] = {"signal": stopped.name, "exit_code": stopped.exit_code}
    if counts is None:
        manifest["check"]["holds"] = False
        manifest["check"]["error"] = (
            "the run did not finish: " + ("counts are partial, as tallied when it stopped; outputs may be "
                                          "incomplete" if partial else "no counts"))
    if lineage is not None:
        lineage.finish(manifest)  # the final OpenLineage event, embedded as manifest["openlineage"]
    mf.write_manifest(manifest, rp.manifest_path)
    ok = finished and manifest["check"]["holds"] and state.endswith("DONE")
    code = stopped.exit_code if stopped is not None else 0 if ok else 1
    if rp.opts.summary_format == "json":
        print(json.dumps(_summary_json(manifest, rp, code, ok, error), ensure_ascii=False, indent=2),
              file=stdout)
        return code
    if (not rp.opts.quiet if summary is None else summary) or not ok:
        out = stdout if ok else sys.stderr
        print(f"run {rp.run_id}: {'done' if ok else 'FAILED'} on {runner_name}", file=out)
        if stopped is not None:
            print(f"  interrupted by {stopped.name}: temporary files removed, counts "
                  f"{manifest['counts_status']}", file=out)
        if error:
            print(f"  pipeline error: {error} (details at DEBUG log level: --log-level DEBUG)", file=out)
        for line in mf.summary_lines(manifest):
            print(f"  {line}", file=out)
        print(f"  delivered:  {rp.sink.safe}", file=out)
        print(f"  held:       {rp.held.safe}", file=out)
        print(f"  quarantine: {rp.quarantine_path}", file=out)
        print(f"  manifest:   {rp.manifest_path}", file=out)
    return code


def _wants_json(argv: list[str]) -> bool:
    """Whether ``--format json`` is among the flags (read before they are parsed: errors in parsing
    them are reported as JSON too)."""
    for index, arg in enumerate(argv):
        if arg == "--format=json" or (arg == "--format" and argv[index + 1:index + 2] == ["json"]):
            return True
    return False


def _summary_json(manifest: dict[str, Any], rp: RunPlan, code: int, ok: bool, error: str | None
                  ) -> dict[str, Any]:
    """The end-of-run summary as one JSON document (stable keys; counts as in the manifest, no values)."""
    return {
        "ok": ok,
        "exit_code": code,
        "run_id": rp.run_id,
        "state": manifest["state"],
        "runner": manifest["runner"],
        "error": error,
        "counts": manifest["counts"],
        "counts_status": manifest["counts_status"],
        "entities": manifest["entities"],
        "check": manifest["check"],
        "destination": manifest.get("destination"),
        "interrupted": manifest.get("interrupted"),
        "outputs": {"delivered": rp.sink.safe, "held": rp.held.safe, "quarantine": rp.quarantine_path,
                    "manifest": rp.manifest_path},
    }


_EMPTY: dict[str, Any] = {
    "read": 0, "delivered": 0, "held": {}, "quarantined": {}, "entities": {}, "destination": {}
}


def _counts_or_empty(path: str) -> dict[str, Any] | None:
    try:
        return mf.read_counts(path)
    except (OSError, ValueError):
        return None


def main() -> None:
    try:
        configure_logging()  # $REDACTLINE_LOG_LEVEL, else WARNING; --log-level is applied by run()
    except LogLevelError as exc:
        print(f"redactline run: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(run())


if __name__ == "__main__":
    main()
