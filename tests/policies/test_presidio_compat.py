"""The Presidio / regex compat layer: its version pins and the public shapes it gives private internals."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from redactline.policies import presidio_compat as compat


def test_checked_versions_are_the_installed_ones() -> None:
    assert {"presidio-analyzer": version("presidio-analyzer"), "regex": version("regex")} == compat.CHECKED
    compat.check_versions()  # no error on the pinned versions


@pytest.mark.parametrize(("distribution", "other"), [("presidio-analyzer", "2.2.367"), ("regex", "2025.1.1")])
def test_another_version_is_refused(distribution: str, other: str) -> None:
    with pytest.raises(ImportError) as info:
        compat.check_versions({distribution: other})
    message = str(info.value)
    assert f"{distribution}=={compat.CHECKED[distribution]}" in message
    assert f"{distribution}=={other} is installed" in message
    assert "tests/policies/test_engine_speed_equivalence.py" in message


def test_a_missing_distribution_is_refused() -> None:
    with pytest.raises(ImportError, match="regex is not installed"):
        compat.check_versions({"regex": None})


def test_requirements_lock_pins_the_checked_versions() -> None:
    from pathlib import Path

    lock = (Path(__file__).resolve().parents[2] / "requirements.lock").read_text(encoding="utf-8")
    for distribution, checked in compat.CHECKED.items():
        assert f"\n{distribution}=={checked} " in lock


def test_parse_regex_tree_shapes() -> None:
    c = compat

    def seq(*items: compat.RegexNode) -> compat.Seq:
        return c.Seq(tuple(items))

    digits_or_range = c.Alt((seq(c.Repeat(2, c.DigitClass())), seq(c.CharRange(ord("0"), ord("9")))))
    assert c.parse_regex_tree(r"(?:\d{2,}|[0-9])@x?(?=\.)", 0) == seq(
        digits_or_range, c.Char(ord("@")), c.Repeat(0, c.Char(ord("x"))), c.Look(True, seq(c.Char(ord("."))))
    )
    assert c.parse_regex_tree(r"[^5]", 0) == seq(c.Opaque())  # negated: nothing claimed
    assert c.parse_regex_tree(r"\D", 0) == seq(c.Opaque())
    letters_or_dot = c.CharSet((c.CharRange(ord("a"), ord("c")), c.Char(ord("."))))
    assert c.parse_regex_tree(r"(?i)[a-c.]", 0) == seq(letters_or_dot)
    with pytest.raises(Exception):  # noqa: B017  (the regex module's own parse error)
        c.parse_regex_tree(r"(", 0)


def test_stock_pattern_analysis() -> None:
    from presidio_analyzer import PatternRecognizer

    class Own(PatternRecognizer):
        def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # type: ignore[override]
            return []

    class Same(PatternRecognizer):
        pass

    assert compat.runs_stock_pattern_analysis(PatternRecognizer)
    assert compat.runs_stock_pattern_analysis(Same)
    assert not compat.runs_stock_pattern_analysis(Own)


def test_token_lookup_hook_is_installed_on_subclasses() -> None:
    from redactline.policies.context import SelectiveContextEnhancer

    assert SelectiveContextEnhancer._find_index_of_match_token is SelectiveContextEnhancer.match_token_index
