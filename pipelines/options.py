"""Pipeline options of ``redactline run``: our flags, registered as Beam ``PipelineOptions``.

Every flag not listed here goes to Beam untouched (``--runner``, ``--project``, ``--region``,
``--direct_num_workers``, ``--flink_master``, ...).
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from redactline.policies.profile import DEFAULT_SAMPLE as DEFAULT_PROFILE_SAMPLE

from .cli import LOG_LEVEL_ENV, LOG_LEVELS

DEFAULT_MAX_RECORD_BYTES = 4 << 20  # 4 MiB (as JSON), the file connectors' default record limit
DEFAULT_BATCH_SIZE = 64  # records per engine call (one spaCy pipe pass)
LOCAL_RUNNER = "local"  # alias of the default: Beam's in-process FnApiRunner, which downloads nothing


class RedactlineOptions(PipelineOptions):
    """The flags of ``redactline run`` / ``python -m redactline.pipelines.run``."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("redactline")
        group.add_argument("--policy", help="policy YAML file (required)")
        group.add_argument(
            "--source",
            help="input: a file or glob (*.csv, *.jsonl, *.parquet), postgresql://...#table, or "
            "http(s)://... (a paginated JSON API) (required)",
        )
        group.add_argument(
            "--sink", help="output for delivered records: out/prefix.jsonl|.csv|.parquet or "
            "postgresql://...#table (required)",
        )
        group.add_argument("--held", help="output for records held by residency (default: beside the sink)")
        group.add_argument("--quarantine", help="quarantine JSONL file (default: beside the sink)")
        group.add_argument("--manifest", help="run manifest JSON file (default: beside the sink)")
        group.add_argument(
            "--destination",
            help="where redacted records go. NAME: a destination declared in the policy (an enclave "
            "destination with a url sends there; otherwise its region drives residency and records go to "
            "--sink); llm:NAME: send sanitized prompts to the policy's external_api destination NAME and "
            "write the re-identified answers to --sink; enclave:URL: seal records for the attested enclave "
            "at URL and write its results to --sink. Optional when the policy declares exactly one "
            "non-enclave destination",
        )
        group.add_argument("--sink-region", help="region of the sink, overriding --destination's region")
        group.add_argument(
            "--jurisdiction", help="source-level jurisdiction (ISO 3166 code or group) for every record"
        )
        group.add_argument("--max-record-bytes", type=int, default=DEFAULT_MAX_RECORD_BYTES,
                           help="records larger than this (as JSON) are quarantined as oversize")
        group.add_argument("--max-field-bytes", type=int, default=None,
                           help="file sources, PostgreSQL json/jsonb columns: fields larger than this "
                           "are quarantined (default: the connector's)")
        group.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                           help="records per engine call")
        group.add_argument("--quarantine-key-env", help="environment variable holding the quarantine key")
        group.add_argument("--quarantine-key-file", help="file holding the quarantine key")
        group.add_argument("--source-key", help="PostgreSQL source: key column (ref and partitioning)")
        group.add_argument("--source-partitions", type=int, default=1,
                           help="PostgreSQL source: parallel key-range partitions")
        group.add_argument("--sink-key", default="id",
                           help="PostgreSQL sinks: key column(s) for upserts, comma-separated")
        group.add_argument("--http-pagination", choices=("cursor", "page", "link"), default=None,
                           help="HTTP source: pagination style (required for an http(s) source)")
        group.add_argument("--http-items-path", default="items",
                           help="HTTP source: dotted path of the item array in a page ('' = the body)")
        group.add_argument("--http-auth-env", default=None,
                           help="HTTP source: environment variable whose value is sent as Authorization")
        group.add_argument("--num-shards", type=int, default=1,
                           help="file sinks: 1 = exactly the named file; N > 1 = N shards named "
                           "PREFIX-0000i-of-0000N.EXT")
        enclave = parser.add_argument_group("enclave destination (--destination enclave:URL)")
        enclave.add_argument("--enclave-root", metavar="PEM",
                             help="trust this attestation root instead of AWS Nitro's (a simulator's root "
                             "also needs --unsafe-allow-simulated)")
        enclave.add_argument("--pcr-policy", metavar="FILE",
                             help="YAML PCR allowlist the enclave's measurements must match (required for "
                             "a real enclave)")
        enclave.add_argument("--unsafe-allow-simulated", action="store_true", default=False,
                             help="accept a simulated enclave's test root: UNSAFE, local runs and tests only")
        enclave.add_argument("--enclave-tee", choices=("nitro", "sev-snp", "tdx"), default=None,
                             help="the enclave's TEE type; evidence of another type is refused (default: the "
                             "policy destination's tee, else nitro)")
        enclave.add_argument("--enclave-allow-tcb-unknown", action="store_true", default=False,
                             help="tdx: accept a quote whose TCB status cannot be checked (no TDX "
                             "collateral): for simulators and hosts without collateral only (off by default)")
        enclave.add_argument("--enclave-batch-bytes", type=int, default=1 << 20,
                             help="largest sealed batch, in bytes of JSON (default 1 MiB)")
        enclave.add_argument("--enclave-batch-records", type=int, default=500,
                             help="most records per sealed batch (default 500)")
        enclave.add_argument("--enclave-timeout", type=float, default=30.0,
                             help="seconds per request to the enclave (default 30)")
        enclave.add_argument("--enclave-attempts", type=int, default=4,
                             help="attempts per batch on 5xx, timeouts and connection errors (default 4)")
        enclave.add_argument("--enclave-in-flight", type=int, default=3,
                             help="sealed batches in flight at once per worker (default 3)")
        enclave.add_argument("--enclave-model-digest", metavar="SHA256", default=None,
                             help="refuse an enclave whose attested model_digest is not this one "
                             "(sha256:<hex>, as /v1/config publishes it)")
        profile = parser.add_argument_group("column profiling (structured sources)")
        profile.add_argument("--profile", dest="profile", action="store_const", const=True, default=None,
                             help="profile the source's fields on the driver before the run and apply "
                             "whole-field rules to fields carrying one entity type (default for CSV, "
                             "JSONL, Parquet and PostgreSQL sources)")
        profile.add_argument("--no-profile", dest="profile", action="store_const", const=False,
                             help="do not profile: fields the policy does not name are inspected as text")
        profile.add_argument("--profile-sample", type=int, default=DEFAULT_PROFILE_SAMPLE, metavar="N",
                             help=f"records read from the start of the source for the profile (default "
                             f"{DEFAULT_PROFILE_SAMPLE})")
        group.add_argument("--run-id", help="run id (default: a random UUID)")
        group.add_argument("--lineage-transport", metavar="SPEC", default=None,
                           help="send OpenLineage START and COMPLETE/FAIL events: console, file:PATH, "
                           "http:URL (e.g. Marquez; key in $OPENLINEAGE_API_KEY) or none (default: the "
                           "OpenLineage client's configuration, $OPENLINEAGE_URL / $OPENLINEAGE_CONFIG; "
                           "unconfigured: nothing is sent)")
        group.add_argument("--lineage-job", metavar="NAME", default=None,
                           help="OpenLineage job name (default: redact.<policy name>; namespace "
                           "$OPENLINEAGE_NAMESPACE or redactline)")
        group.add_argument("--quiet", action="store_true", default=False,
                           help="no progress line or summary on the terminal (for scripts)")
        group.add_argument("--format", dest="summary_format", choices=("text", "json"), default="text",
                           help="end-of-run summary format: json prints one JSON document on stdout (counts, "
                           "check, outputs; errors too), with the same exit codes")
        group.add_argument("--overwrite", action="store_true", default=False,
                           help="replace existing output files (sink, held, quarantine, manifest); without "
                           "it an existing output file stops the run before it starts (exit 2)")
        group.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper, default=None,
                           help=f"logging level for this run (default: ${LOG_LEVEL_ENV} or WARNING); "
                           "DEBUG shows a failure's details (types and code locations, never values)")
