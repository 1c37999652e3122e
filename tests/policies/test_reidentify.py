"""Re-identification: literal placeholder lookup, tolerance to case/spacing, streaming, sealed vaults."""

from __future__ import annotations

import copy
import os
import pickle
import stat

import pytest

from redactline.policies.operators import RecordContext
from redactline.policies.reidentify import SLACK, Vault, VaultError

ENTRIES = {
    "<PERSON_1>": "Jane Doe",
    "<PERSON_2>": "Max Mustermann",
    "<PERSON_11>": "Eleven",
    "<EMAIL_ADDRESS_1>": "jane@example.com",
    "<ID.NO+_1>": "A-123",
    "<C++(X)_1>": "plusplus",
    "<A|B*_1>": "alt",
    "<[^>]_1>": "classy",
}


@pytest.fixture
def vault() -> Vault:
    return Vault(ENTRIES)


def test_exact_placeholders(vault: Vault) -> None:
    text = "Dear <PERSON_1>, <PERSON_2> wrote to <EMAIL_ADDRESS_1> about <PERSON_11>."
    assert vault.reidentify(text) == "Dear Jane Doe, Max Mustermann wrote to jane@example.com about Eleven."


@pytest.mark.parametrize(
    ("placeholder", "original"),
    [
        ("<ID.NO+_1>", "A-123"),
        ("<C++(X)_1>", "plusplus"),
        ("<A|B*_1>", "alt"),
        ("<[^>]_1>", "classy"),
        ("<id.no+_1>", "A-123"),
        ("< c++(x) _1 >", "plusplus"),
    ],
)
def test_regex_metacharacters_are_literal(vault: Vault, placeholder: str, original: str) -> None:
    assert vault.reidentify(f"x {placeholder} y") == f"x {original} y"


def test_metacharacters_do_not_act_as_patterns(vault: Vault) -> None:
    # as regexes, "ID.NO+" would match "IDxNOOO" and "A|B*" would match "A"; literally they do not
    assert vault.reidentify("<IDxNOOO_1> <A_1> <C(X)_1>") == "<IDxNOOO_1> <A_1> <C(X)_1>"


@pytest.mark.parametrize(
    "variant",
    ["<person_1>", "<Person_1>", "< PERSON_1 >", "<PERSON _1>", "<PERSON_ 1>", "<PERSON 1>",
     "<\tPERSON_1\n>"],
)
def test_changed_case_and_spacing(vault: Vault, variant: str) -> None:
    assert vault.reidentify(f"Hello {variant}!") == "Hello Jane Doe!"


def test_spacing_inside_entity_type(vault: Vault) -> None:
    assert vault.reidentify("<EMAIL ADDRESS_1> <email address 1>") == "jane@example.com jane@example.com"


def test_digits_are_never_joined_or_split(vault: Vault) -> None:
    # "<PERSON_1 1>" is not "<PERSON_11>", and "<PERSON_1>" inside a longer number stays itself
    assert vault.reidentify("<PERSON_1 1>") == "<PERSON_1 1>"
    assert vault.reidentify("<PERSON_11>") == "Eleven"


def test_unknown_placeholders_and_near_misses_untouched(vault: Vault) -> None:
    text = "<PERSON_3> <LOCATION_1> PERSON_1 [PERSON_1] <PERSON_1 <> < > <<>> a < b > c"
    assert vault.reidentify(text) == text


def test_nested_brackets(vault: Vault) -> None:
    assert vault.reidentify("<<PERSON_1>>") == "<Jane Doe>"
    assert vault.reidentify("<x <PERSON_2>") == "<x Max Mustermann"


def test_too_much_padding_is_not_a_placeholder(vault: Vault) -> None:
    padded = "<" + " " * (SLACK + 20) + "PERSON_1>"
    assert vault.reidentify(padded) == padded


def test_originals_are_not_rescanned() -> None:
    vault = Vault({"<PERSON_1>": "<PERSON_2>", "<PERSON_2>": "Bob"})
    assert vault.reidentify("<PERSON_1> <PERSON_2>") == "<PERSON_2> Bob"


def test_ambiguous_tolerant_keys_restore_exact_spelling_only() -> None:
    vault = Vault({"<Person_1>": "Anna", "<PERSON_1>": "Bert"})
    assert vault.reidentify("<Person_1> <PERSON_1>") == "Anna Bert"
    assert vault.reidentify("<person_1>") == "<person_1>"  # which one? neither: never the wrong person


def test_empty_vault_is_identity() -> None:
    assert Vault().reidentify("<PERSON_1> x") == "<PERSON_1> x"
    stream = Vault().stream()
    assert stream.feed("<PER") + stream.feed("SON_1>") + stream.finish() == "<PERSON_1>"


def test_add_refuses_conflicting_value_and_bad_placeholder(vault: Vault) -> None:
    vault.add({"<PERSON_1>": "Jane Doe"})  # same value: fine
    with pytest.raises(VaultError) as info:
        vault.add({"<PERSON_1>": "Someone Else"})
    assert "Someone" not in str(info.value) and "Jane" not in str(info.value)
    with pytest.raises(VaultError):
        vault.add({"PERSON_9": "x"})


def test_from_context_matches_pseudonym_operator() -> None:
    ctx = RecordContext()
    first = ctx.placeholder_for("PERSON", "Jane Doe")
    second = ctx.placeholder_for("C++(X)", "cx")
    assert first == "<PERSON_1>" and second == "<C++(X)_1>"
    vault = Vault.from_context(ctx)
    assert len(vault) == 2 and "<PERSON_1>" in vault
    assert vault.reidentify(f"{first.lower()} and {second}") == "Jane Doe and cx"


ANSWER = (
    "Summary: < person_1 > (<EMAIL_ADDRESS_1>) asked <PERSON_2> about <ID.NO+_1>; "
    "<PERSON_3> unknown, <C++(X)_1>, <<PERSON 11>>, a < b > c, trailing <PERSON_1"
)


def test_stream_split_at_every_boundary_equals_whole(vault: Vault) -> None:
    whole = vault.reidentify(ANSWER)
    assert "Jane Doe" in whole and "plusplus" in whole and "<Eleven>" in whole
    for cut in range(len(ANSWER) + 1):
        stream = vault.stream()
        out = stream.feed(ANSWER[:cut]) + stream.feed(ANSWER[cut:]) + stream.finish()
        assert out == whole, cut


def test_stream_char_by_char_and_bounded_holdback(vault: Vault) -> None:
    stream = vault.stream()
    longest = max(len(p) for p in ENTRIES) + SLACK
    pieces = []
    for char in ANSWER:
        pieces.append(stream.feed(char))
        assert stream.pending <= longest
    pieces.append(stream.finish())
    assert "".join(pieces) == vault.reidentify(ANSWER)


def test_stream_releases_plain_text_immediately(vault: Vault) -> None:
    stream = vault.stream()
    assert stream.feed("no placeholders here ") == "no placeholders here "
    assert stream.feed("but <PERS") == "but "
    assert stream.feed("ON_1> done") == "Jane Doe done"
    assert stream.finish() == ""


def test_repr_and_pickling_never_expose_values(vault: Vault) -> None:
    assert "Jane" not in repr(vault) and "8 entries" in repr(vault)
    stream = vault.stream()
    stream.feed("<PERSON")
    assert "PERSON" not in repr(stream)
    for obj in (vault, stream):
        with pytest.raises(TypeError):
            pickle.dumps(obj)
        with pytest.raises(TypeError):
            copy.deepcopy(obj)


def test_sealed_roundtrip(tmp_path, vault: Vault) -> None:
    key = os.urandom(32)
    path = tmp_path / "vault.sealed"
    vault.seal(path, key)
    raw = path.read_bytes()
    for original in ENTRIES.values():
        assert original.encode() not in raw
    assert b"PERSON" not in raw  # placeholders are sealed too
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["vault.sealed"]  # no temp file left
    opened = Vault.open_sealed(path, key)
    assert opened.placeholders() == vault.placeholders()
    assert opened.reidentify(ANSWER) == vault.reidentify(ANSWER)


def test_sealed_wrong_key_or_tampered_fails(tmp_path, vault: Vault) -> None:
    key = os.urandom(32)
    path = tmp_path / "vault.sealed"
    vault.seal(path, key)
    with pytest.raises(VaultError, match="wrong key"):
        Vault.open_sealed(path, os.urandom(32))
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(VaultError):
        Vault.open_sealed(path, key)
    path.write_bytes(b"plain text")
    with pytest.raises(VaultError, match="not a sealed"):
        Vault.open_sealed(path, key)
    with pytest.raises(VaultError, match="32 bytes"):
        vault.seal(path, b"short")
