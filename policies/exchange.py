"""The egress exchange: redact under one pseudonym context -> decide -> render -> (caller sends) -> restore.

Every way data leaves for an external LLM goes through here: the batch LLM stage
(``pipelines/llm_stage.py``), ``redactline prompt`` (``connectors/llm/prompt_cli.py``) and the local
proxy (``connectors/proxy.py``). A control added here applies to all three.

* :class:`EgressExchange` is built once per destination (the engine, the destination's egress
  controls, the policy's residency rules and the region they are checked against).
* Its ``redact_*`` methods return one :class:`Redacted` per record, prompt or proxied request: the
  redacted output and its findings, under ONE :class:`~redactline.policies.operators.RecordContext`,
  so ``<PERSON_1>`` is the same person in every field or message.
* :meth:`Redacted.decide` runs residency first (when the policy has rules), then
  :func:`~redactline.policies.egress.check_egress`, and returns one :class:`ExchangeDecision`;
  :meth:`Redacted.render` builds the prompt; :meth:`Redacted.reidentify` / :meth:`Redacted.stream`
  restore the originals from that context's vault.

Sending stays with the caller (the connectors do the HTTP). A :class:`Redacted` holds the vault, so it
refuses to be pickled: it lives inside one call and never crosses a process or Beam step boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from .egress import check_egress
from .operators import RecordContext
from .prompts import render_prompt
from .reidentify import StreamingReidentifier, Vault

if TYPE_CHECKING:
    from .destinations import DestinationConfig
    from .engine import Finding
    from .residency import ResidencyConfig

# Which control refused (residency and egress share the reason code ``unknown_jurisdiction``).
RESIDENCY = "residency"
EGRESS = "egress"


@dataclass(frozen=True)
class ExchangeDecision:
    """May the redacted data leave? ``reason`` is a stable code of the ``control`` that refused.

    ``detail`` names entity types and jurisdiction codes only, never a value (empty for residency,
    whose reason code says it all). ``jurisdiction`` is the resolved one: residency's canonical code
    when residency ran, else the jurisdiction as given.
    """

    allowed: bool
    jurisdiction: str | None
    reason: str | None = None
    detail: str = ""
    control: str | None = None


@dataclass(frozen=True)
class RenderedPrompt:
    """The messages to send: ``user`` and an optional ``system``."""

    user: str
    system: str | None


class Restorer(Protocol):
    """What re-identifies answers: a :class:`~redactline.policies.reidentify.Vault` or a :class:`Redacted`."""

    def reidentify(self, text: str) -> str: ...

    def stream(self) -> StreamingReidentifier: ...


def system_message(destination: DestinationConfig, fields: Mapping[str, Any] | None = None) -> str | None:
    """The destination's ``system`` message rendered from ``fields`` (None when it has none).

    A prompt has no record, so it is rendered from no fields:
    :class:`~redactline.policies.prompts.PromptError` when the message refers to one (callers may check
    this before anything is redacted or sent).
    """
    system = destination.prompt.system if destination.prompt is not None else None
    return render_prompt(system, fields or {}) if system else None


class Redacted:
    """One record, prompt or proxied request redacted under ONE pseudonym context.

    ``record`` (a record), ``texts`` (a list of texts) or ``text`` (a prompt) is what may leave after
    :meth:`decide`; ``findings`` say what was found (no values). The context's vault stays here.
    """

    __slots__ = ("_exchange", "_context", "_vault", "findings", "record", "texts")

    def __init__(self, exchange: EgressExchange, context: RecordContext, findings: Sequence[Finding], *,
                 record: dict[str, Any] | None = None, texts: list[str] | None = None) -> None:
        self._exchange = exchange
        self._context = context
        self._vault: Vault | None = None
        self.findings = tuple(findings)
        self.record = record
        self.texts = texts

    @property
    def text(self) -> str:
        """The redacted prompt (an exchange made by :meth:`EgressExchange.redact_prompt`)."""
        if self.texts is None or len(self.texts) != 1:
            raise TypeError("not a single redacted prompt")
        return self.texts[0]

    def entity_counts(self) -> dict[str, int]:
        """``{entity_type: n}`` of the findings, sorted by type."""
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.entity_type] = counts.get(finding.entity_type, 0) + 1
        return dict(sorted(counts.items()))

    # --- decide / render -------------------------------------------------------------------------
    def decide(self, jurisdiction: str | None) -> ExchangeDecision:
        """Residency, then the destination's egress controls, for data of ``jurisdiction``."""
        return self._exchange.decide(jurisdiction, self.findings)

    def render(self) -> RenderedPrompt:
        """The prompt: the destination's template (and system message) filled from the redacted record,
        or, for a prompt, the redacted text itself with the destination's system message.

        Raises :class:`~redactline.policies.prompts.PromptError` (naming a field path or template
        position, never a value) when the template needs a field the record lacks.
        """
        destination = self._exchange.destination
        if destination is None or destination.prompt is None:
            raise ValueError("no destination prompt to render")
        if self.record is not None:
            return RenderedPrompt(render_prompt(destination.prompt.template, self.record),
                                  system_message(destination, self.record))
        return RenderedPrompt(self.text, system_message(destination))

    # --- restore ---------------------------------------------------------------------------------
    @property
    def vault(self) -> Vault:
        """The context's vault (placeholder -> original), built on first use."""
        if self._vault is None:
            self._vault = Vault.from_context(self._context)
        return self._vault

    def reidentify(self, text: str) -> str:
        """``text`` (an answer) with the placeholders of this exchange replaced by the originals."""
        return self.vault.reidentify(text)

    def stream(self) -> StreamingReidentifier:
        """A re-identifier for an answer that arrives in pieces (the proxy's SSE deltas)."""
        return self.vault.stream()

    def __repr__(self) -> str:
        return f"Redacted(<{len(self.findings)} findings>)"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a redacted exchange holds its vault and cannot be pickled")


class EgressExchange:
    """The egress path to one destination: redact, decide, render, restore (see the module docstring).

    ``destination`` None (the proxy without ``--destination``): texts are redacted and restored, and
    nothing is decided (every request may leave). ``residency`` is the policy's residency section
    (None: no rules); ``region`` the region it is checked against, by default the destination's.
    Not thread-safe: the engine's spaCy pipeline promises no concurrent callers.
    """

    def __init__(self, engine: Any, destination: DestinationConfig | None = None, *,
                 residency: ResidencyConfig | None = None, region: str | None = None) -> None:
        self.engine = engine
        self.destination = destination
        self.residency = residency
        self.region = region if region is not None or destination is None else destination.region

    # --- redact ----------------------------------------------------------------------------------
    def redact_record(self, fields: Mapping[str, Any]) -> Redacted:
        """One record through the engine's record API (field rules, subject, pseudonyms)."""
        context = RecordContext()
        result = self.engine.redact_record(fields, context=context)
        return Redacted(self, context, result.findings, record=result.record)

    def redact_records(self, records: Sequence[Mapping[str, Any]]) -> list[Redacted | Exception]:
        """Many records, one context each, one spaCy pass when possible.

        When the batch fails, each record is redone alone with a fresh context; a record the engine
        still cannot redact comes back as the exception (its text may quote the input: callers keep
        only its type).
        """
        contexts = [RecordContext() for _ in records]
        try:
            results = list(self.engine.redact_records(records, batch_size=max(1, len(records)),
                                                      contexts=contexts))
            if len(results) != len(records):
                raise RuntimeError("engine returned a different number of results")
            return [Redacted(self, context, result.findings, record=result.record)
                    for context, result in zip(contexts, results, strict=True)]
        except Exception:
            pass  # some record broke the batch: redo one by one with fresh contexts
        out: list[Redacted | Exception] = []
        for fields in records:
            try:
                out.append(self.redact_record(fields))
            except Exception as exc:
                out.append(exc)
        return out

    def redact_texts(self, texts: Iterable[str]) -> Redacted:
        """Several texts of one request (the proxy's messages) under one context."""
        context = RecordContext()
        out: list[str] = []
        findings: list[Finding] = []
        for text in texts:
            result = self.engine.redact_text(text, context=context)
            out.append(result.text)
            findings.extend(result.findings)
        return Redacted(self, context, findings, texts=out)

    def redact_prompt(self, text: str) -> Redacted:
        """One prompt text (``redactline prompt``)."""
        return self.redact_texts([text])

    # --- decide ----------------------------------------------------------------------------------
    def decide(self, jurisdiction: str | None, findings: Iterable[Finding]) -> ExchangeDecision:
        """Residency first (when the policy has rules), then the destination's egress controls."""
        destination = self.destination
        if destination is None:
            return ExchangeDecision(True, jurisdiction)
        if self.residency is not None:
            assert self.region is not None
            residency = self.residency.decide(jurisdiction, self.region)
            if not residency.allowed:
                return ExchangeDecision(False, residency.jurisdiction, residency.reason, control=RESIDENCY)
            jurisdiction = residency.jurisdiction
        egress = check_egress(destination, jurisdiction, findings)
        if not egress.allowed:
            return ExchangeDecision(False, jurisdiction, egress.reason, egress.detail, control=EGRESS)
        return ExchangeDecision(True, jurisdiction)
