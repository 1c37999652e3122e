"""``policy diff`` on an enclave destination's model_digest, tee and task (and any other setting): every
difference gets a row with an honest effect and a note that names what changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from redactline.pipelines.cli import main
from redactline.policies.destinations import DestinationConfig
from redactline.policies.diff import (
    _EGRESS_FIELDS,
    _ENCLAVE_FIELDS,
    _GENERAL_FIELDS,
    Change,
    diff_policies,
    render_markdown,
)
from redactline.policies.policy import PolicyIdentity
from redactline.policies.schema import PolicyDocument

DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "b2" * 32
ENCLAVE: dict[str, Any] = {
    "kind": "enclave",
    "region": "eu-central-1",
    "url": "https://enclave.example:8443",
    "model_digest": DIGEST_A,
    "tee": "nitro",
    "task": {"kind": "generate", "prompt": "Summarise {notes}", "max_tokens": 64},
}
LLM: dict[str, Any] = {
    "kind": "external_api",
    "region": "us-east-1",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "url": "https://api.openai.com/v1",
    "prompt": {"template": "{notes}"},
    "scan_answers": "redact",
}


def policy(destination: dict[str, Any], version: str = "1.0.0") -> dict[str, Any]:
    return {
        "apiVersion": "redactline.dev/v1",
        "kind": "RedactionPolicy",
        "metadata": {"name": "enclave-diff", "version": version},
        "destinations": {"sink": destination},
    }


def edited(base: dict[str, Any], **edit: Any) -> dict[str, Any]:
    """``base`` with ``edit`` applied; a value of None removes the setting."""
    out = copy.deepcopy(base)
    out.update(edit)
    return {k: v for k, v in out.items() if v is not None}


def row(before: dict[str, Any], after: dict[str, Any]) -> Change:
    old = PolicyDocument.model_validate(policy(before))
    new = PolicyDocument.model_validate(policy(after, "2.0.0"))
    changes = [c for c in diff_policies(old, new) if c.section == "destinations"]
    assert len(changes) == 1, changes
    return changes[0]


CASES = [
    # model_digest
    pytest.param(ENCLAVE, edited(ENCLAVE, model_digest=DIGEST_B), "neutral",
                 ["model_digest a1a1a1a1a1a1 → b2b2b2b2b2b2"], id="digest-changed"),
    pytest.param(edited(ENCLAVE, model_digest=None), ENCLAVE, "tightening",
                 ["model_digest pinned to a1a1a1a1a1a1"], id="digest-set"),
    pytest.param(ENCLAVE, edited(ENCLAVE, model_digest=None), "loosening",
                 ["model_digest a1a1a1a1a1a1 removed", "any model"], id="digest-removed"),
    pytest.param(ENCLAVE, edited(ENCLAVE, model_digest="a1" * 32), "neutral",
                 ["same digest"], id="digest-prefix-dropped"),
    # tee
    pytest.param(ENCLAVE, edited(ENCLAVE, tee="sev-snp"), "neutral",
                 ["tee nitro → sev-snp"], id="tee-changed"),
    pytest.param(edited(ENCLAVE, tee=None), ENCLAVE, "neutral",
                 ["tee default (--enclave-tee, else nitro) → nitro"], id="tee-set"),
    pytest.param(ENCLAVE, edited(ENCLAVE, tee=None), "neutral",
                 ["tee nitro → default (--enclave-tee, else nitro)"], id="tee-removed"),
    # task
    pytest.param(ENCLAVE, edited(ENCLAVE, task={"kind": "generate", "prompt": "Summarise {notes}",
                                                "max_tokens": 128}),
                 "neutral", ["task changed: max_tokens"], id="task-sub-field"),
    pytest.param(ENCLAVE, edited(ENCLAVE, task={"kind": "embed", "fields": ["notes"]}), "neutral",
                 ["task changed: kind generate → embed, fields, max_tokens, prompt"], id="task-kind"),
    pytest.param(ENCLAVE, edited(ENCLAVE, task=None), "neutral",
                 ["kind generate → analyze", "no task means analyze"], id="task-removed"),
    pytest.param(edited(ENCLAVE, task=None), edited(ENCLAVE, task={"kind": "analyze"}), "neutral",
                 ["task rewritten, same meaning"], id="task-analyze-explicit"),
    # several at once: a loosening anywhere wins
    pytest.param(ENCLAVE, edited(ENCLAVE, model_digest=None, tee="tdx"), "loosening",
                 ["removed", "tee nitro → tdx"], id="digest-removed-and-tee"),
    # scan_answers (external_api): a weaker scan is a loosening
    pytest.param(LLM, edited(LLM, scan_answers="flag"), "loosening",
                 ["scan_answers redact → flag", "no longer redacted"], id="scan-weaker"),
    pytest.param(LLM, edited(LLM, scan_answers=None), "loosening",
                 ["scan_answers redact → unset (off)"], id="scan-removed"),
    pytest.param(edited(LLM, scan_answers="off"), LLM, "tightening", ["now redacted"], id="scan-stronger"),
    pytest.param(edited(LLM, scan_answers=None), edited(LLM, scan_answers="off"), "neutral",
                 ["same meaning"], id="scan-off-explicit"),
    # a kind change names the enclave-only settings it drops instead of comparing them
    pytest.param(ENCLAVE, edited(LLM, scan_answers=None), "loosening",
                 ["kind enclave → external_api", "other settings changed: model_digest, task, tee"],
                 id="kind-change"),
]


@pytest.mark.parametrize(("before", "after", "effect", "notes"), CASES)
def test_destination_difference_has_effect_and_note(
    before: dict[str, Any], after: dict[str, Any], effect: str, notes: list[str]
) -> None:
    change = row(before, after)
    assert change.effect == effect, change
    for note in notes:
        assert note in change.note, change
    assert "Summarise" not in change.note  # a task's prompt text is named, never repeated
    assert DIGEST_B not in change.note and DIGEST_A not in change.note  # digests in short form only


class _FutureDestination(DestinationConfig):
    """A destination with a setting added after the diff's rules were written."""

    colour: str | None = None


def test_a_setting_without_a_rule_is_named_not_silent() -> None:
    old = PolicyDocument.model_validate(policy(ENCLAVE))
    before = _FutureDestination.model_validate(ENCLAVE)
    after = _FutureDestination.model_validate({**ENCLAVE, "colour": "blue"})
    changes = diff_policies(
        old.model_copy(update={"destinations": {"sink": before}}),
        old.model_copy(update={"destinations": {"sink": after}}),
    )
    (change,) = [c for c in changes if c.section == "destinations"]
    assert (change.effect, change.note) == ("neutral", "other settings changed: colour")


def test_the_fields_the_rules_describe_are_real_fields() -> None:
    assert set(DestinationConfig.model_fields) >= _GENERAL_FIELDS | _EGRESS_FIELDS | _ENCLAVE_FIELDS


def test_markdown_row_for_a_tee_change() -> None:
    change = row(ENCLAVE, edited(ENCLAVE, tee="sev-snp"))
    old_id = PolicyIdentity("enclave-diff", "1.0.0", None, "a" * 64)
    new_id = PolicyIdentity("enclave-diff", "2.0.0", None, "b" * 64)
    markdown = render_markdown([change], old_id, new_id)
    (line,) = [x for x in markdown.splitlines() if "| destinations |" in x]
    assert line.startswith("| ℹ️ neutral | destinations | sink |")  # noqa: RUF001
    assert "tee nitro → sev-snp" in line


def test_json_lists_a_removed_model_digest_as_loosening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(json.dumps(policy(ENCLAVE)), encoding="utf-8")  # JSON is YAML
    new.write_text(json.dumps(policy(edited(ENCLAVE, model_digest=None), "2.0.0")), encoding="utf-8")
    code = main(["policy", "diff", str(old), str(new), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["loosening"] is True
    (entry,) = document["policies"]
    (change,) = [c for c in entry["changes"] if c["section"] == "destinations"]
    assert change["effect"] == "loosening" and "model_digest a1a1a1a1a1a1 removed" in change["note"]
