"""Built-in validating recognizers (policies/identifier_recognizers.py): valid identifiers are found in
text, candidates failing their checksum are not, every pattern stays digit-gated, and a policy enables
them by name (``type: builtin``) with errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from redactline.policies import PolicyError, load_policy
from redactline.policies import checksums as cs
from redactline.policies.identifier_recognizers import BUILTIN_RECOGNIZERS, builtin_recognizer
from redactline.policies.recognizers import pattern_gate, requires_digit
from redactline.policies.secret_recognizers import SECRET_RECOGNIZER_NAMES


def _found(name: str, text: str) -> list[tuple[str, float]]:
    """(matched text, score) of every result of built-in ``name`` on ``text``."""
    recognizer = builtin_recognizer(name, "en")
    results = recognizer.analyze(text, recognizer.supported_entities, None)
    return [(text[r.start : r.end], r.score) for r in results]


def _card(body: str) -> str:
    return body + cs.luhn_check_digit(body)


@pytest.mark.parametrize("name", sorted(set(BUILTIN_RECOGNIZERS) - set(SECRET_RECOGNIZER_NAMES)))
def test_every_pattern_needs_a_digit_and_is_gated(name: str) -> None:
    recognizer = builtin_recognizer(name, "en")
    assert recognizer.supported_entities == [BUILTIN_RECOGNIZERS[name].entity]
    for pattern in recognizer.patterns:
        assert requires_digit(pattern.regex, recognizer.global_regex_flags), pattern.name
    assert pattern_gate(recognizer) is not None


# ---- cards ---------------------------------------------------------------------------------------

MC2 = _card("272099123456789")
JCB15 = _card("21318765432109")
VISA19 = _card("453201987654321012")
MAESTRO12 = _card("67596498264")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        (f"card {MC2[:4]} {MC2[4:8]} {MC2[8:12]} {MC2[12:]} ok", MC2),
        (f"card {MC2[:4]}-{MC2[4:8]}-{MC2[8:12]}-{MC2[12:]} ok", MC2),
        (f"JCB {JCB15[:4]} {JCB15[4:10]} {JCB15[10:]}.", JCB15),
        (f"paid with {VISA19}", VISA19),
        (f"{VISA19[:4]} {VISA19[4:8]} {VISA19[8:12]} {VISA19[12:16]} {VISA19[16:]}", VISA19),
        (f"T-100200,US,{MC2},12.50,open", MC2),  # a CSV cell
        (f"card {MC2[:4]} {MC2[4:8]} {MC2[8:12]} {MC2[12:]} 0927", MC2),  # expiry written after it
    ],
)
def test_cards_found(text: str, number: str) -> None:
    found = _found("CardNumberRecognizer", text)
    assert [cs.compact(value) for value, _ in found] == [number]
    assert found[0][1] == 1.0


def test_short_card_numbers_keep_a_lower_score() -> None:
    assert _found("CardNumberRecognizer", f"ref {MAESTRO12}") == [(MAESTRO12, 0.5)]


@pytest.mark.parametrize(
    "text",
    [
        f"card {MC2[:-1]}{(int(MC2[-1]) + 1) % 10}",  # Luhn fails
        f"card {_card('720012345678901')}",  # Luhn-valid, no issuer range
        f"number {MC2}7",  # 17 digits: a Mastercard is 16
        f"ref 1.{MC2}",  # part of a decimal
        f"phone +{MC2[:12]}",
        "dates 2024-03-15 and 15/03/2024, amount 1,234,567.89",
    ],
)
def test_not_cards(text: str) -> None:
    assert _found("CardNumberRecognizer", text) == []


# ---- IBAN ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("country", sorted(cs.IBAN_LENGTHS))
def test_iban_of_every_country(country: str) -> None:
    bban = ("1234567890" * 4)[: cs.IBAN_LENGTHS[country] - 4]
    iban = country + cs.iban_check_digits(country, bban) + bban
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    for written in (iban, spaced):
        assert _found("IbanChecksumRecognizer", f"IBAN {written} from the form") == [(written, 1.0)]
    wrong = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
    assert _found("IbanChecksumRecognizer", f"IBAN {wrong} from the form") == []


# ---- national identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid", "invalid"),
    [
        ("EsDniRecognizer", "12345678Z", "12345678A"),
        ("EsDniRecognizer", "12.345.678-Z", "12.345.678-A"),
        ("EsNieChecksumRecognizer", "X1234567L", "X1234567A"),
        ("EsNieChecksumRecognizer", "Y-1234567-X", "Y-1234567-Y"),
        ("ItCodiceFiscaleRecognizer", "RSSMRA85T10A562S", "RSSMRA85T10A562T"),
        ("NlBsnRecognizer", "1234.56.782", "1234.56.789"),
        ("DeSteuerIdRecognizer", "86 095 742 719", "86 095 742 710"),
        ("DeSteuerIdRecognizer", "47036892816", "47036892817"),
        ("FrNirRecognizer", "2 69 05 49 588 157 80", "2 69 05 49 588 157 81"),
        ("FrNirRecognizer", "185052A00123435", "185052A00123436"),
    ],
)
def test_national_identifiers(name: str, valid: str, invalid: str) -> None:
    found = _found(name, f"The number is {valid}, see above.")
    assert [value for value, _ in found] == [valid]
    assert _found(name, f"The number is {invalid}, see above.") == []


def test_plain_bsn_scores_just_above_threshold_and_spaced_needs_context() -> None:
    assert _found("NlBsnRecognizer", "ref 123456782") == [("123456782", 0.4)]
    assert _found("NlBsnRecognizer", "ref 123 456 782") == [("123 456 782", 0.3)]


# ---- policy wiring -------------------------------------------------------------------------------

POLICY = """\
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {{name: ids, version: 1.0.0}}
detection:
  recognizers:
    - {{name: CreditCardRecognizer, type: predefined, enabled: false}}
{entry}
"""


def _write(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "ids.yaml"
    path.write_text(POLICY.format(entry=entry), encoding="utf-8")
    return path


def test_unknown_builtin_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "    - {name: CardNumberRecognizr, type: builtin}")
    with pytest.raises(PolicyError) as error:
        load_policy(path, environ={})
    message = str(error.value)
    assert f"{path}:7" in message and "detection.recognizers[1]" in message
    assert "CardNumberRecognizr" in message and "CardNumberRecognizer" in message


def test_builtin_takes_no_patterns(tmp_path: Path) -> None:
    entry = "    - {name: CardNumberRecognizer, type: builtin, patterns: [{name: p, regex: '\\d', score: 1}]}"
    with pytest.raises(PolicyError, match="builtin recognizer takes no"):
        load_policy(_write(tmp_path, entry), environ={})


def test_policy_enables_builtin_by_name(tmp_path: Path) -> None:
    entry = "    - {name: CardNumberRecognizer, type: builtin, context: [tarjeta]}"
    engine = load_policy(_write(tmp_path, entry), environ={}).engine()
    result = engine.redact_text(f"tarjeta {MC2} ok")
    assert MC2 not in result.text
    cards = [f.recognizer for f in result.findings if f.entity_type == "CREDIT_CARD"]
    assert cards == ["CardNumberRecognizer"]
