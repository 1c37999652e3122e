"""The project's built-in validating recognizers: identifiers with public check digits.

Each is a Presidio ``PatternRecognizer`` whose patterns find candidates and whose ``validate_result``
runs the check-digit arithmetic of ``checksums``: a candidate that fails it is never reported. Only
``validate_result`` is overridden, so Presidio's own pattern loop runs them and the engine's pattern
gates (``recognizers.PatternGate``) apply; every pattern needs a digit, so texts without one skip
them. A policy enables them by name (``type: builtin`` in ``detection.recognizers``).

Scores: where the checksum and the shape together leave little doubt, a valid candidate scores 1.0
(Presidio's convention for a passed validation). Where a valid number is still common by chance
(a plain 9-digit number passes the BSN 11-proof one time in 11; a 12-13-digit number starting with
5 or 6 is in a Maestro range), the pattern's own score is kept, and the recognizer's context words
raise it (Presidio's context enhancer); patterns scoring below the policy threshold then need one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from presidio_analyzer import Pattern, PatternRecognizer

from . import checksums
from .secret_recognizers import password_recognizer, private_key_recognizer, secret_token_recognizer

# Left and right edges of a number: no digit, letter or "+" glued to it, and no digit one dot, slash
# or hyphen away (a longer number, a decimal, a date or a phone number written with dots or slashes).
# A comma is an edge: CSV cells are separated by commas.
_NUM_START = r"(?<![\w+]|\d[./\-])"
_NUM_END = r"(?!\w|[./\-]\d)"


class ChecksumRecognizer(PatternRecognizer):
    """A pattern recognizer whose candidates must pass ``check``; see the module docstring."""

    def __init__(
        self,
        *,
        name: str,
        entity: str,
        patterns: list[Pattern],
        context: list[str],
        check: Callable[[str], bool],
        certain: Callable[[str], bool] | None = None,
        supported_language: str = "en",
    ) -> None:
        super().__init__(
            supported_entity=entity,
            name=name,
            patterns=patterns,
            context=context,
            supported_language=supported_language,
        )
        self.check = check
        self.certain = certain

    def validate_result(self, pattern_text: str) -> bool | None:
        """False (not reported) if the check fails; True (score 1.0) if it passes and the candidate is
        unambiguous; None (the pattern's score, raised by context) for a valid but weaker candidate."""
        if not self.check(pattern_text):
            return False
        if self.certain is None or self.certain(pattern_text):
            return True
        return None


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


# ---- the recognizers -----------------------------------------------------------------------------


def card_number_recognizer(language: str = "en") -> ChecksumRecognizer:
    """Payment card numbers: 12-19 digits, plain or in groups split by single spaces or hyphens (one
    kind per number), in a registered issuer range (``checksums.ISSUER_RANGES``) and Luhn-valid.
    Numbers of 14 digits or more score 1.0; 12-13-digit ones (Maestro, Visa 13) keep 0.5 and a
    context word raises them."""
    return ChecksumRecognizer(
        name="CardNumberRecognizer",
        entity="CREDIT_CARD",
        patterns=[
            # Any grouping: a first group of 4-6 digits, then up to five more of 1-7 digits.
            Pattern(
                "card_grouped",
                rf"{_NUM_START}\d{{4,6}}(?P<sep>[ \-])\d{{2,7}}(?:(?P=sep)\d{{1,7}}){{0,4}}{_NUM_END}",
                0.5,
            ),
            Pattern("card_plain", rf"{_NUM_START}\d{{12,19}}{_NUM_END}", 0.5),
            # The common 4-4-4-4(-3) layout even when more digits follow (an expiry written after it),
            # but not as the tail of a longer run of digit groups (an IBAN's last 16 digits).
            Pattern(
                "card_4x4",
                rf"{_NUM_START}(?<!\d[ \-])\d{{4}}(?P<sep>[ \-])\d{{4}}(?P=sep)\d{{4}}(?P=sep)\d{{4}}"
                r"(?:(?P=sep)\d{3})?(?!\d)",
                0.5,
            ),
        ],
        context=["card", "cards", "credit", "debit", "visa", "mastercard", "amex", "maestro", "cc", "pan",
                 "jcb", "discover", "diners", "unionpay", "payment", "charge", "charged"],
        check=checksums.is_valid_card,
        certain=lambda text: _digit_count(text) >= 14,
        supported_language=language,
    )


def _iban_regex() -> str:
    """One alternation, a branch per IBAN length: its countries, 2 check digits and exactly the
    registry's number of BBAN characters, in groups of 4 with or without single spaces."""
    by_length: dict[int, list[str]] = {}
    for country, length in checksums.IBAN_LENGTHS.items():
        by_length.setdefault(length, []).append(country)
    branches = []
    for length, countries in sorted(by_length.items()):
        groups, rest = divmod(length - 4, 4)
        body = f"(?: ?[A-Z0-9]{{4}}){{{groups}}}" + (f" ?[A-Z0-9]{{{rest}}}" if rest else "")
        branches.append(f"(?:{'|'.join(sorted(countries))})\\d{{2}}{body}")
    return r"\b(?:" + "|".join(branches) + r")(?![A-Z0-9])"


def iban_recognizer(language: str = "en") -> ChecksumRecognizer:
    """IBAN of every country in the SWIFT registry: exact length per country and mod 97 (score 1.0)."""
    return ChecksumRecognizer(
        name="IbanChecksumRecognizer",
        entity="IBAN_CODE",
        patterns=[Pattern("iban", _iban_regex(), 0.5)],
        context=["iban", "bank", "account", "transfer", "sepa", "wire"],
        check=checksums.is_valid_iban,
        supported_language=language,
    )


def es_dni_recognizer(language: str = "en") -> ChecksumRecognizer:
    """Spanish DNI (NIF of a person): 8 digits and the mod-23 letter, optionally dotted (12.345.678-Z)."""
    return ChecksumRecognizer(
        name="EsDniRecognizer",
        entity="ES_NIF",
        patterns=[Pattern("dni", r"\b(?:\d{8}|\d{2}\.\d{3}\.\d{3})[ \-]?[A-Z]\b", 0.5)],
        context=["dni", "nif", "documento", "identidad", "id"],
        check=checksums.is_valid_dni,
        supported_language=language,
    )


def es_nie_recognizer(language: str = "en") -> ChecksumRecognizer:
    """Spanish NIE (foreigners): X/Y/Z, 7 digits, the mod-23 letter."""
    return ChecksumRecognizer(
        name="EsNieChecksumRecognizer",
        entity="ES_NIE",
        patterns=[Pattern("nie", r"\b[XYZ][ \-]?\d{7}[ \-]?[A-Z]\b", 0.5)],
        context=["nie", "extranjero", "identidad", "id"],
        check=checksums.is_valid_nie,
        supported_language=language,
    )


def it_fiscal_code_recognizer(language: str = "en") -> ChecksumRecognizer:
    """Italian codice fiscale with its check letter. The two year digits are required as digits (they
    are the last an omocode replaces), which keeps the pattern digit-gated."""
    return ChecksumRecognizer(
        name="ItCodiceFiscaleRecognizer",
        entity="IT_FISCAL_CODE",
        patterns=[
            Pattern(
                "codice_fiscale",
                r"\b[A-Z]{6}\d{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b",
                0.5,
            )
        ],
        context=["codice", "fiscale", "cf", "tax"],
        check=checksums.is_valid_codice_fiscale,
        supported_language=language,
    )


def nl_bsn_recognizer(language: str = "en") -> ChecksumRecognizer:
    """Dutch BSN (11-proof). One plain 9-digit number in 11 passes by chance: the plain form scores
    0.4 (just above the library policies' threshold, a context word raises it), the spaced form,
    which is also a phone-number layout, 0.3 (needs a context word), the dotted form 0.5."""
    return ChecksumRecognizer(
        name="NlBsnRecognizer",
        entity="NL_BSN",
        patterns=[
            Pattern("bsn_dotted", rf"{_NUM_START}\d{{4}}\.\d{{2}}\.\d{{3}}{_NUM_END}", 0.5),
            Pattern("bsn_plain", rf"{_NUM_START}\d{{9}}{_NUM_END}", 0.4),
            Pattern("bsn_spaced", rf"{_NUM_START}\d{{3}} \d{{3}} \d{{3}}{_NUM_END}", 0.3),
        ],
        context=["bsn", "burgerservicenummer", "sofinummer", "sofi", "citizen", "persoonsnummer"],
        check=checksums.is_valid_bsn,
        certain=lambda text: False,
        supported_language=language,
    )


def de_tax_id_recognizer(language: str = "en") -> ChecksumRecognizer:
    """German Steuer-IdNr: 11 digits with the BZSt digit rules and ISO 7064 MOD 11,10, plain or in its
    printed layout (12 345 678 901). About 1 random 11-digit number in 500 passes: scores 0.5."""
    return ChecksumRecognizer(
        name="DeSteuerIdRecognizer",
        entity="DE_TAX_ID",
        patterns=[
            Pattern("steuer_id_plain", rf"{_NUM_START}[1-9]\d{{10}}{_NUM_END}", 0.5),
            Pattern("steuer_id_spaced", rf"{_NUM_START}[1-9]\d \d{{3}} \d{{3}} \d{{3}}{_NUM_END}", 0.5),
        ],
        context=["steuer", "steuerid", "steuernummer", "idnr", "identifikationsnummer", "tin", "tax"],
        check=checksums.is_valid_steuer_id,
        certain=lambda text: False,
        supported_language=language,
    )


def fr_nir_recognizer(language: str = "en") -> ChecksumRecognizer:
    """French NIR (numéro de sécurité sociale), 15 characters with the mod-97 key, plain or spaced
    (1 84 12 76 451 089 46); Corsican departments 2A/2B."""
    return ChecksumRecognizer(
        name="FrNirRecognizer",
        entity="FR_NIR",
        patterns=[
            Pattern(
                "nir",
                rf"{_NUM_START}[1-478] ?\d{{2}} ?\d{{2}} ?(?:\d{{2}}|2[AB])"
                rf" ?\d{{3}} ?\d{{3}} ?\d{{2}}{_NUM_END}",
                0.5,
            )
        ],
        context=["nir", "insee", "sécurité", "securite", "sociale", "secu", "sécu"],
        check=checksums.is_valid_nir,
        supported_language=language,
    )


@dataclass(frozen=True)
class Builtin:
    factory: Callable[[str], PatternRecognizer]
    entity: str


# Name a policy uses (``- {name: CardNumberRecognizer, type: builtin}``) -> recognizer factory.
BUILTIN_RECOGNIZERS: dict[str, Builtin] = {
    "CardNumberRecognizer": Builtin(card_number_recognizer, "CREDIT_CARD"),
    "IbanChecksumRecognizer": Builtin(iban_recognizer, "IBAN_CODE"),
    "EsDniRecognizer": Builtin(es_dni_recognizer, "ES_NIF"),
    "EsNieChecksumRecognizer": Builtin(es_nie_recognizer, "ES_NIE"),
    "ItCodiceFiscaleRecognizer": Builtin(it_fiscal_code_recognizer, "IT_FISCAL_CODE"),
    "NlBsnRecognizer": Builtin(nl_bsn_recognizer, "NL_BSN"),
    "DeSteuerIdRecognizer": Builtin(de_tax_id_recognizer, "DE_TAX_ID"),
    "FrNirRecognizer": Builtin(fr_nir_recognizer, "FR_NIR"),
    # secrets (policies/secret_recognizers.py): shapes providers publish, no check digits
    "SecretTokenRecognizer": Builtin(secret_token_recognizer, "API_KEY"),
    "PrivateKeyRecognizer": Builtin(private_key_recognizer, "PRIVATE_KEY"),
    "PasswordRecognizer": Builtin(password_recognizer, "PASSWORD"),
}


def builtin_recognizer(name: str, language: str, context: list[str] | None = None) -> PatternRecognizer:
    """A new instance of the built-in recognizer ``name``; ``context`` replaces its context words."""
    recognizer = BUILTIN_RECOGNIZERS[name].factory(language)
    if context:
        recognizer.context = list(context)
    return recognizer
