"""Egress controls: may this redacted record (or prompt) be sent to this external destination?

Residency (:mod:`redactline.policies.residency`) answers "may data of this jurisdiction be stored in
that region". Egress answers the questions that only matter once data leaves for a third party's API:

* ``jurisdictions``: is this record's jurisdiction allowed to use the destination at all?
* ``never_send``: does the record contain an entity type that must not leave even as a pseudonym
  (the *existence* and count of, say, a diagnosis or a national ID is itself sensitive)?
* ``allowed_entities``: are all entity types found in it on the destination's allow list?

The decision fails closed: a destination restricted to jurisdictions refuses a record whose
jurisdiction is missing or not understood. Reason codes are stable (manifests count by them) and the
``detail`` text names entity types and jurisdiction codes only, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from . import regions

if TYPE_CHECKING:
    from .destinations import DestinationConfig

# Held reason codes. Stable: manifests and the proxy's error codes use them.
NEVER_SEND_ENTITY = "never_send_entity"
ENTITY_NOT_ALLOWED = "entity_not_allowed"
JURISDICTION_NOT_ALLOWED = "jurisdiction_not_allowed"
UNKNOWN_JURISDICTION = "unknown_jurisdiction"


class _HasEntityType(Protocol):
    @property
    def entity_type(self) -> str: ...


@dataclass(frozen=True)
class EgressDecision:
    """``allowed``, or ``reason`` (one of the codes above) with a PII-free ``detail``."""

    allowed: bool
    reason: str | None = None
    detail: str = ""


ALLOWED = EgressDecision(True)


def jurisdiction_allowed(allowed: Iterable[str], jurisdiction: str) -> bool:
    """Whether every country ``jurisdiction`` (a canonical code) stands for is covered by ``allowed``.

    Same rule as residency: an ``EU`` entry covers a ``DE`` record; a ``DE`` entry does not cover a
    record that is only known to be from the ``EU``.
    """
    covered = frozenset().union(*(regions.countries_of(code) for code in allowed))
    return regions.countries_of(jurisdiction) <= covered


def check_egress(
    destination: DestinationConfig, jurisdiction: str | None, findings: Iterable[_HasEntityType]
) -> EgressDecision:
    """Decide whether a record with ``findings`` (from the redaction engine) may go to ``destination``.

    ``jurisdiction`` is the record's jurisdiction (an ISO code or group; any case), or None when unknown.
    Checks run in order jurisdiction, never_send, allowed_entities; the first failure is returned.
    """
    if destination.jurisdictions is not None:
        code = regions.normalize_jurisdiction(jurisdiction) if jurisdiction is not None else None
        if code is None:
            return EgressDecision(
                False,
                UNKNOWN_JURISDICTION,
                "the destination is restricted to jurisdictions "
                f"{', '.join(destination.jurisdictions) or '(none)'} "
                "and the record's jurisdiction is unknown",
            )
        if not jurisdiction_allowed(destination.jurisdictions, code):
            return EgressDecision(
                False,
                JURISDICTION_NOT_ALLOWED,
                f"jurisdiction {code} may not use this destination "
                f"(allowed: {', '.join(destination.jurisdictions) or 'none'})",
            )
    types = sorted({finding.entity_type for finding in findings})
    forbidden = [t for t in types if t in set(destination.never_send)]
    if forbidden:
        return EgressDecision(
            False, NEVER_SEND_ENTITY, f"entity types that may never leave: {', '.join(forbidden)}"
        )
    if destination.allowed_entities is not None:
        allowed = set(destination.allowed_entities)
        outside = [t for t in types if t not in allowed]
        if outside:
            return EgressDecision(
                False,
                ENTITY_NOT_ALLOWED,
                f"entity types not allowed for this destination: {', '.join(outside)}",
            )
    return ALLOWED
