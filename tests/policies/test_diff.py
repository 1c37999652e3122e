"""``policy diff``: changes in meaning, their classification, the Markdown comment and sample outputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from redactline.policies import load_policy
from redactline.policies.diff import (
    OPERATOR_STRENGTH,
    Change,
    SampleRow,
    diff_policies,
    headline,
    md_cell,
    read_samples,
    render_markdown,
    sample_outputs,
)
from redactline.policies.policy import PolicyIdentity
from redactline.policies.schema import NlpConfig, PolicyDocument

BASE: dict[str, Any] = {
    "apiVersion": "redactline.dev/v1",
    "kind": "RedactionPolicy",
    "metadata": {"name": "diff-test", "version": "1.0.0"},
    "keys": {"k": {"env": "RL_DIFF_KEY"}},
    "detection": {
        "score_threshold": 0.4,
        "recognizers": [
            {
                "name": "EmployeeId",
                "supported_entity": "EMPLOYEE_ID",
                "patterns": [{"name": "emp", "regex": r"EMP-\d{6}", "score": 0.9}],
            }
        ],
    },
    "transforms": {
        "default": "replace",
        "entities": {
            "PERSON": "replace",
            "CREDIT_CARD": {"type": "mask", "keep_last": 4, "only_digits": True},
            "EMAIL_ADDRESS": {"type": "hash", "key": "k"},
        },
        "fields": {"id": "keep", "address": "drop_field", "ssn": "redact"},
    },
    "residency": {
        "unknown": "hold",
        "rules": [
            {"jurisdictions": ["EU"], "allowed_regions": ["EU"]},
            {"jurisdictions": ["US"], "allowed_regions": ["us-east-1"]},
        ],
    },
    "destinations": {"enclave-eu": {"kind": "enclave", "region": "eu-central-1"}},
}


IGNORED = NlpConfig().labels_to_ignore


def doc(data: dict[str, Any]) -> PolicyDocument:
    return PolicyDocument.model_validate(data)


def changed(edit, version: str | None = "2.0.0") -> list[Change]:
    """Diff BASE against a copy changed by ``edit`` (version bumped unless None, to keep warnings out)."""
    new = copy.deepcopy(BASE)
    edit(new)
    if version is not None:
        new["metadata"]["version"] = version
    return [c for c in diff_policies(doc(BASE), doc(new)) if c.section != "metadata"]


def only(changes: list[Change], subject: str) -> Change:
    matching = [c for c in changes if c.subject == subject]
    assert len(matching) == 1, changes
    return matching[0]


# --- operators -------------------------------------------------------------------------------------------


def test_operator_strength_orders_keep_weakest_and_drop_strongest() -> None:
    assert min(OPERATOR_STRENGTH, key=OPERATOR_STRENGTH.get) == "keep"
    assert max(OPERATOR_STRENGTH, key=OPERATOR_STRENGTH.get) == "drop_field"
    assert OPERATOR_STRENGTH["mask"] < OPERATOR_STRENGTH["hash"] < OPERATOR_STRENGTH["replace"]


def test_person_replace_to_keep_is_a_loosening(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    head = "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\n"
    old.write_text(head + "metadata: {name: p, version: 1.0.0}\ntransforms:\n  entities: {PERSON: replace}\n")
    new.write_text(head + "metadata: {name: p, version: 2.0.0}\ntransforms:\n  entities: {PERSON: keep}\n")
    changes = diff_policies(
        load_policy(old, resolve_keys=False).document, load_policy(new, resolve_keys=False).document
    )
    person = only(changes, "PERSON")
    assert (person.section, person.before, person.after, person.effect) == (
        "transforms.entities",
        "replace",
        "keep",
        "loosening",
    )


def test_keep_to_replace_is_a_tightening() -> None:
    def edit(d: dict) -> None:
        d["transforms"]["entities"]["PERSON"] = "redact"

    assert only(changed(edit), "PERSON").effect == "tightening"


def test_entity_dropped_from_the_list_is_compared_with_the_default() -> None:
    def strong_default(d: dict) -> None:
        del d["transforms"]["entities"]["PERSON"]
        d["transforms"]["default"] = "redact"

    person = only([c for c in changed(strong_default) if c.section == "transforms.entities"], "PERSON")
    assert (person.after, person.effect) == ("redact", "tightening")
    assert "default" in person.note

    def same_default(d: dict) -> None:
        del d["transforms"]["entities"]["PERSON"]  # replace -> default replace: no change

    assert not [c for c in changed(same_default) if c.subject == "PERSON"]


def test_default_change_is_reported_for_unlisted_types() -> None:
    def edit(d: dict) -> None:
        d["transforms"]["default"] = "keep"

    changes = changed(edit)
    assert only(changes, "default (unlisted entity types)").effect == "loosening"
    assert not [c for c in changes if c.subject == "PERSON"]  # still listed as replace


@pytest.mark.parametrize(
    ("mask", "effect"),
    [
        ({"keep_last": 8}, "loosening"),
        ({"keep_last": 2}, "tightening"),
        ({"keep_last": 4, "keep_first": 6}, "loosening"),
        ({"keep_last": 4, "count": 3}, "loosening"),
        ({"keep_last": 4, "only_digits": False}, "tightening"),
        ({"keep_last": 4, "char": "#"}, "neutral"),
        ({"keep_last": 8, "only_digits": False}, "loosening"),  # mixed: reviewed as a loosening
    ],
)
def test_mask_parameters(mask: dict, effect: str) -> None:
    def edit(d: dict) -> None:
        d["transforms"]["entities"]["CREDIT_CARD"] = {"type": "mask", "only_digits": True, **mask}

    card = only(changed(edit), "CREDIT_CARD")
    assert card.effect == effect
    assert card.before == "mask(keep_last=4, only_digits=True)"


def test_hash_length_is_neutral_with_a_note() -> None:
    def edit(d: dict) -> None:
        d["transforms"]["entities"]["EMAIL_ADDRESS"] = {"type": "hash", "key": "k", "length": 32}

    email = only(changed(edit), "EMAIL_ADDRESS")
    assert email.effect == "neutral"
    assert "length" in email.note


@pytest.mark.parametrize(
    ("path", "operator", "effect"),
    [
        ("address", "keep", "loosening"),
        ("ssn", "mask", "loosening"),
        ("id", "drop_field", "tightening"),
        ("notes", "keep", "loosening"),  # unnamed field was inspected
        ("notes", "redact", "tightening"),
    ],
)
def test_field_operators_compare_effective_rules(path: str, operator: str, effect: str) -> None:
    def edit(d: dict) -> None:
        d["transforms"]["fields"][path] = operator

    assert only(changed(edit), path).effect == effect


def test_field_removed_falls_back_to_inspect_and_children_of_dropped_fields_are_moot() -> None:
    def edit(d: dict) -> None:
        del d["transforms"]["fields"]["ssn"]
        d["transforms"]["fields"]["address.zip"] = "keep"  # address is dropped whole: no change

    changes = changed(edit)
    ssn = only(changes, "ssn")
    assert (ssn.before, ssn.after, ssn.effect) == ("redact", "inspect", "loosening")
    assert not [c for c in changes if c.subject == "address.zip"]


# --- detection -------------------------------------------------------------------------------------------


def test_recognizer_removed_is_a_loosening_and_added_a_tightening() -> None:
    removed = only(changed(lambda d: d["detection"].update(recognizers=[])), "EmployeeId")
    assert (removed.after, removed.effect) == ("removed", "loosening")

    def add(d: dict) -> None:
        d["detection"]["recognizers"].append(
            {"name": "Badge", "supported_entity": "BADGE", "deny_list": ["gold badge"]}
        )

    assert only(changed(add), "Badge").effect == "tightening"


def _recognizer_entry_dropped(entry: dict) -> Any:
    """The change of ``entry``'s recognizer when a policy that lists ``entry`` drops it (version 1.1.0)."""
    old = copy.deepcopy(BASE)
    old["detection"]["recognizers"].append(entry)
    new = copy.deepcopy(BASE)
    new["metadata"]["version"] = "1.1.0"
    return only(diff_policies(doc(old), doc(new)), entry["name"])


def test_predefined_recognizer_disabled_then_restored() -> None:
    disable = {"name": "EmailRecognizer", "type": "predefined", "enabled": False}
    off = only(changed(lambda d: d["detection"]["recognizers"].append(disable)), "EmailRecognizer")
    assert (off.after, off.effect) == ("disabled", "loosening")

    restored = _recognizer_entry_dropped(disable)
    assert restored.effect == "tightening"


def test_the_projects_text_recognizers_run_only_where_listed() -> None:
    # use_predefined loads Presidio's recognizers, never redactline's own: listing one adds it, and
    # dropping it from the list is a loosening a reviewer must see
    entry = {"name": "JobTitleRecognizer", "type": "predefined"}
    added = only(changed(lambda d: d["detection"]["recognizers"].append(entry)), "JobTitleRecognizer")
    assert (added.after, added.effect) == ("added", "tightening")
    removed = _recognizer_entry_dropped(entry)
    assert (removed.after, removed.effect) == ("removed", "loosening")


def test_recognizer_pattern_change_is_neutral_and_deny_list_shrink_loosens() -> None:
    def pattern(d: dict) -> None:
        d["detection"]["recognizers"][0]["patterns"][0]["regex"] = r"EMP-\d{5,6}"

    assert only(changed(pattern), "EmployeeId").effect == "neutral"

    old = copy.deepcopy(BASE)
    old["detection"]["recognizers"] = [{"name": "Badge", "supported_entity": "B", "deny_list": ["a", "b"]}]
    new = copy.deepcopy(old)
    new["detection"]["recognizers"][0]["deny_list"] = ["a"]
    assert only(diff_policies(doc(old), doc(new)), "Badge").effect == "loosening"


@pytest.mark.parametrize(("threshold", "effect"), [(0.6, "loosening"), (0.2, "tightening")])
def test_score_threshold(threshold: float, effect: str) -> None:
    change = only(changed(lambda d: d["detection"].update(score_threshold=threshold)), "score_threshold")
    assert (change.before, change.after, change.effect) == ("0.4", str(threshold), effect)


@pytest.mark.parametrize(
    ("update", "subject", "effect"),
    [
        ({"use_predefined": False}, "use_predefined", "loosening"),
        ({"entities": ["PERSON"]}, "entities", "loosening"),
        ({"allow_list": ["Acme"]}, "allow_list", "loosening"),
        ({"nlp": {"labels_to_ignore": [*IGNORED, "PERSON"]}}, "nlp.labels_to_ignore", "loosening"),
        ({"nlp": {"labels_to_ignore": []}}, "nlp.labels_to_ignore", "tightening"),
    ],
)
def test_detection_settings(update: dict, subject: str, effect: str) -> None:
    changes = [c for c in changed(lambda d: d["detection"].update(update)) if c.subject == subject]
    assert changes and {c.effect for c in changes} == {effect}


def test_entities_list_shrinking_loosens() -> None:
    old = copy.deepcopy(BASE)
    old["detection"]["entities"] = ["PERSON", "EMAIL_ADDRESS"]
    new = copy.deepcopy(old)
    new["detection"]["entities"] = ["PERSON"]
    change = only(diff_policies(doc(old), doc(new)), "entities")
    assert (change.before, change.effect) == ("EMAIL_ADDRESS", "loosening")


# --- residency and destinations ----------------------------------------------------------------------------


def test_unknown_hold_to_allow_is_a_loosening() -> None:
    change = only(changed(lambda d: d["residency"].update(unknown="allow")), "unknown")
    assert (change.before, change.after, change.effect) == ("hold", "allow", "loosening")


def test_region_added_loosens_and_removed_tightens() -> None:
    def add(d: dict) -> None:
        d["residency"]["rules"][1]["allowed_regions"].append("us-west-2")

    us = only(changed(add), "US")
    assert us.effect == "loosening"
    assert "1 region" in us.note

    def remove(d: dict) -> None:
        d["residency"]["rules"][0]["allowed_regions"] = ["eu-central-1"]

    assert only(changed(remove), "EU").effect == "tightening"


def test_rule_removed_holds_its_jurisdiction_unless_a_broader_rule_remains() -> None:
    gone = only(changed(lambda d: d["residency"]["rules"].pop()), "US")
    assert (gone.after, gone.effect) == ("no rule (held)", "tightening")

    old = copy.deepcopy(BASE)
    old["residency"]["rules"].append({"jurisdictions": ["DE"], "allowed_regions": ["eu-central-1"]})
    de = only(diff_policies(doc(old), doc(BASE)), "DE")  # EU rule still covers DE, and allows more
    assert de.effect == "loosening"


def test_residency_rewritten_without_changing_meaning_is_neutral() -> None:
    def edit(d: dict) -> None:
        d["residency"]["rules"][1]["allowed_regions"] = ["us-east-1", "aws:us-east-1"]

    assert only(changed(edit), "US").effect == "neutral"


LLM = {"provider": "openai", "model": "m", "url": "https://api.openai.com/v1", "prompt": {"template": "{x}"}}


def test_destinations() -> None:
    def add(d: dict) -> None:
        d["destinations"]["openai"] = {"kind": "external_api", "region": "US", **LLM}

    assert only(changed(add), "openai").effect == "loosening"
    assert only(changed(lambda d: d.update(destinations={})), "enclave-eu").effect == "tightening"

    def external(d: dict) -> None:
        d["destinations"]["enclave-eu"].update(kind="external_api", **LLM)

    assert only(changed(external), "enclave-eu").effect == "loosening"
    moved = only(changed(lambda d: d["destinations"]["enclave-eu"].update(region="eu-west-1")), "enclave-eu")
    assert moved.effect == "neutral"
    assert "region" in moved.note


# --- versions and identity of meaning ----------------------------------------------------------------------


def _warnings(old_version: str, new_version: str, edit) -> list[Change]:
    new = copy.deepcopy(BASE)
    edit(new)
    new["metadata"]["version"] = new_version
    old = copy.deepcopy(BASE)
    old["metadata"]["version"] = old_version
    return [c for c in diff_policies(doc(old), doc(new)) if c.subject == "semver"]


def test_semver_warnings() -> None:
    def loosen(d: dict) -> None:
        d["transforms"]["entities"]["PERSON"] = "keep"

    def tighten(d: dict) -> None:
        d["transforms"]["entities"]["PERSON"] = "redact"

    assert _warnings("1.0.0", "1.0.1", loosen)
    assert not _warnings("1.0.0", "1.1.0", loosen)
    assert not _warnings("1.0.0", "1.0.1", tighten)
    unchanged = _warnings("1.0.0", "1.0.0", tighten)
    assert unchanged and "did not" in unchanged[0].note
    assert _warnings("1.2.0", "1.1.0", tighten)
    assert not _warnings("1.0.0", "1.0.0", lambda d: None)


def test_tests_and_owners_need_no_version_bump() -> None:
    # tests and owners are outside the meaning hash: the diff lists the tests, asks for no bump
    def add_case(d: dict) -> None:
        d["tests"] = [{"name": "new case", "text": "plain words", "unchanged": True}]
        d["metadata"]["owners"] = ["privacy@example.com"]

    assert not _warnings("1.0.0", "1.0.0", add_case)
    new = copy.deepcopy(BASE)
    add_case(new)
    assert [c.section for c in diff_policies(doc(BASE), doc(new))] == ["tests"]


def test_no_change_when_only_layout_differs(tmp_path: Path) -> None:
    one = tmp_path / "one"
    two = tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "policy.yaml").write_text(
        """# one file
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: layout, version: 1.0.0}
detection:
  score_threshold: 0.5
  allow_list: [Acme]
transforms:
  entities: {PERSON: pseudonym, EMAIL_ADDRESS: redact}
  fields: {id: keep}
residency:
  rules: [{jurisdictions: [EU], allowed_regions: [EU]}]
"""
    )
    (two / "base.yaml").write_text(
        """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: layout, version: 0.1.0}
transforms:
  entities: {EMAIL_ADDRESS: redact, PERSON: replace}
detection: {allow_list: [Acme]}
"""
    )
    (two / "policy.yaml").write_text(
        """kind: RedactionPolicy   # keys in another order, a comment, an extends split
metadata: {version: 1.0.0, name: layout}
apiVersion: redactline.dev/v1
extends: [base.yaml]
residency:
  rules:
    - allowed_regions: [EU]
      jurisdictions: [EU]
transforms:
  fields: {id: keep}
  entities: {PERSON: pseudonym}
detection: {score_threshold: 0.5}
"""
    )
    a = load_policy(one / "policy.yaml", resolve_keys=False)
    b = load_policy(two / "policy.yaml", resolve_keys=False)
    assert diff_policies(a.document, b.document) == []
    assert a.identity.sha256 == b.identity.sha256


# --- markdown ----------------------------------------------------------------------------------------------


OLD_ID = PolicyIdentity("diff-test", "1.0.0", None, "a" * 64)
NEW_ID = PolicyIdentity("diff-test", "1.0.1", "0123456789abcdef", "b" * 64)


def test_markdown_puts_loosenings_first_and_warns() -> None:
    new = copy.deepcopy(BASE)
    new["metadata"]["version"] = "1.0.1"
    new["detection"]["score_threshold"] = 0.3  # tightening, listed first in the diff
    new["transforms"]["entities"]["PERSON"] = "keep"
    changes = diff_policies(doc(BASE), doc(new))
    text = render_markdown(changes, OLD_ID, NEW_ID, None)
    assert "**1 loosening** ⚠️, 1 tightening" in text
    assert text.index("**loosening**") < text.index("tightening |")
    assert "aaaaaaaaaaaa" in text and "bbbbbbbbbbbb" in text
    assert "**Version:**" in text  # loosened with a patch bump
    assert "Sample outputs" not in text


def test_headline_without_changes() -> None:
    assert headline([]) == "**No change in meaning.**"
    assert headline([Change("a", "b", None, None, "tightening", "")]).startswith("no loosening")


def test_markdown_cells_escape_pipes_newlines_and_html() -> None:
    cell = md_cell("a|b\nc <PERSON_1>")
    assert "|" not in cell.replace("\\|", "")
    assert "\n" not in cell
    assert "<PERSON" not in cell and "&lt;PERSON" in cell
    rows = [SampleRow(0, "x | y\nz <EMAIL_ADDRESS>", "x|y", ("EMAIL_ADDRESS",), ())]
    text = render_markdown([], OLD_ID, NEW_ID, rows)
    table = [line for line in text.splitlines() if line.startswith("| 1")]
    assert len(table) == 1
    assert table[0].replace("\\|", "").count("|") == 6  # 5 columns, no extra cell from an output


def test_read_samples_mixes_records_and_text(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": 1, "note": "hi"}\n\nplain text line\n{not json}\n[1, 2]\n', encoding="utf-8")
    assert read_samples(path) == [{"id": 1, "note": "hi"}, "plain text line", "{not json}", "[1, 2]"]


# --- samples through real engines -------------------------------------------------------------------------

ENGINE_POLICY = """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {{name: sample-diff, version: {version}}}
transforms:
  entities: {{EMAIL_ADDRESS: {email}}}
  fields: {{id: keep}}
"""


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("diff-engines")
    (folder / "old.yaml").write_text(ENGINE_POLICY.format(version="1.0.0", email="replace"))
    (folder / "new.yaml").write_text(ENGINE_POLICY.format(version="2.0.0", email="keep"))
    old = load_policy(folder / "old.yaml", resolve_keys=False)
    new = load_policy(folder / "new.yaml", resolve_keys=False)
    return old, new, old.engine(), new.engine()


def test_sample_outputs_show_before_and_after(engines) -> None:
    old, new, old_engine, new_engine = engines
    records: list[dict | str] = [
        "Write to jane.doe@example.com please.",
        {"id": 7, "note": "mail jane.doe@example.com"},
        "Nothing personal here.",
    ]
    rows = sample_outputs(old_engine, new_engine, records)
    assert [r.index for r in rows] == [0, 1, 2]
    assert "jane.doe@example.com" not in rows[0].before and "<EMAIL_ADDRESS>" in rows[0].before
    assert rows[0].after == records[0]
    before_record = json.loads(rows[1].before)
    assert before_record["id"] == 7 and "<EMAIL_ADDRESS>" in before_record["note"]
    assert json.loads(rows[1].after) == records[1]
    assert [r.changed for r in rows] == [True, True, False]

    changes = diff_policies(old.document, new.document)
    text = render_markdown(changes, old.identity, new.identity, rows)
    assert "Sample outputs: 3 records, 2 changed" in text
    assert "&lt;EMAIL\\_ADDRESS&gt;" in text
    # The PR comment never prints a sample: not the input, not a value the new policy keeps.
    assert "jane.doe" not in text and "Write to" not in text.split("Sample outputs")[0]
    assert "[kept value]" in text and "EMAIL\\_ADDRESS |" in text
