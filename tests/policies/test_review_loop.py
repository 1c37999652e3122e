"""The policy review loop as a CI job runs it: a git repository with a base and a head revision,
``policy diff --base`` (extends read as of the base), the README's CI recipe, tests and hooks without
secrets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from redactline.pipelines.cli import main

HEADER = "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\n"
BASE_V1 = HEADER + """metadata: {name: org-base, version: 1.0.0}
transforms:
  entities: {PERSON: replace, EMAIL_ADDRESS: redact}
"""
TICKETS = HEADER + """metadata: {name: tickets, version: 1.0.0}
extends: [shared/base.yaml]
transforms:
  fields: {ticket_id: keep}
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """policies/tickets.yaml extends policies/shared/base.yaml; base revision tagged ``base``."""
    root = tmp_path / "repo"
    (root / "policies" / "shared").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "policies" / "shared" / "base.yaml").write_text(BASE_V1, encoding="utf-8")
    (root / "policies" / "tickets.yaml").write_text(TICKETS, encoding="utf-8")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    git(root, "tag", "base")
    return root


def head_change(repo: Path, base: str | None = None, tickets: str | None = None) -> None:
    if base is not None:
        (repo / "policies" / "shared" / "base.yaml").write_text(base, encoding="utf-8")
    if tickets is not None:
        (repo / "policies" / "tickets.yaml").write_text(tickets, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "head")


def test_diff_base_reads_extends_as_of_the_base(repo: Path, capsys, monkeypatch) -> None:
    # the loosening is in the extended file only: visible only if the base is resolved at the base
    head_change(repo, base=BASE_V1.replace("PERSON: replace", "PERSON: keep"),
                tickets=TICKETS.replace("1.0.0", "1.1.0"))
    monkeypatch.chdir(repo)
    code = main(["policy", "diff", "--base", "base", "policies/tickets.yaml", "--fail-on-loosening"])
    out = capsys.readouterr().out
    assert code == 1
    assert "PERSON" in out and "loosening" in out and "weaker operator: replace → keep" in out
    base_commit = git(repo, "rev-parse", "base")
    assert base_commit[:12] in out  # the old side's git revision is the base commit


def test_diff_base_without_changes_and_with_a_new_file(repo: Path, capsys, monkeypatch) -> None:
    (repo / "policies" / "new.yaml").write_text(TICKETS.replace("tickets", "new-one"), encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "add")
    monkeypatch.chdir(repo)
    assert main(["policy", "diff", "--base-ref", "base", "policies/tickets.yaml", "policies/new.yaml"]) == 0
    out = capsys.readouterr().out
    assert "**No change in meaning.**" in out
    assert "### New policy: new-one 1.0.0" in out


def test_plain_two_file_form_resolves_extends_beside_each_file(repo: Path, tmp_path: Path, capsys) -> None:
    old_dir = tmp_path / "old"
    (old_dir / "shared").mkdir(parents=True)
    (old_dir / "shared" / "base.yaml").write_text(BASE_V1, encoding="utf-8")
    (old_dir / "tickets.yaml").write_text(TICKETS, encoding="utf-8")
    head_change(repo, base=BASE_V1.replace("EMAIL_ADDRESS: redact", "EMAIL_ADDRESS: mask"),
                tickets=TICKETS.replace("1.0.0", "1.1.0"))
    assert main(["policy", "diff", str(old_dir / "tickets.yaml"), str(repo / "policies/tickets.yaml")]) == 0
    assert "EMAIL\\_ADDRESS" in capsys.readouterr().out


def test_diff_base_errors_are_clear(repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    assert main(["policy", "diff", "--base", "no-such-ref", "policies/tickets.yaml"]) == 2
    assert "policy diff --base no-such-ref" in capsys.readouterr().err
    assert main(["policy", "diff", "policies/tickets.yaml"]) == 2
    assert "OLD NEW, or --base REF FILE" in capsys.readouterr().err


def test_tests_only_change_needs_no_bump_and_keeps_the_hash(repo: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    main(["policy", "hash", "policies/tickets.yaml"])
    before = capsys.readouterr().out.strip()
    case = "tests:\n  - {name: plain, text: the weather is mild, unchanged: true}\n"
    head_change(repo, tickets=TICKETS + case)
    main(["policy", "hash", "policies/tickets.yaml"])
    assert capsys.readouterr().out.strip() == before
    assert main(["policy", "diff", "--base", "base", "policies/tickets.yaml"]) == 0
    out = capsys.readouterr().out
    assert "bump" not in out and "1 added" in out


def _readme_ci_commands() -> list[list[str]]:
    """The redactline commands of the README's CI recipe (the workflow block under "in CI")."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("# .github/workflows/policies.yml", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        line = line.strip().removeprefix("- run: ").removeprefix("run: ")
        if line.startswith("redactline policy"):
            line = line.split(" > ")[0].split(" || ")[0].replace("${{ github.base_ref }}", "main")
            commands.append(line.split()[1:])
    return commands


def test_readme_ci_recipe_runs_on_a_base_and_head_revision(repo: Path, capsys, monkeypatch) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    head_change(repo, base=BASE_V1.replace("PERSON: replace", "PERSON: keep"),
                tickets=TICKETS.replace("1.0.0", "1.1.0"))
    # the recipe compares against origin/<base_ref>: give the repository that remote branch
    git(repo, "update-ref", "refs/remotes/origin/main", "base")
    monkeypatch.chdir(repo)
    commands = _readme_ci_commands()
    assert any("--base" in c for c in commands), commands
    codes = {}
    for command in commands:
        expanded = []
        for word in command:
            expanded += sorted(str(p.relative_to(repo)) for p in repo.glob(word)) if "*" in word else [word]
        codes[command[1]] = main(expanded)
    out = capsys.readouterr().out
    assert codes["validate"] == 0 and codes["test"] == 0
    assert codes["diff"] == 1 and "weaker operator: replace → keep" in out


def test_pre_commit_hooks_check_only_policy_files(repo: Path, capsys, monkeypatch) -> None:
    import re
    import shlex

    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text())
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: [push]\njobs: {}\n", encoding="utf-8")
    (repo / "compose.yaml").write_text("services: {db: {image: postgres}}\n", encoding="utf-8")
    keyed = HEADER + (
        "metadata: {name: keyed, version: 1.0.0}\nkeys: {k: {env: RL_HOOK_SECRET}}\n"
        "transforms: {entities: {EMAIL_ADDRESS: {type: hash, key: k}}}\n"
        "tests:\n  - {name: no address, text: mail jane@example.com, must_not_contain: [jane@example.com]}\n"
    )
    (repo / "policies" / "keyed.yaml").write_text(keyed, encoding="utf-8")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("RL_HOOK_SECRET", raising=False)
    candidates = [".github/workflows/ci.yml", "compose.yaml", "policies/tickets.yaml", "policies/keyed.yaml"]
    for hook in hooks:
        files = [f for f in candidates
                 if re.search(hook["files"], f) and not re.search(hook.get("exclude", "^$"), f)]
        assert ".github/workflows/ci.yml" not in files
        argv = shlex.split(hook["entry"])[1:] + files
        assert main(argv) == 0, hook["id"]
        captured = capsys.readouterr()
        assert "compose.yaml" not in captured.out + captured.err
    # a broken policy is still caught, named by file and line
    (repo / "policies" / "tickets.yaml").write_text(TICKETS + "version: 1.0\n", encoding="utf-8")
    assert main(["policy", "validate", "--no-keys", "--skip-non-policies", "policies/tickets.yaml"]) == 1


def test_diff_base_reads_a_presidio_registry_file_as_of_the_base(repo: Path, capsys, monkeypatch) -> None:
    # the only change is inside the registry file: seen only if the base reads the registry at the base
    registry = ("recognizers:\n  - name: EmailRecognizer\n    type: predefined\n"
                "    supported_languages: [en]\n")
    (repo / "policies" / "registry.yaml").write_text(registry, encoding="utf-8")
    (repo / "policies" / "tickets.yaml").write_text(
        TICKETS + "detection:\n  presidio_registry: registry.yaml\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "registry")
    git(repo, "tag", "with-registry")
    extra = "  - name: PhoneRecognizer\n    type: predefined\n    supported_languages: [en]\n"
    (repo / "policies" / "registry.yaml").write_text(registry + extra, encoding="utf-8")
    git(repo, "commit", "-q", "-am", "more recognizers")
    monkeypatch.chdir(repo)
    assert main(["policy", "diff", "--base", "with-registry", "policies/tickets.yaml"]) == 0
    out = capsys.readouterr().out
    assert "PhoneRecognizer" in out and "No change in meaning" not in out
