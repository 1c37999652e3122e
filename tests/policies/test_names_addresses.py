"""Names and addresses in free text: the project's text recognizers, alone and through general-pii."""

from __future__ import annotations

from pathlib import Path

import pytest

from redactline.policies import load_policy
from redactline.policies.address_recognizer import AddressBlockRecognizer
from redactline.policies.dialogue_recognizer import DialogueNameRecognizer
from redactline.policies.organisation_recognizer import OrganisationSuffixRecognizer
from redactline.policies.place_recognizer import PlaceRecognizer
from redactline.policies.recognizers import predefined_class
from redactline.policies.text_recognizers import TEXT_RECOGNIZERS
from redactline.policies.text_structure import (
    CaseNormalisedNerRecognizer,
    LineNerRecognizer,
    case_of,
    line_spans,
    normalise_case,
)

GENERAL = Path(__file__).resolve().parents[2] / "policies" / "library" / "general-pii.yaml"


def _found(recognizer, text: str) -> list[str]:
    return [text[start:end] for start, end in recognizer.spans(text)]


# ---- text structure --------------------------------------------------------------------------


def test_case_of():
    assert case_of("NOTE: CALLED THE CLIENT") == "upper"
    assert case_of("note: called the client") == "lower"
    assert case_of("Note: called the client") is None
    assert case_of("12 / 7") is None


def test_normalise_case_keeps_length_and_lowers_common_words():
    text = "NOTE: CALLED MARLO STRAND AT HOME. ROẞE"
    out = normalise_case(text)
    assert len(out) == len(text)
    assert out.startswith("note: called Marlo Strand at Home.")


def test_line_spans_strip_and_skip_blank_lines():
    text = "  Idris Strand \n\n12 Harrow Close\n"
    assert [text[a:b] for a, b in line_spans(text)] == ["Idris Strand", "12 Harrow Close"]


def test_line_ner_pieces_only_for_multi_line_text_in_ordinary_case():
    line_ner = LineNerRecognizer()
    assert line_ner.pieces("Jane Roe lives here.") == []
    assert line_ner.pieces("JANE ROE\nLIVES HERE") == []
    text = "Kind regards,\nFenna Lindqvist\n12 Harrow Close"
    # lines with a digit are left to the pattern recognizers
    assert [piece for _, piece in line_ner.pieces(text)] == ["Kind regards,", "Fenna Lindqvist"]


def test_case_normalised_pieces_only_for_mono_case_text():
    case_ner = CaseNormalisedNerRecognizer()
    assert case_ner.pieces("Jane Roe\nlives here") == []
    assert case_ner.pieces("CALLED JANE ROE") == [(0, "called Jane Roe")]


# ---- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Ship to:\n12 Larkspur Street\nApt. 4\nMaple Falls, OR 12345\n\nThanks for your help.",
            "12 Larkspur Street\nApt. 4\nMaple Falls, OR 12345",
        ),
        (
            "It is 8 rue des Tilleuls, 75001 Villeroche, France.",
            "8 rue des Tilleuls, 75001 Villeroche, France",
        ),
        (
            "Lindenstraße 23\n10115 Birkenfelde\nDeutschland",
            "Lindenstraße 23\n10115 Birkenfelde\nDeutschland",
        ),
        ("12 Harrow Close\nKingsmere\nAB12 3CD", "12 Harrow Close\nKingsmere\nAB12 3CD"),
        (
            "He lives at 637 Strojírenská 1006\n Suite 26\n Svratka",
            "637 Strojírenská 1006\n Suite 26\n Svratka",
        ),
        ("it is PSC 2322, Box 6025\nAPO AE 09123", "PSC 2322, Box 6025\nAPO AE 09123"),
        (
            "the corner of 262 Thisseos Avenue and Semmens Greens for post",
            "the corner of 262 Thisseos Avenue and Semmens Greens",
        ),
        ("Address:\nOld Mill House\nKingsmere\n\nPhone: 1", "Old Mill House\nKingsmere"),
        ("> 12 Larkspur Street\n> Maple Falls, OR 12345", "12 Larkspur Street\n> Maple Falls, OR 12345"),
        (
            "NOTE: SENT TO 12 LARKSPUR LANE, CEDARTON, VT 12345. SHE SAID",
            "12 LARKSPUR LANE, CEDARTON, VT 12345",
        ),
    ],
)
def test_address_blocks(text: str, expected: str):
    assert _found(AddressBlockRecognizer(), text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "In 2019 we sold 300 units. The meeting is on 3 May.",
        "We had 3 Apples and 4 Pears 2 days ago.",
        "Place Order now to get 10 Free Items",
        "Call me on 555 0172 tomorrow.",
    ],
)
def test_no_address(text: str):
    assert _found(AddressBlockRecognizer(), text) == []


def test_address_results_are_street_addresses():
    text = "Send it to 12 Harrow Close, Kingsmere."
    results = AddressBlockRecognizer().analyze(text, ["STREET_ADDRESS"])
    assert [(r.entity_type, r.score) for r in results] == [("STREET_ADDRESS", 0.9)]
    assert AddressBlockRecognizer().analyze("Send it to 12 Harrow Close.", ["PERSON"]) == []


# ---- names from dialogue and letter cues -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tessaly: Hi\nAgent: hello\nTessaly: my parcel\nAgent: ok", ["Tessaly", "Tessaly"]),
        ("MARLO: HI\nBRISA: HELLO\nMARLO: OK\nBRISA: BYE", ["MARLO", "BRISA", "MARLO", "BRISA"]),
        ("Arya: what a day it was.\nShawn: you are so kind to me", ["Arya", "Shawn"]),
        ("Marlo said to Brisa Oakhurst that it was fine.", ["Marlo", "Brisa Oakhurst"]),
        (
            "Dear Idris Strand,\n\nThe parcel.\n\nKind regards,\nFenna Lindqvist",
            ["Idris Strand", "Fenna Lindqvist"],
        ),
        ("Thanks for this.\n\nThanks,\nVeda\n--\nVeda Moreau", ["Veda", "Veda", "Veda Moreau"]),
        ("Name:    Keiko B Soto\nAddress: 1 Main St", ["Keiko B Soto"]),
        ("hi ludo,\n\nthanks,\nveda", ["ludo", "veda"]),
        ("Vittore G. Fiorentini\nFood preparation worker", ["Vittore G. Fiorentini"]),
        # chat logs: a time stamp before the label, a role in brackets after the name
        ("[10:26] Quenby (agent): hello there\n[10:27] Oriel Dace: my card was charged\n"
         "[10:29] Quenby (agent): let me check", ["Quenby", "Oriel Dace", "Quenby"]),
        # quoted replies: the attribution's display name, greeting and sign-off behind "> "
        ("On Tue, 4 Mar 2025, Sabeth Orne <so@example.com> wrote:\n> Hi Ludo,\n> ok\n> Best,\n> Sabeth",
         ["Sabeth", "Sabeth Orne", "Ludo", "Sabeth"]),
        # a single first name after a verb of contacting or handing over, and a joined second name
        ("If it fails, ask Zaida in billing. I spoke with Corwin and Nilsa today.",
         ["Zaida", "Corwin", "Nilsa"]),
        ("You can reach Hollis on 0412 000 000.", ["Hollis"]),
    ],
)
def test_dialogue_names(text: str, expected: list[str]):
    assert _found(DialogueNameRecognizer(), text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Genre: Comedy\nRating: 5\nGenre: Drama",
        "Reminder: please pay the invoice\nUpdate: the order has shipped",
        "Dear Customer,\nThanks for your patience.",
        "The manager said no. Customer Support replied later.",
        "Thanks for the update, it helps.",
        "Harrowgate Logistics Ltd\n12 Main Street",
        "Customer Support\nOpening hours",
        "Please contact Customer Services or call Billing on Monday.",
        "We will call Monday and ask IT to check it. Thanks Team!",
        "[09:15] Update: the order has shipped",
    ],
)
def test_no_dialogue_names(text: str):
    assert _found(DialogueNameRecognizer(), text) == []


# ---- organisations and places ----------------------------------------------------------------


def test_organisations_by_legal_form():
    org = OrganisationSuffixRecognizer()
    assert _found(org, "She works at Brightwell Analytics Ltd in town.") == ["Brightwell Analytics Ltd"]
    assert _found(org, "The ASAHIMATSU FOODS CO.LTD. shipped it") == ["ASAHIMATSU FOODS CO.LTD."]
    assert _found(org, "Kestrel & Finch LLP said") == ["Kestrel & Finch LLP"]
    assert _found(org, "I trust the bank. We Trust you.") == []


def test_places():
    place = PlaceRecognizer()
    assert _found(place, "We moved here from Cyprus.") == ["Cyprus"]
    assert _found(place, "I LIVE IN GERMANY NOW") == ["GERMANY"]
    assert _found(place, "Saber Mailly\n\nArtilleros\nUruguay") == ["Artilleros", "Uruguay"]
    assert _found(place, "Meeting notes\nThanks\nFrance 75001") == ["France", "France 75001"]
    assert _found(place, "The meeting went well.") == []


# ---- through the policy ----------------------------------------------------------------------


def test_text_recognizers_resolve_by_name():
    for name, factory in TEXT_RECOGNIZERS.items():
        assert predefined_class(name) is factory
    with pytest.raises(LookupError):
        predefined_class("NoSuchRecognizer")


@pytest.fixture(scope="module")
def engine():
    return load_policy(GENERAL).engine()


def test_general_pii_letter_block(engine):
    text = (
        "Kelden Kowalczyk\n4180 Wexley Way\nElmsworth, TN 37519\n\nDear Brisa Moreau,\n\n"
        "The parcel was delayed.\n\nRegards,\nNilsa Achterberg"
    )
    out = engine.redact_text(text).text
    for value in ("Kowalczyk", "Wexley", "Elmsworth", "37519", "Moreau", "Achterberg"):
        assert value not in out
    assert "The parcel was delayed." in out


def test_general_pii_chat_labels(engine):
    text = (
        "Oriel: Hi, my parcel never arrived.\nAgent: Sure, can you confirm the address?\n"
        "Oriel: It is late."
    )
    out = engine.redact_text(text).text
    assert "Oriel" not in out
    assert "Agent: Sure, can you confirm the address?" in out


def test_per_line_ner_runs_in_the_engine_batch(engine):
    """The per-line pass is read in the engine's own spaCy batch and attached to the artifacts."""
    nlp_engine = engine._analyzer.nlp_engine
    assert "LineNerRecognizer" in nlp_engine.second_passes["en"]
    texts = ["Hello there.", "Fenna Lindqvist\nHarrowgate Logistics\nKind regards"]
    artifacts = nlp_engine.artifacts_batch(texts, "en", batch_size=2)
    assert artifacts[0].second_pass["LineNerRecognizer"] == []
    assert [offset for offset, _ in artifacts[1].second_pass["LineNerRecognizer"]] == [0, 16, 37]
    results = LineNerRecognizer(nlp_engine=nlp_engine).analyze(texts[1], [], artifacts[1])
    assert all(r.entity_type in LineNerRecognizer.ENTITIES for r in results)
    # the same results when the recognizer reads the lines itself
    alone = LineNerRecognizer(nlp_engine=nlp_engine).analyze(texts[1], [], None)
    def spans(found):
        return [(r.start, r.end, r.entity_type) for r in found]

    assert spans(alone) == spans(results)


def test_case_normalised_ner_finds_names_in_capitals(engine):
    nlp_engine = engine._analyzer.nlp_engine
    recognizer = CaseNormalisedNerRecognizer(nlp_engine=nlp_engine)
    text = "NOTE: CALLED JOHN SMITH ABOUT THE PARCEL"
    results = recognizer.analyze(text, [], None)
    assert any(text[r.start : r.end] == "JOHN SMITH" and r.entity_type == "PERSON" for r in results)
    assert recognizer.analyze("Called John Smith about it", [], None) == []
