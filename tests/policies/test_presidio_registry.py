"""``detection.presidio_registry``: a Presidio recognizer-registry YAML file, read as Presidio defines it
(``supported_languages`` with per-language context, ``global_regex_flags``, ``country_code`` and
``supported_countries``), confined and bounded like ``extends``, errors naming the registry's
file:line:field."""

from __future__ import annotations

import shutil
from pathlib import Path

import presidio_analyzer
import pytest

from redactline.pipelines.cli import main
from redactline.policies import PolicyError, load_policy

REGISTRY = """supported_languages:
  - en
global_regex_flags: 24   # MULTILINE | DOTALL: no IGNORECASE, unlike Presidio's default 26
supported_countries: [us]
recognizers:
  - name: EmailRecognizer
    type: predefined
    supported_languages:
      - language: en
        context: [mail, contact]
  - name: UsSsnRecognizer
    supported_languages: [en]
    type: predefined
    country_code: us
  - name: UkNinoRecognizer
    supported_languages: [en]
    type: predefined
    country_code: uk
  - name: Employee ids
    supported_languages:
      - language: en
        context: [employee]
      - language: de
    patterns:
      - name: employee id
        regex: "EMP-\\\\d{5}"
        score: 0.9
    supported_entity: EMPLOYEE_ID
  - name: Titles recognizer
    supported_language: en
    supported_entity: TITLE
    deny_list: [Dr.]
  - name: German zip
    supported_language: de
    supported_entity: ZIP
    patterns: [{name: zip, regex: "\\\\b\\\\d{5}\\\\b", score: 0.1}]
  - name: CreditCardRecognizer
    type: predefined
    enabled: false
"""

POLICY = """apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: registry, version: 1.0.0}
detection:
  presidio_registry: presidio/registry.yaml
  recognizers:
    - name: ticket
      supported_entity: TICKET
      patterns: [{name: t, regex: 'TCK-\\d{4}', score: 0.9}]
transforms:
  entities: {EMPLOYEE_ID: redact, TITLE: keep, TICKET: redact}
"""


def write(tmp_path: Path, registry: str = REGISTRY, policy: str = POLICY) -> Path:
    (tmp_path / "presidio").mkdir(exist_ok=True)
    (tmp_path / "presidio" / "registry.yaml").write_text(registry, encoding="utf-8")
    path = tmp_path / "policy.yaml"
    path.write_text(policy, encoding="utf-8")
    return path


def test_registry_is_read_as_presidio_defines_it(tmp_path: Path) -> None:
    detection = load_policy(write(tmp_path), resolve_keys=False).document.detection
    by_name = {r.name: r for r in detection.recognizers}
    # registry entries first, then the listed ones; UkNino left out by supported_countries, the German
    # zip by language, CreditCard kept as a switch that turns the predefined one off
    assert list(by_name) == [
        "EmailRecognizer", "UsSsnRecognizer", "Employee ids", "Titles recognizer", "CreditCardRecognizer",
        "ticket",
    ]
    assert by_name["EmailRecognizer"].context == ["mail", "contact"]  # per-language context
    assert by_name["UsSsnRecognizer"].context == []  # a bare language: the class's own context
    assert by_name["Employee ids"].supported_language == "en"
    assert by_name["Employee ids"].context == ["employee"]
    assert by_name["CreditCardRecognizer"].enabled is False
    assert detection.global_regex_flags == 24
    assert detection.use_predefined is False  # the file is the registry, as in Presidio
    assert detection.presidio_registry is None  # resolved: the recognizers themselves are hashed


def test_engine_uses_the_registry_and_its_flags(tmp_path: Path) -> None:
    engine = load_policy(write(tmp_path), resolve_keys=False).engine()
    result = engine.redact_text("employee EMP-12345 and emp-54321, ticket TCK-1234")
    assert "EMP-12345" not in result.text and "TCK-1234" not in result.text
    found = [f.recognizer for f in result.findings]
    assert found.count("Employee ids") == 1  # global_regex_flags 24: case-sensitive, emp-54321 is no match
    assert "ticket" in found


def test_meaning_hash_follows_the_registry_content(tmp_path: Path) -> None:
    path = write(tmp_path)
    before = load_policy(path, resolve_keys=False).identity.sha256
    write(tmp_path, REGISTRY.replace("score: 0.9", "score: 0.8"))
    assert load_policy(path, resolve_keys=False).identity.sha256 != before


def test_policy_settings_win_over_the_registry(tmp_path: Path) -> None:
    policy = POLICY.replace("  presidio_registry:", "  use_predefined: true\n  global_regex_flags: 26\n"
                            "  presidio_registry:")
    detection = load_policy(write(tmp_path, policy=policy), resolve_keys=False).document.detection
    assert (detection.use_predefined, detection.global_regex_flags) == (True, 26)


def _error(tmp_path: Path, registry: str = REGISTRY, policy: str = POLICY) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, registry, policy), resolve_keys=False)
    return caught.value


def test_errors_name_the_registry_file_line_and_field(tmp_path: Path) -> None:
    registry_path = tmp_path / "presidio" / "registry.yaml"
    bad = REGISTRY.replace("    country_code: us", "    country_code: uk").replace(
        "  - name: German zip", "  - name: Bad\n    supported_entity: X\n    suported_languages: [en]\n"
        "    patterns: [{name: p, regex: x, score: 1}]\n  - name: German zip"
    )
    error = _error(tmp_path, bad)
    text = str(error)
    assert f"{registry_path}:35: recognizers[5].suported_languages: Extra inputs are not permitted" in text
    bad = REGISTRY.replace("    country_code: us", "    country_code: uk")
    text = str(_error(tmp_path, bad))
    assert (
        f"{registry_path}:14: recognizers[1].country_code: country_code 'uk' does not match "
        "UsSsnRecognizer's COUNTRY_CODE 'us'"
    ) in text
    text = str(_error(tmp_path, REGISTRY.replace("name: UsSsnRecognizer", "name: UsSsnRecogniser")))
    assert f"{registry_path}:11: recognizers[1].name: Presidio has no predefined recognizer" in text
    text = str(_error(tmp_path, REGISTRY.replace("    supported_entity: EMPLOYEE_ID\n", "")))
    assert f"{registry_path}:19: recognizers[3]: a custom recognizer needs supported_entity" in text


def test_registry_is_confined_and_bounded(tmp_path: Path, capsys) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(REGISTRY, encoding="utf-8")
    root = tmp_path / "repo"
    root.mkdir()
    policy = write(root, policy=POLICY.replace("presidio/registry.yaml", "../outside.yaml"))
    assert main(["policy", "validate", str(policy)]) == 2
    err = capsys.readouterr().err
    assert f"{policy}:5: detection.presidio_registry: '../outside.yaml' is outside" in err
    assert "EmailRecognizer" not in err
    big = write(root, registry="recognizers: []\n" + "#" * (2 * 1024 * 1024))
    assert main(["policy", "validate", str(big)]) == 2
    assert "over the limit" in capsys.readouterr().err
    missing = write(root, policy=POLICY.replace("presidio/registry.yaml", "presidio/none.yaml"))
    assert main(["policy", "validate", str(missing)]) == 1
    err = capsys.readouterr().err
    assert "detection.presidio_registry: registry file not found: presidio/none.yaml" in err


def test_presidio_default_recognizers_file_loads(tmp_path: Path) -> None:
    shipped = Path(presidio_analyzer.__file__).parent / "conf" / "default_recognizers.yaml"
    (tmp_path / "presidio").mkdir()
    shutil.copy(shipped, tmp_path / "presidio" / "registry.yaml")
    policy = POLICY.replace("EMPLOYEE_ID: redact, TITLE: keep, ", "")
    (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
    detection = load_policy(tmp_path / "policy.yaml", resolve_keys=False).document.detection
    names = {r.name for r in detection.recognizers if r.enabled}
    assert {"CreditCardRecognizer", "UsSsnRecognizer", "EmailRecognizer"} <= names
