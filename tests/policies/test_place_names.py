"""PlaceNameRecognizer: GeoNames town names, capitalised or after a cue; the data file is reproducible."""

from __future__ import annotations

import pytest

from redactline.policies.gazetteer_recognizer import PlaceNameRecognizer, load_names


def _places(text: str) -> list[str]:
    return [text[start:end] for start, end in PlaceNameRecognizer().spans(text)]


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("she moved to ipswich last week", ["ipswich"]),  # tier A, lower case, a preposition before it
        ("flying out of leeds tmrw", ["leeds"]),  # tier B (a WordNet noun): lower case needs a strong cue
        ("our new hire is based in pune", ["pune"]),
        ("Ipswich won again.", ["Ipswich"]),  # tier A capitalised: no cue needed
        ("We met in Sale on Friday.", ["Sale"]),  # tier B capitalised after a cue
        ("he moved to sale in May", ["sale"]),
        ("Send it to 12 High St, nuneaton please", ["nuneaton"]),  # after the comma of a street line
        ("Flat 3\n12 Mill Road\nHarrogate\nHG1 2AB", ["Harrogate"]),
        ("Visiting St. Albans and Wagga Wagga's show", ["St. Albans"]),  # multi-word, dot inside
        ("Pune's traffic is bad", ["Pune"]),  # possessive left out of the span
        ("LANDED IN LEEDS AT NOON", ["LEEDS"]),
    ],
)
def test_places_found(text: str, places: list[str]) -> None:
    assert _places(text) == places


@pytest.mark.parametrize(
    "text",
    [
        "The sale ends today, so order now.",  # tier B noun, no cue
        "Reading the manual did not help; the bath fan is nice.",  # common English words: not in the list
        "talked to george yesterday",  # tier B in lower case after a weak cue only
        "The replacement unit was dispatched this morning.",
        "Please keep the original packaging until the return is processed.",
        "I tried restarting the router twice but nothing changed.",
    ],
)
def test_no_place_without_name_and_cue(text: str) -> None:
    assert _places(text) == []


def test_names_file_fails_closed_on_a_malformed_line() -> None:
    index = load_names("# header\nA\tipswich\nB\tlong beach\n")
    assert index["long"] == [(("long", "beach"), "B")]
    with pytest.raises(ValueError, match=r"names\.txt:3:"):
        load_names("# header\nA\tipswich\nC\tleeds\n", "names.txt")
    with pytest.raises(ValueError, match=r"names\.txt:2:"):
        load_names("# header\nA\tIpswich\n", "names.txt")
    with pytest.raises(ValueError, match="no place names"):
        load_names("# only a header\n", "names.txt")


def test_derivation_rules() -> None:
    """Each tier rule on names and word classes written here (not the source, not the model)."""
    from benchmarks.derive_place_names import Words, derive

    words = Words(
        {"of", "the"},
        {"noun": {"sale", "beach", "bath"}, "verb": {"bath", "read"}, "adj": {"long", "nice"}, "adv": set()},
        {"noun": [["s", ""]], "verb": [["ing", ""]], "adj": [], "adv": []},
        {},
    )

    def row(name: str, population: int, code: str = "PPL") -> list[str]:
        return ["1", name, name, "", "0", "0", "P", code, "GB", "", "", "", "", "", str(population),
                "", "", "", ""]

    rows = [
        row("Ipswich", 150000),  # not a word: A
        row("Sale", 130000),  # a noun: B
        row("Reading", 170000),  # a verb by the inflection rule: dropped
        row("Nice", 340000),  # an adjective: dropped
        row("Long Beach", 460000),  # every word an English word: B
        row("Of", 20000),  # a function word: dropped
        row("Ulm", 120000),  # fewer than 4 letters: B
        row("Smallville", 900),  # under the population threshold
        row("Tinytown", 900, "PPLC"),  # ... but a capital
        row("Sector 5", 90000),  # a digit: dropped
    ]
    expected = {"ipswich": "A", "sale": "B", "long beach": "B", "ulm": "B", "tinytown": "A"}
    assert derive(rows, words) == expected


def test_names_file_is_what_the_public_source_and_the_rules_give() -> None:
    """The committed data file is reproducible: re-deriving it from the pinned dump changes nothing."""
    from benchmarks.derive_place_names import OUTPUT, main

    assert main(["--check"]) == 0
    header = [line for line in OUTPUT.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any("GeoNames" in line for line in header)
    assert any("CC BY 4.0" in line for line in header)
