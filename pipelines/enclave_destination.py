"""``--destination enclave:URL`` (or a policy destination of kind ``enclave`` with a ``url``).

Resolved on the driver before the pipeline is built: read the trust settings, attest and verify the
enclave once (:func:`~redactline.enclave_sink.sink.preflight`), and take the destination region from
the verified, attested configuration. If that fails, the run stops before any record is read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from redactline.enclave_sink.client import AttestationRejected, EnclaveTrust, RetryPolicy
from redactline.enclave_sink.measurement import PolicyFileError, policy_from_mapping
from redactline.enclave_sink.sink import EnclaveDestination, preflight
from redactline.enclave_sink.trust import trust_root_from_pem
from redactline.policies.residency import check_region

ENCLAVE_PREFIX = "enclave:"


class EnclaveConfigError(ValueError):
    """Bad enclave flags (exit code 2); the message names the flag or file."""


class EnclavePreflightError(RuntimeError):
    """The enclave could not be reached or its attestation was refused (exit code 1, nothing sent)."""


def enclave_url(policy: Any, destination: str | None) -> tuple[str, str | None] | None:
    """``(url, declared region)`` when ``destination`` names an enclave, else None."""
    if destination is None:
        return None
    if destination.startswith(ENCLAVE_PREFIX):
        url = destination[len(ENCLAVE_PREFIX):]
        if not url.startswith(("http://", "https://")):
            raise EnclaveConfigError(f"--destination {destination}: expected enclave:http(s)://HOST:PORT")
        return url, None
    declared = policy.destinations.get(destination)
    if declared is not None and declared.kind == "enclave" and declared.url:
        return declared.url, declared.region
    return None


def _trust(opts: Any) -> EnclaveTrust:
    root_pem = None
    if opts.enclave_root:
        try:
            root_pem = Path(opts.enclave_root).read_bytes()
            root = trust_root_from_pem(root_pem)
        except OSError as exc:
            raise EnclaveConfigError(f"--enclave-root {opts.enclave_root}: {exc.strerror or exc}") from None
        except ValueError:
            raise EnclaveConfigError(f"--enclave-root {opts.enclave_root}: not a PEM certificate") from None
        if root.unsafe and not opts.unsafe_allow_simulated:
            raise EnclaveConfigError(
                f"--enclave-root {opts.enclave_root} is not the AWS Nitro root; trusting a simulator's root "
                "needs --unsafe-allow-simulated (local runs and tests only)"
            )
    pcr_policy = None
    if opts.pcr_policy:
        try:
            pcr_policy = yaml.safe_load(Path(opts.pcr_policy).read_text(encoding="utf-8"))
            policy_from_mapping(pcr_policy, opts.pcr_policy)  # validate now, with the file's name
        except OSError as exc:
            raise EnclaveConfigError(f"--pcr-policy {opts.pcr_policy}: {exc.strerror or exc}") from None
        except yaml.YAMLError:
            raise EnclaveConfigError(f"--pcr-policy {opts.pcr_policy}: not valid YAML") from None
        except PolicyFileError as exc:
            raise EnclaveConfigError(f"--pcr-policy {exc}") from None
    elif not opts.unsafe_allow_simulated:
        raise EnclaveConfigError("an enclave destination needs --pcr-policy FILE (the measurements to trust)")
    return EnclaveTrust(
        root_pem=root_pem, allow_unsafe_root=opts.unsafe_allow_simulated, pcr_policy=pcr_policy
    )


def plan_enclave(
    opts: Any, url: str, declared_region: str | None, policy_sha256: str
) -> tuple[EnclaveDestination, dict[str, Any]]:
    """Validate the flags, attest once, and return the destination plus what was attested."""
    if opts.enclave_batch_bytes < 1 or opts.enclave_batch_records < 1 or opts.enclave_attempts < 1:
        raise EnclaveConfigError("--enclave-batch-bytes, --enclave-batch-records and --enclave-attempts must "
                                 "be >= 1")
    if opts.enclave_timeout <= 0:
        raise EnclaveConfigError("--enclave-timeout must be positive")
    destination = EnclaveDestination(
        url=url,
        trust=_trust(opts),
        region=None,
        policy_sha256=policy_sha256,
        retry=RetryPolicy(attempts=opts.enclave_attempts, timeout=opts.enclave_timeout),
        max_batch_bytes=opts.enclave_batch_bytes,
        max_batch_records=opts.enclave_batch_records,
    )
    try:
        attested = preflight(destination)
    except AttestationRejected as exc:
        raise EnclavePreflightError(f"enclave at {url}: {exc}; nothing was sent") from None
    except Exception as exc:  # httpx errors: connection refused, timeouts, HTTP status
        raise EnclavePreflightError(
            f"enclave at {url} could not be attested ({type(exc).__name__}); nothing was sent"
        ) from None
    region = attested["region"]
    try:
        check_region(region)
    except ValueError as exc:
        raise EnclavePreflightError(f"enclave at {url}: attested {exc}; nothing was sent") from None
    for flag, expected in (("the policy destination's region", declared_region),
                           ("--sink-region", opts.sink_region)):
        if expected is not None and expected != region:
            raise EnclavePreflightError(
                f"enclave at {url} attests region {region!r} but {flag} is {expected!r}; nothing was sent"
            )
    return dataclasses.replace(destination, region=region), {"kind": "enclave", **attested}
