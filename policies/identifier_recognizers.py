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

import functools
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from . import checksums
from .context import SelectiveContextEnhancer
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


# Written after a calling code ("+1 ", "+44-") or the international prefix 00 ("001 ", "0044 "): the
# rest of a phone number, not an identifier of its own.
_AFTER_CALLING_CODE = r"(?<!\+\d{1,3}[ .\-]?)(?<!(?<!\d)00\d{1,3}[ .\-]?)"

#: Tokens that say a number is a phone number (whole lower-cased tokens: "tel" is part of "hotel").
PHONE_WORDS = frozenset(
    {"phone", "phones", "telephone", "tel", "mobile", "cell", "cellphone", "call", "calls", "called",
     "calling", "fax", "dial", "ring", "rang", "whatsapp", "sms"}
)
#: How many tokens before a candidate are looked at for a phone word (Presidio's context window: 5).
_PHONE_WINDOW = 5


class ContextCertainRecognizer(ChecksumRecognizer):
    """A checksum recognizer whose valid candidate is certain (score 1.0) only with one of its context
    words before it. Without one the pattern's score stays. With a phone word among the 5 tokens before
    it too (``PHONE_WORDS``) the number may as well be a phone number: Presidio's ordinary boost applies
    (pattern score + 0.35), which a phone number's own boosted score outranks. The window and word
    matching are Presidio's context enhancer's (5 tokens before, stop words left out, substrings of
    lower-cased tokens); a result made certain is marked as enhanced, so the enhancer leaves it."""

    def enhance_using_context(
        self,
        text: str,
        raw_recognizer_results: list[RecognizerResult],
        other_raw_recognizer_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts | None,
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        # Presidio's per-recognizer hook (not ``analyze``: overriding that would lose the pattern gate)
        if nlp_artifacts is None or not nlp_artifacts.tokens or not raw_recognizer_results:
            return raw_recognizer_results
        enhancer = _context_enhancer()
        extra = [word.lower() for word in context or ()]
        for result in raw_recognizer_results:
            span = text[result.start : result.end]
            surrounding = [*enhancer.surrounding_words(nlp_artifacts, span, result.start), *extra]
            word = enhancer.supportive_word(surrounding, self.context)
            if not word or not PHONE_WORDS.isdisjoint(_tokens_before(nlp_artifacts, result.start)):
                continue
            result.score = self.MAX_SCORE
            if result.analysis_explanation is not None:
                result.analysis_explanation.set_supportive_context_word(word)
                result.analysis_explanation.set_improved_score(result.score)
            if result.recognition_metadata is None:
                result.recognition_metadata = {}
            result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return raw_recognizer_results


def _tokens_before(nlp_artifacts: NlpArtifacts, start: int, count: int = _PHONE_WINDOW) -> list[str]:
    """The ``count`` tokens that end before offset ``start``, lower-cased. Presidio's context window
    leaves out stop words, and spaCy's English list has "call" in it: the phone words are looked for
    here, in every token."""
    last = bisect_left(nlp_artifacts.tokens_indices, start)
    return [token.text.lower() for token in nlp_artifacts.tokens[max(0, last - count) : last]]


@functools.cache
def _context_enhancer() -> SelectiveContextEnhancer:
    """The engine's context enhancer with its default window, for ``ContextCertainRecognizer``."""
    return SelectiveContextEnhancer()


#: Context words of the UK NHS number. Presidio matches them as substrings of the 5 tokens before a
#: candidate, one token each (a phrase never matches): no short word that is part of common ones.
NHS_CONTEXT = ["nhs", "health", "patient", "hospital", "gp", "surgery", "clinic", "medical"]


_NHS_BARE_SCORE = 0.36  # see uk_nhs_recognizer


def uk_nhs_recognizer(language: str = "en") -> ContextCertainRecognizer:
    """UK NHS number: 10 digits with the mod-11 check digit, plain or in its printed 3-3-4 layout (one
    kind of separator, a space or a hyphen). Presidio's own recognizer scores every valid one 1.0, but
    one random 10-digit number in 11 passes and 3-3-4 is the North American phone layout. Here every
    form scores 0.36: just over the library policies' threshold (0.35), so a bare number is still
    redacted (fail closed: a real NHS number without context must not leak), but under a phone
    finding's 0.4, which takes an overlapping span; an NHS or health word before it makes it certain
    (1.0; 0.65 with a phone word there too, see ``ContextCertainRecognizer``). The rest of a
    phone number is no candidate at all: digits after a calling code or the 00 prefix ("+1
    212-555-1020", "0044 ..."), or a 3-3-4 run with another digit group right before or after it
    ("1 800 555 0199"). UK national phone numbers have 11 digits (0 + 10), so they never match."""
    grouped_edges = r"(?<!\d[ \-])", r"(?![ \-]\d)"
    return ContextCertainRecognizer(
        name="UkNhsChecksumRecognizer",
        entity="UK_NHS",
        patterns=[
            Pattern("nhs_plain", rf"{_NUM_START}{_AFTER_CALLING_CODE}\d{{10}}{_NUM_END}", _NHS_BARE_SCORE),
            Pattern(
                "nhs_grouped",
                rf"{_NUM_START}{_AFTER_CALLING_CODE}{grouped_edges[0]}"
                rf"\d{{3}}(?P<sep>[ \-])\d{{3}}(?P=sep)\d{{4}}{_NUM_END}{grouped_edges[1]}",
                _NHS_BARE_SCORE,
            ),
        ],
        context=NHS_CONTEXT,
        check=checksums.is_valid_nhs,
        certain=lambda text: False,
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
    "UkNhsChecksumRecognizer": Builtin(uk_nhs_recognizer, "UK_NHS"),
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
