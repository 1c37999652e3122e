"""``--destination`` -> one :class:`~.base.Destination`, resolved once, on the driver.

=====================================  ===========================================================
``--destination``                      destination
=====================================  ===========================================================
absent                                 plain sink; region from ``--sink-region`` or the policy's only
                                       destination (required when the policy has residency rules)
``NAME`` (a policy destination)        plain sink in NAME's region, unless NAME is an ``enclave`` with
                                       a ``url``: then that enclave, whose attested region must match
``llm:NAME``                           the policy's ``external_api`` destination NAME
``enclave:URL``                        the enclave at URL (its region comes from its attestation)
=====================================  ===========================================================

Resolving reads the policy and the flags (and the enclave's trust files); it writes nothing and
contacts nothing: that is :meth:`~.base.Destination.preflight`'s job.
"""

from __future__ import annotations

from typing import Any

from redactline.policies.destinations import DestinationConfig, DestinationLookupError, lookup_destination
from redactline.policies.residency import check_region

from . import enclave, llm
from .base import Destination, DestinationConfigError, JobContext
from .enclave import AttestedEnclave
from .llm import ExternalLlm
from .plain import PlainSink


def resolve_destination(policy: Any, opts: Any, job: JobContext) -> Destination:
    """The destination ``opts.destination`` names for ``policy`` (a loaded Policy); ``opts`` holds the
    run's flags (``RedactlineOptions``). Raises :class:`DestinationConfigError` naming the flag."""
    flag: str | None = opts.destination
    if flag is not None and flag.startswith(llm.PREFIX):
        name = flag[len(llm.PREFIX):]
        config = _lookup(policy, flag, name, "external_api")
        region = _checked(opts.sink_region or config.region, f"--destination {flag}")
        return ExternalLlm(job, flag, name, config, region)
    if flag is not None and flag.startswith(enclave.PREFIX):
        return AttestedEnclave(job, opts, enclave.check_url(flag, flag[len(enclave.PREFIX):]), None)
    declared = None if flag is None else _lookup(policy, flag, flag)
    if declared is not None and declared.kind == "enclave" and declared.url:
        return AttestedEnclave(job, opts, declared.url, declared.region, declared.model_digest, declared.task,
                               declared.tee)
    return PlainSink(job, _plain_region(policy, opts, declared))


def _lookup(policy: Any, flag: str, name: str, kind: str | None = None) -> DestinationConfig:
    try:
        return lookup_destination(policy.destinations, name, kind)
    except DestinationLookupError as exc:
        raise DestinationConfigError(f"--destination {flag}: {exc}") from None


def _checked(region: str, flag: str) -> str:
    try:
        return check_region(region)
    except ValueError as exc:
        raise DestinationConfigError(f"{flag}: {exc}") from None


def _plain_region(policy: Any, opts: Any, declared: DestinationConfig | None) -> str | None:
    region = opts.sink_region
    if region is None and declared is not None:
        region = declared.region
    if region is None and len(policy.destinations) == 1:
        region = next(iter(policy.destinations.values())).region
    if region is None:
        if policy.residency is not None:
            raise DestinationConfigError("the policy has residency rules: name the sink's destination with "
                                         "--destination NAME or its region with --sink-region REGION")
        return None
    return _checked(region, "--sink-region" if opts.sink_region else "--destination")
