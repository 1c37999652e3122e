"""Policy files: validation errors name file, line and field; extends; identity hash; JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redactline.policies import PolicyError, load_policy
from redactline.policies.schema import json_schema

HEADER = "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\n"
KEY = "ab" * 32


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def errors_of(path: Path, **kwargs) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path, **kwargs)
    return str(info.value)


def test_minimal_policy_loads_with_identity(tmp_path):
    path = write(tmp_path, "p.yaml", HEADER + "metadata: {name: demo, version: 1.2.3}\n")
    policy = load_policy(path)
    assert policy.identity.name == "demo" and policy.identity.version == "1.2.3"
    assert len(policy.identity.sha256) == 64
    assert policy.document.transforms.default.type == "replace"  # fail closed by default


def test_bad_regex_names_file_line_and_field(tmp_path):
    body = HEADER + (
        "metadata: {name: demo, version: 1.0.0}\n"
        "detection:\n"
        "  recognizers:\n"
        "    - name: broken\n"
        "      supported_entity: THING\n"
        "      patterns:\n"
        "        - {name: p, regex: 'abc(', score: 0.5}\n"
    )
    message = errors_of(write(tmp_path, "bad.yaml", body))
    assert "bad.yaml:9:" in message
    assert "detection.recognizers[0].patterns[0].regex" in message
    assert "does not compile" in message


def test_unknown_operator_is_rejected(tmp_path):
    body = HEADER + "metadata: {name: demo, version: 1.0.0}\ntransforms:\n  entities:\n    PERSON: scramble\n"
    message = errors_of(write(tmp_path, "op.yaml", body))
    assert "op.yaml:6:" in message and "transforms.entities.PERSON" in message


def test_missing_key_and_undeclared_key(tmp_path, monkeypatch):
    monkeypatch.delenv("RL_TEST_ABSENT", raising=False)
    body = HEADER + (
        "metadata: {name: demo, version: 1.0.0}\n"
        "keys:\n  k: {env: RL_TEST_ABSENT}\n"
        "transforms:\n  entities:\n    EMAIL_ADDRESS: {type: hash, key: nope}\n"
    )
    message = errors_of(write(tmp_path, "keys.yaml", body))
    assert "keys.yaml:5: keys.k:" in message and "RL_TEST_ABSENT" in message
    assert "transforms.entities.EMAIL_ADDRESS" in message and "'nope'" in message


def test_short_key_is_an_error_without_leaking_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_TEST_SHORT", "abcd" * 4)
    body = HEADER + "metadata: {name: demo, version: 1.0.0}\nkeys:\n  k: {env: RL_TEST_SHORT}\n"
    message = errors_of(write(tmp_path, "short.yaml", body))
    assert "at least 32" in message and "abcd" not in message


def test_extends_cycle_and_missing_file(tmp_path):
    write(tmp_path, "a.yaml", HEADER + "metadata: {name: a, version: 1.0.0}\nextends: [b.yaml]\n")
    write(tmp_path, "b.yaml", HEADER + "metadata: {name: b, version: 1.0.0}\nextends: [a.yaml]\n")
    assert "extends cycle" in errors_of(tmp_path / "a.yaml")
    write(tmp_path, "c.yaml", HEADER + "metadata: {name: c, version: 1.0.0}\nextends:\n  - nowhere.yaml\n")
    message = errors_of(tmp_path / "c.yaml")
    assert "c.yaml:5: extends[0]" in message and "not found" in message


def test_invalid_yaml_and_semver(tmp_path):
    assert "invalid YAML" in errors_of(write(tmp_path, "y.yaml", HEADER + "metadata: {name: x\n"))
    message = errors_of(write(tmp_path, "v.yaml", HEADER + "metadata: {name: x, version: '1.0'}\n"))
    assert "metadata.version" in message and "semantic version" in message


def test_hash_ignores_key_order_comments_whitespace_and_extends_split(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_TEST_KEY", KEY)
    whole = HEADER + (
        "metadata: {name: demo, version: 2.0.0}\n"
        "keys: {k: {env: RL_TEST_KEY}}\n"
        "detection: {score_threshold: 0.5, allow_list: [ACME]}\n"
        "transforms:\n  entities: {PERSON: pseudonym, EMAIL_ADDRESS: {type: hash, key: k}}\n"
    )
    reordered = (
        "# a comment\nkind: RedactionPolicy\n"
        "transforms:\n  entities:\n    EMAIL_ADDRESS: {key: k, type: hash}\n    PERSON:   pseudonym\n\n"
        "detection:\n  allow_list: [ACME]\n  score_threshold: 0.5\n"
        "metadata: {version: 2.0.0, name: demo}\napiVersion: redactline.dev/v1\n"
        "keys: {k: {env: RL_TEST_KEY}}\n"
    )
    base = HEADER + (
        "metadata: {name: base, version: 0.0.1}\n"
        "keys: {k: {env: RL_TEST_KEY}}\n"
        "detection: {score_threshold: 0.5, allow_list: [ACME]}\n"
        "transforms: {entities: {EMAIL_ADDRESS: {type: hash, key: k}}}\n"
    )
    write(tmp_path, "base.yaml", base)
    child = HEADER + (
        "extends: [base.yaml]\nmetadata: {name: demo, version: 2.0.0}\n"
        "transforms: {entities: {PERSON: pseudonym}}\n"
    )
    hashes = {
        load_policy(write(tmp_path, name, body)).identity.sha256
        for name, body in [("whole.yaml", whole), ("reordered.yaml", reordered), ("child.yaml", child)]
    }
    assert len(hashes) == 1
    changed = whole.replace("PERSON: pseudonym", "PERSON: keep")
    assert load_policy(write(tmp_path, "changed.yaml", changed)).identity.sha256 not in hashes


def test_git_revision_recorded_when_in_a_repo(tmp_path):
    import subprocess

    path = write(tmp_path, "p.yaml", HEADER + "metadata: {name: demo, version: 1.0.0}\n")
    assert load_policy(path).identity.git_revision is None
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "p.yaml"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "p"],
        cwd=tmp_path,
        check=True,
    )
    revision = load_policy(path).identity.git_revision
    assert revision is not None and len(revision) == 40
    path.write_text(path.read_text() + "# edit\n")
    assert load_policy(path).identity.git_revision.endswith("-dirty")


def test_json_schema_is_generated_from_the_models():
    schema = json_schema()
    assert schema["properties"]["kind"]["const"] == "RedactionPolicy"
    assert "transforms" in schema["properties"]
    json.dumps(schema)  # serialisable


TYPOS = HEADER + """metadata: {name: typos, version: 1.0}
detection:
  recognizers:
    - name: de_ids
      supported_language: de
      supported_entity: DE_THING
      patterns: [{name: x, regex: 'X\\\\d{4}', score: 0.8}]
transforms:
  entities:
    EMAIL: keep
    PERSONS: pseudonym
    IBAN: mask
    DE_THING: redact
"""


def test_typos_are_all_reported_in_one_pass_with_hints(tmp_path):
    errors = errors_of(write(tmp_path, "typos.yaml", TYPOS))
    assert "typos.yaml:3: metadata.version" in errors and "quote it, e.g. version: '1.0.0'" in errors
    assert "typos.yaml:7: detection.recognizers.0.supported_language: language 'de'" in errors
    assert "'EMAIL'; did you mean 'EMAIL_ADDRESS'?" in errors
    assert "'PERSONS'; did you mean 'PERSON'?" in errors
    assert "'IBAN'; did you mean 'IBAN_CODE'?" in errors
    assert "DE_THING" not in errors  # a custom recognizer's entity is known
    fixed = TYPOS.replace("version: 1.0}", "version: '1.0.0'}")
    errors = errors_of(write(tmp_path, "fixed.yaml", fixed))
    assert "metadata.version" not in errors and errors.count("did you mean") == 3


def test_unknown_entities_in_destinations_and_tests_and_disabled_recognizers(tmp_path):
    body = HEADER + """metadata: {name: d, version: 1.0.0}
detection:
  use_predefined: true
  recognizers: [{name: EmailRecognizer, type: predefined, enabled: false}]
destinations:
  llm: {kind: external_api, region: us-east-1, provider: openai, model: m, never_send: [US_SSNN]}
tests:
  - {name: t, text: hello, expect_entities: [EMAIL_ADDRESS]}
"""
    errors = errors_of(write(tmp_path, "d.yaml", body))
    assert "destinations.llm.never_send.0" in errors and "did you mean 'US_SSN'" in errors
    assert "tests.0.expect_entities.0: no configured recognizer produces entity type 'EMAIL_ADDRESS" in errors


def test_yaml_boolean_trap_hint(tmp_path):
    body = HEADER + "metadata: {name: d, version: 1.0.0}\nresidency: {unknown: no}\n"
    assert "quote it" in errors_of(write(tmp_path, "b.yaml", body))
