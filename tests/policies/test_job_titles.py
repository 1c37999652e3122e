"""JobTitleRecognizer: a job title is found only with an occupation noun *and* a structural cue."""

from __future__ import annotations

import pytest

from redactline.policies.job_title_recognizer import JobTitleRecognizer


def _titles(text: str) -> list[str]:
    return [text[start:end] for start, end in JobTitleRecognizer().spans(text)]


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("Mira Holt, the Harbour pilot, said the ship was late.", ["Harbour pilot"]),
        ("I worked for Norvale Bank as Senior loan officer, but left.", ["Senior loan officer"]),
        ("She works as a nurse in the city.", ["nurse"]),
        ("Tessaly Strand\n\nFiscal and policy analyst\n\nPhone: 555 0101", ["Fiscal and policy analyst"]),
        ("> Orvin Dale\n> Line maintenance engineer\n> Kestrel & Finch LLP", ["Line maintenance engineer"]),
        ("Job title: Data protection officer\nName: x", ["Data protection officer"]),
    ],
)
def test_titles_with_a_cue(text: str, titles: list[str]) -> None:
    assert _titles(text) == titles


@pytest.mark.parametrize(
    "text",
    [
        "The manager said the delivery is late.",  # an occupation noun, no cue
        "As a customer I expect better service.",  # a cue, no occupation noun
        "We use it as an engineering tool every day.",
        "Support team\nThe engineer will call you back tomorrow about the parcel and the invoice.",
    ],
)
def test_no_title_without_noun_and_cue(text: str) -> None:
    assert _titles(text) == []


def test_a_head_noun_from_the_soc_source_is_found_with_a_cue() -> None:
    # "barista" is in the SOC 2018 direct-match titles and was never in the hand-written list
    assert _titles("He was hired as a barista in town.") == ["barista"]


def test_heads_file_is_what_the_public_source_and_the_rules_give() -> None:
    """The committed data file is reproducible: re-deriving it from the pinned SOC file changes nothing."""
    from benchmarks.derive_occupation_heads import OUTPUT, main

    assert main(["--check"]) == 0
    header = [line for line in OUTPUT.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any("Bureau of Labor Statistics" in line for line in header)
    assert any("public domain" in line for line in header)


def test_derivation_rules() -> None:
    """Each rule of the derivation, on rows written here (not the source)."""
    from benchmarks.derive_occupation_heads import derive

    def row(code: str, title: str) -> dict[str, str]:
        return {"2018 SOC Code": code, "2018 SOC Direct Match Title": title}

    rows = [
        row("55-1011", "Field Artillery Officer"),  # military group: skipped
        row("11-1011", "Commissioner of Internal Revenue"),  # cut at "of"
        row("11-1011", "CEO"),  # acronym: dropped
        row("35-9031", "Bar Host/Hostess"),  # both sides of the slash; only "hostess" has an agent suffix
        row("13-1111", "Field Operations"),  # plural without a singular head: dropped
        row("13-1111", "Signals Intelligence"),  # abstract suffix: dropped
        row("31-9011", "Masseuse"),  # single-word title
        row("39-9011", "Day Nanny"),  # no suffix, one title, not a single word: dropped
        *(row("43-4051", f"{w} Clerk") for w in ("File", "Desk", "Mail")),  # 3 titles: kept
        row("43-4051", "Night Clerks"),  # plural of a head: merged
    ]
    assert derive(rows) == ["clerk", "commissioner", "hostess", "masseuse"]


def test_heads_file_fails_closed_on_a_malformed_line() -> None:
    from redactline.policies.job_title_recognizer import load_heads

    assert load_heads("# header\nnurse\n\npilot\n") == frozenset({"nurse", "pilot"})
    with pytest.raises(ValueError, match=r"heads\.txt:3:"):
        load_heads("# header\nnurse\nSenior Pilot\n", "heads.txt")
    with pytest.raises(ValueError, match="no head nouns"):
        load_heads("# only a header\n", "heads.txt")


@pytest.mark.slow
def test_heads_load_from_the_installed_package(tmp_path) -> None:
    """The data file ships in the wheel and the recognizer reads it from there, not from the source tree."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    pip = [sys.executable, "-m", "pip"]
    wheels = tmp_path / "wheels"
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", str(repo), "-w", str(wheels)],
                   check=True, capture_output=True)
    (wheel,) = wheels.glob("redactline-*.whl")
    assert "redactline/policies/data/occupation_heads.txt" in zipfile.ZipFile(wheel).namelist()
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    probe = ("import redactline.policies.job_title_recognizer as m; "
             "print(m.__file__); print(len(m.HEADS)); print('barista' in m.HEADS)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         check=True, capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(target)), out[0]
    assert int(out[1]) > 500 and out[2] == "True"
