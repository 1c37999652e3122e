"""Policy files that would exhaust the machine or fool a reviewer are refused with one clear line.

Bounded reads (size, regular files only), YAML limits (aliases, depth, duplicate keys), ``extends``
confined to the root policy's directory tree, patterns with catastrophic backtracking; and, through
the real dispatcher, exit 2 with one line and no traceback for each.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
import yaml

from redactline.pipelines.cli import main
from redactline.policies import PolicyError, load_policy
from redactline.policies.bounded_io import BoundedReadError, read_bounded
from redactline.policies.loader import LIBRARY_DIR, MAX_POLICY_BYTES, allow_extends_outside, resolve
from redactline.policies.regex_safety import NESTED, OVERLAPPING, PRESIDIO_FLAGS, check_pattern
from redactline.policies.safe_yaml import MAX_ALIASES, MAX_DEPTH

HEADER = "apiVersion: redactline.dev/v1\nkind: RedactionPolicy\nmetadata: {name: demo, version: 1.0.0}\n"


def write(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def refusal(path: Path, **kwargs) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(path, **kwargs)
    return info.value


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["x0: &a0 [" + ",".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return HEADER + "\n".join(lines) + "\n"


def recognizer(regex: str) -> str:
    return HEADER + (
        "detection:\n"
        "  recognizers:\n"
        "    - name: custom\n"
        "      supported_entity: THING\n"
        "      patterns:\n"
        f"        - {{name: p, regex: '{regex}', score: 0.5}}\n"
    )


# ---- YAML limits --------------------------------------------------------------------------------


def test_alias_bomb_is_refused_by_the_expansion_limit(tmp_path):
    error = refusal(write(tmp_path / "bomb.yaml", alias_bomb()))
    assert error.refused and "nodes once aliases are expanded" in str(error)
    assert "bomb.yaml:" in str(error)


def test_too_many_aliases_are_refused(tmp_path):
    body = HEADER + "base: &b x\nmany: [" + ",".join(["*b"] * (MAX_ALIASES + 1)) + "]\n"
    error = refusal(write(tmp_path / "aliases.yaml", body))
    assert error.refused and f"more than {MAX_ALIASES} aliases" in str(error)


def test_recursive_alias_is_refused(tmp_path):
    error = refusal(write(tmp_path / "rec.yaml", HEADER + "loop: &l [*l]\n"))
    assert error.refused and "refers to a node that contains it" in str(error)


def test_a_few_aliases_still_load(tmp_path):
    body = HEADER + "detection:\n  allow_list: &names [ACME]\ntests: []\n"
    assert load_policy(write(tmp_path / "ok.yaml", body)).document.detection.allow_list == ["ACME"]


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_20k_deep_yaml_is_refused_without_recursion_error(tmp_path, opener):
    closer = "]" if opener == "[" else "}"
    body = HEADER + "detection: " + opener * 20_000 + "x" * (opener != "[") + closer * 20_000 + "\n"
    error = refusal(write(tmp_path / "deep.yaml", body))
    assert error.refused and f"nested deeper than {MAX_DEPTH} levels" in str(error)
    assert str(error).startswith(f"{tmp_path / 'deep.yaml'}:4: detection")


def test_duplicate_key_names_both_lines(tmp_path):
    body = HEADER + (
        "transforms:\n"
        "  entities:\n"
        "    CREDIT_CARD: replace\n"  # line 6
        "    PERSON: pseudonym\n"
        "    CREDIT_CARD: keep\n"  # line 8
    )
    error = refusal(write(tmp_path / "dup.yaml", body))
    assert error.refused
    assert str(error) == (
        f"{tmp_path / 'dup.yaml'}:8: transforms.entities.CREDIT_CARD: "
        "invalid YAML: duplicate key 'CREDIT_CARD' (first at line 6)"
    )


def test_duplicate_key_in_a_flow_mapping(tmp_path):
    error = refusal(write(tmp_path / "dup.yaml", HEADER + "transforms: {default: keep, default: replace}\n"))
    assert "duplicate key 'default' (first at line 4)" in str(error)


# ---- bounded reads ------------------------------------------------------------------------------


def test_dev_zero_as_policy_is_refused_unread():
    error = refusal(Path("/dev/zero"))
    assert error.refused and "not a regular file" in str(error)


def test_fifo_and_directory_as_policy_are_refused(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening must not wait for a writer
    assert "a FIFO, not a regular file" in str(refusal(fifo))
    (tmp_path / "dir.yaml").mkdir()
    assert "a directory, not a regular file" in str(refusal(tmp_path / "dir.yaml"))


def test_oversized_policy_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:  # sparse: the size check must come before any read
        f.seek(MAX_POLICY_BYTES)
        f.write(b"x")
    error = refusal(path)
    assert error.refused and "over the limit of 1 MiB" in str(error)


def test_read_bounded_refuses_a_file_that_grows_past_its_stat(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"a" * 100)
    real_fstat = os.fstat

    class Small:
        def __init__(self, info):
            self.st_mode, self.st_size = info.st_mode, 1

    monkeypatch.setattr(os, "fstat", lambda fd: Small(real_fstat(fd)))
    with pytest.raises(BoundedReadError, match="over the limit"):
        read_bounded(path, 10)


def test_dev_zero_as_key_file_is_refused(tmp_path):
    error = refusal(write(tmp_path / "k.yaml", HEADER + "keys: {k: {file: /dev/zero}}\n"))
    assert "key file '/dev/zero' cannot be read (is a device, not a regular file)" in str(error)


def test_oversized_key_file_is_refused(tmp_path):
    (tmp_path / "big.key").write_text("ab" * 4096, encoding="ascii")
    error = refusal(write(tmp_path / "k.yaml", HEADER + "keys: {k: {file: big.key}}\n"))
    assert "over the limit of 4 KiB" in str(error) and "abab" not in str(error)


# ---- extends ------------------------------------------------------------------------------------


@pytest.fixture()
def foreign(tmp_path) -> Path:
    """A policy outside the root policy's tree, whose key names must never be echoed."""
    return write(tmp_path / "elsewhere" / "secret.yaml", HEADER + "keys: {FOREIGN_KEY_NAME: {env: X}}\n")


def test_extends_outside_the_tree_is_refused_without_echoing_it(tmp_path, foreign):
    root = write(tmp_path / "repo" / "p.yaml", HEADER + "extends: [../elsewhere/secret.yaml]\n")
    error = refusal(root, resolve_keys=False)
    message = str(error)
    assert error.refused and "p.yaml:4: extends[0]: '../elsewhere/secret.yaml' is outside" in message
    assert "FOREIGN_KEY_NAME" not in message and "--allow-extends-outside" in message


def test_absolute_extends_is_refused(tmp_path, foreign):
    root = write(tmp_path / "repo" / "p.yaml", HEADER + f"extends: ['{foreign}']\n")
    error = refusal(root, resolve_keys=False)
    assert error.refused and "is outside the root policy's directory" in str(error)
    assert "FOREIGN_KEY_NAME" not in str(error)
    assert "is outside" in str(refusal(write(root, HEADER + "extends: [/etc/passwd]\n")))


def test_absolute_extends_inside_the_tree_is_allowed(tmp_path):
    base = write(tmp_path / "repo" / "base.yaml", HEADER.replace("demo", "base"))
    root = write(tmp_path / "repo" / "p.yaml", HEADER + f"extends: ['{base}']\n")
    assert load_policy(root).name == "demo"


def test_symlink_inside_the_tree_cannot_escape(tmp_path, foreign):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "base.yaml").symlink_to(foreign)
    root = write(tmp_path / "repo" / "p.yaml", HEADER + "extends: [base.yaml]\n")
    error = refusal(root, resolve_keys=False)
    assert "is outside" in str(error) and "FOREIGN_KEY_NAME" not in str(error)


def test_extends_outside_allowed_explicitly(tmp_path, foreign, monkeypatch):
    root = write(tmp_path / "repo" / "p.yaml", HEADER + "extends: [../elsewhere/secret.yaml]\n")
    with allow_extends_outside([foreign.parent]):
        assert "FOREIGN_KEY_NAME" in load_policy(root, resolve_keys=False).document.keys
    refusal(root, resolve_keys=False)  # the allowance ends with the block
    monkeypatch.setenv("REDACTLINE_ALLOW_EXTENDS_OUTSIDE", str(foreign.parent))
    assert load_policy(root, resolve_keys=False).name == "demo"


def test_symlink_loop_in_extends_names_the_chain(tmp_path):
    (tmp_path / "l1.yaml").symlink_to("l2.yaml")
    (tmp_path / "l2.yaml").symlink_to("l1.yaml")
    error = refusal(write(tmp_path / "p.yaml", HEADER + "extends: [l1.yaml]\n"))
    assert error.refused and "p.yaml:4: extends[0]: symbolic link loop: l1.yaml -> l2.yaml -> l1.yaml" in str(
        error
    )


def test_root_policy_symlink_loop(tmp_path):
    (tmp_path / "a.yaml").symlink_to("a.yaml")
    with pytest.raises(PolicyError, match="symbolic link loop: a.yaml -> a.yaml"):
        resolve(tmp_path / "a.yaml")


def test_extends_cycle_is_refused_naming_the_chain(tmp_path):
    write(tmp_path / "a.yaml", HEADER + "extends: [b.yaml]\n")
    write(tmp_path / "b.yaml", HEADER + "extends: [a.yaml]\n")
    error = refusal(tmp_path / "a.yaml")
    assert error.refused and "extends cycle: a.yaml -> b.yaml -> a.yaml" in str(error)


def test_library_reference_keeps_working(tmp_path):
    policy = load_policy(write(tmp_path / "p.yaml", HEADER + "extends: [library:general-pii]\n"))
    assert policy.document.detection.recognizers  # the library's recognizers came along
    error = refusal(write(tmp_path / "q.yaml", HEADER + "extends: [library:no-such]\n"))
    assert "no library policy 'no-such'" in str(error) and "general-pii" in str(error)


# ---- regex safety -------------------------------------------------------------------------------

CATASTROPHIC = [
    (r"(a|a)+b", OVERLAPPING),
    (r"(a+)+", NESTED),
    (r"(a*)*", NESTED),
    (r"(\w+\s?)+", NESTED),
    (r"(a|ab)+", OVERLAPPING),
    (r"(\d|\w)+", OVERLAPPING),
    (r"(\d{1,3})+x", NESTED),
    (r"^(\w+\.?\w+)+@", NESTED),
    (r"(?=(a+)+b)", NESTED),
    (r"(.*a){20}", NESTED),
    (r"([a-z]+)*$", NESTED),
    (r"(?:A|a)+b", OVERLAPPING),  # the same letter under IGNORECASE
]


@pytest.mark.parametrize(("regex", "reason"), CATASTROPHIC, ids=[r for r, _ in CATASTROPHIC])
def test_catastrophic_shapes_are_refused(regex, reason):
    assert check_pattern(regex) == reason


SAFE = [
    r"(\d{1,3}\.){3}\d{1,3}",
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}",
    r"(\d+-)+\d+",
    r"(a|b)+",
    r"(?:[\s.-]?\d{2,4}){2,4}",
    r"[a-z]+(?:\.[a-z]+)*@",
    r"CUST-\d{8}",
    r"(ab|cd)*e",
]


@pytest.mark.parametrize("regex", SAFE)
def test_safe_shapes_are_accepted(regex):
    assert check_pattern(regex) is None


def test_policy_with_catastrophic_regex_names_file_line_and_field(tmp_path):
    error = refusal(write(tmp_path / "re.yaml", recognizer("(a|a)+b")))
    assert error.refused
    assert str(error) == (
        f"{tmp_path / 're.yaml'}:9: detection.recognizers[0].patterns[0].regex: "
        f"regular expression refused: {OVERLAPPING}"
    )


def test_catastrophic_regex_in_an_extended_file_names_that_file(tmp_path):
    write(tmp_path / "base.yaml", recognizer(r"(\w+\s?)+$"))
    error = refusal(write(tmp_path / "p.yaml", HEADER + "extends: [base.yaml]\n"))
    assert str(error).startswith(f"{tmp_path / 'base.yaml'}:9: detection.recognizers[0].patterns[0].regex")


def _presidio_patterns() -> list[tuple[str, str, int]]:
    import presidio_analyzer.predefined_recognizers as predefined
    from presidio_analyzer import PatternRecognizer

    found = []
    for name, cls in inspect.getmembers(predefined, inspect.isclass):
        if issubclass(cls, PatternRecognizer):
            for pattern in getattr(cls, "PATTERNS", None) or []:
                flags = inspect.signature(cls.__init__).parameters.get("global_regex_flags")
                default = flags.default if flags is not None and flags.default is not None else PRESIDIO_FLAGS
                found.append((f"{name}.{pattern.name}", pattern.regex, default))
    return found


def test_presidio_predefined_patterns_are_accepted():
    patterns = _presidio_patterns()
    assert len(patterns) > 100
    refused = [name for name, regex, flags in patterns if check_pattern(regex, flags)]
    assert refused == []


def test_library_and_builtin_patterns_are_accepted():
    from redactline.policies.identifier_recognizers import BUILTIN_RECOGNIZERS

    checked = 0
    for path in sorted(LIBRARY_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rec in data.get("detection", {}).get("recognizers", []):
            for pattern in rec.get("patterns", []):
                checked += 1
                assert check_pattern(pattern["regex"]) is None, (path.name, rec["name"], pattern["name"])
        load_policy(path)  # and each library policy still loads
    for name, builtin in BUILTIN_RECOGNIZERS.items():
        built = builtin.factory("en")
        for pattern in built.patterns:
            checked += 1
            assert check_pattern(pattern.regex, built.global_regex_flags) is None, (name, pattern.name)
    assert checked > 20


# ---- the CLI: exit 2, one line, no traceback ----------------------------------------------------


def _cases(tmp_path: Path) -> dict[str, list[str]]:
    write(tmp_path / "elsewhere" / "secret.yaml", HEADER + "keys: {FOREIGN_KEY_NAME: {env: X}}\n")
    (tmp_path / "l1.yaml").symlink_to("l2.yaml")
    (tmp_path / "l2.yaml").symlink_to("l1.yaml")
    (tmp_path / "self.yaml").symlink_to("self.yaml")
    files = {
        "bomb": write(tmp_path / "bomb.yaml", alias_bomb()),
        "deep": write(tmp_path / "deep.yaml", HEADER + "detection: " + "[" * 20_000 + "]" * 20_000 + "\n"),
        "duplicate": write(tmp_path / "dup.yaml", HEADER + "transforms: {default: keep, default: replace}\n"),
        "outside": write(tmp_path / "repo" / "out.yaml", HEADER + "extends: [../elsewhere/secret.yaml]\n"),
        "absolute": write(tmp_path / "abs.yaml", HEADER + "extends: [/etc/passwd]\n"),
        "extends_symlink_loop": write(tmp_path / "loop.yaml", HEADER + "extends: [l1.yaml]\n"),
        "regex": write(tmp_path / "re.yaml", recognizer("(a|a)+b")),
    }
    cases = {name: [str(path)] for name, path in files.items()}
    cases["dev_zero"] = ["/dev/zero"]
    cases["root_symlink_loop"] = [str(tmp_path / "self.yaml")]
    return cases


CLI_CASES = ["bomb", "deep", "duplicate", "outside", "absolute", "extends_symlink_loop", "regex", "dev_zero",
             "root_symlink_loop"]


@pytest.mark.parametrize("case", CLI_CASES)
@pytest.mark.parametrize("verb", ["validate", "test", "explain", "diff"])
def test_cli_refuses_with_exit_2_and_one_line(tmp_path, capsys, case, verb):
    target = _cases(tmp_path)[case]
    good = write(tmp_path / "good.yaml", HEADER)
    argv = {
        "validate": ["policy", "validate", *target],
        "test": ["policy", "test", *target],
        "explain": ["policy", "explain", *target, "--text", "hello"],
        "diff": ["policy", "diff", str(good), *target],
    }[verb]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(target[0]) and "FOREIGN_KEY_NAME" not in captured.err + captured.out


def test_cli_allow_extends_outside_flag(tmp_path, capsys):
    cases = _cases(tmp_path)
    argv = ["policy", "validate", "--no-keys", *cases["outside"]]
    assert main([*argv, "--allow-extends-outside", str(tmp_path / "elsewhere")]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(argv) == 2


def test_cli_dev_zero_key_file_exits_2(tmp_path, capsys):
    path = write(tmp_path / "k.yaml", HEADER + "keys: {k: {file: /dev/zero}}\n")
    assert main(["policy", "validate", str(path)]) == 2
