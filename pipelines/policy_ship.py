"""The policy travels with the job: resolved once on the driver, rebuilt on every worker from that.

:func:`ship` turns a loaded :class:`~redactline.policies.Policy` into a :class:`ShippedPolicy`: the
canonical resolved document (``extends`` already merged), its hashes, and for each key the directory a
relative ``file:`` reference is read from. It is pickled into the pipeline graph; a worker rebuilds the
policy with :meth:`ShippedPolicy.load` and never opens a policy file. Keys stay references: an ``env``
key is read from the worker's environment and a ``file`` key from the worker's file system when the
engine is built; no key material is ever in the graph.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from redactline.policies import Policy, load_policy

# Policies shipped in this (driver) process, by (origin, meaning hash): a stage built later for the same
# run takes the already-resolved document instead of reading the file again.
_SHIPPED: dict[tuple[str, str], ShippedPolicy] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ShippedPolicy:
    """A resolved policy as data: picklable, no key material."""

    origin: str  # where the driver read it (messages and caches only; never opened on a worker)
    document_json: str  # canonical JSON of the resolved document
    sha256: str  # meaning hash the run started with (manifests, lineage, enclave allow-lists)
    key_dirs: dict[str, str] = field(default_factory=dict)  # key name -> base directory of a file: key

    def load(self) -> Policy:
        """Rebuild the policy (keys resolved here, on the worker); refuses a document whose meaning hash
        is not the one the run started with."""
        from redactline.policies.keys import resolve_key
        from redactline.policies.loader import SourceFile, meaning_sha256
        from redactline.policies.schema import PolicyDocument

        document = PolicyDocument.model_validate(json.loads(self.document_json))
        if meaning_sha256(document) != self.sha256:
            raise RuntimeError(f"policy {self.origin} changed since the run started (hash mismatch)")
        keys = {name: resolve_key(name, spec, Path(self.key_dirs.get(name, ".")))
                for name, spec in document.keys.items()}
        origin = Path(self.origin)
        return Policy(origin, document, [SourceFile(origin, {}, {})], keys)


def ship(policy: Policy) -> ShippedPolicy:
    """The driver's resolved ``policy`` as a :class:`ShippedPolicy` (remembered for :func:`for_path`)."""
    from redactline.policies.loader import canonical_json, resolve

    _, _, key_dirs = resolve(policy.path)  # where each file: key is relative to (no key is read)
    shipped = ShippedPolicy(str(policy.path), canonical_json(policy.document), policy.identity.sha256,
                            {name: str(path) for name, path in key_dirs.items()})
    with _LOCK:
        _SHIPPED[(shipped.origin, shipped.sha256)] = shipped
    return shipped


def for_path(path: str, expected_sha256: str) -> ShippedPolicy:
    """The policy this driver already shipped for ``path``, else the file resolved now (on the driver).

    A file whose hash is not ``expected_sha256`` is shipped as read: the workers refuse it with
    "hash mismatch" when they rebuild it, as a run whose policy changed must fail.
    """
    with _LOCK:
        known = _SHIPPED.get((str(path), expected_sha256))
    if known is not None:
        return known
    policy = load_policy(path)
    shipped = ship(policy)
    if shipped.sha256 == expected_sha256:
        return shipped
    return ShippedPolicy(shipped.origin, shipped.document_json, expected_sha256, shipped.key_dirs)

