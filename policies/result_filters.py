"""Decision rules applied to the analyzer's results before operators run (``detection.result_filters``).

Each rule removes a false positive that costs something downstream (a ticket id replaced by
``<PERSON>`` breaks joins, a phone number split in two placeholders), and none uncovers a character
that may be PII unless the rule says why it is not. The engine calls :func:`filter_results` once per
text, after detection and before overlaps are resolved; ``analyze_texts`` itself stays Presidio's.

Rules, by the name a policy enables them with:

* ``ner_identifier_codes``: spaCy names tagged on codes. A PERSON / ORGANIZATION / NRP span loses the
  tokens that start with a letter and carry three or more digits (``T-100000``, ``INV-2024-0042``,
  ``ORD58213``: no name has them; ``LV-1050``-like postcodes excepted) and the record words next to
  them (``Ticket``, ``Order``); nothing left, no finding. A LOCATION is dropped only when it is
  nothing but such codes. A span of one capitalised word and a model code (``Nova H2740``: one
  letter then digits) is a product and its model, dropped whatever its type. Digit-first tokens stay
  (``221B``, ``10115``: spaCy often tags an address as an organisation, and those are its house
  number and postcode).
* ``ner_acronyms``: a spaCy PERSON / ORGANIZATION / NRP / LOCATION that is a common acronym
  (``IBAN``, ``SSN``, ``ID``, ``CEO``...) is dropped; a PERSON / ORGANIZATION / NRP that is a
  two-letter ISO 3166 country code (``US``, ``DE``) becomes a LOCATION, which is what it is.
* ``ner_non_dates``: a spaCy DATE_TIME is dropped when it is a plain number followed by what it
  counts (``3500 units``), an expression with no digit, month, weekday or proper name (``last
  month``, ``the weekend``: relative time names no one), an identifier code with a year in it
  (``CASE-2022-3360``; a month or weekday name keeps it: ``Jan-2022``), or when what it adds around
  another detector's finding (an AGE in ``45-year-old``, a phone number) is such an expression.
* ``whole_span``: a finding inside a longer PHONE_NUMBER (``+1 415 555 0172`` also matches the
  10-digit UK NHS layout) is part of that number: the phone number is kept whole. Card numbers,
  IBANs and SSNs inside are kept (their operators mask or hash what they matched).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from .regions import ISO_3166_ALPHA2

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult

#: Recognizers whose results are spaCy NER entities (on the whole text; per line of a block).
NER_RECOGNIZERS = frozenset({"SpacyRecognizer", "LineNerRecognizer"})
NAME_TYPES = frozenset({"PERSON", "ORGANIZATION", "NRP"})

_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = "\"'()[]{}<>,;:!?.“”‘’"
#: A code: starts with a letter, has three digits or more (not a house number such as ``221B``, a
#: postcode ``10115`` or a number spaCy folded into a mis-tagged address).
_CODE = re.compile(r"[A-Za-z]+[#/_.-]?(?=(?:\D*\d){3})[\w#/.+-]*")
#: ... but not a postcode with its country letters (``LV-1050``, ``D-10115``, ``AD500``).
_PREFIXED_POSTCODE = re.compile(r"[A-Z]{1,2}-?\d{3,5}")
#: A model code: one capital letter, then digits (maybe a letter suffix): ``X200``, ``H2740``. Country
#: letters before a postcode are two (``LV-1050``, ``AD500``), so a town before its postcode is not one.
_MODEL = re.compile(r"[A-Z]\d{2,6}[A-Za-z]{0,2}")

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that name a record next to its identifier ("Ticket T-100000", "order no. 58213").
RECORD_WORDS = _words(
    """ticket tickets order orders invoice inv case ref reference request req incident issue item sku
    account acct customer client id no no. nr nr. num number # booking reservation claim policy tracking
    shipment parcel package return rma job task bug po quote receipt transaction txn batch lot serial
    model part version build release subscription contract member membership voucher coupon code
    confirmation application form file document doc report record"""
)

#: Acronyms that spaCy's small English models tag as organisations or people and that name no one.
ACRONYMS = _words(
    """IBAN BIC SWIFT SSN SIN NIN NINO TIN EIN ITIN VAT ID IDS PIN CVV CVC OTP MFA DOB ATM POS ASAP FYI
    FAQ ETA TBD RSVP CEO CFO CTO COO CIO CISO CMO VP SVP EVP HR IT PR QA PM AM GDPR HIPAA PCI DSS KYC
    AML API URL PDF CSV XML JSON SQL USB VPN SMS MMS OK TV PC CC BCC EOD EOW SLA SKU UPC RMA PO CRM
    ERP SAAS IOS NB PS RE FW FWD DM IM AI ML NIR SIRET SIREN TVA RIB CNI"""
)

_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    "|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_WEEKDAYS = (
    "mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?"
    "|sun(?:day)?"
)
#: What makes a time expression a date a person could be found by: a digit, a month or a weekday.
_DATE_ANCHOR = re.compile(rf"\d|\b(?:{_MONTHS}|{_WEEKDAYS})\b", re.IGNORECASE)
_MONTH_OR_DAY = re.compile(rf"(?<![A-Za-z])(?:{_MONTHS}|{_WEEKDAYS})(?![a-z])", re.IGNORECASE)
#: A number spaCy tags as a date followed by what it counts ("3500 units"). A bare number is kept: on
#: the dev corpus those DATE_TIMEs cover house numbers, postcodes and ages that nothing else found.
_COUNTED = re.compile(
    r"\s+(?:units?|items?|pieces?|pcs|requests?|orders?|rows?|records?|users?|customers?|tickets?|pages?"
    r"|files?|messages?|e-?mails?|calls?|seats?|licen[cs]es?|downloads?|visits?|views?|copies|boxes"
    r"|packages?|products?|times|errors?|transactions?|accounts?|employees?|members?|points?|words?"
    r"|characters?|bytes|[kmgt]b|lines?|entries|documents?|invoices?|payments?|devices?|sessions?)\b",
    re.IGNORECASE,
)
_PLAIN_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")

#: Types a covering PHONE_NUMBER does not absorb: their operators work on exactly what they matched.
_KEPT_INSIDE_PHONE = frozenset({"CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "CRYPTO"})


def _is_ner(result: RecognizerResult) -> bool:
    return (result.recognition_metadata or {}).get("recognizer_name") in NER_RECOGNIZERS


def _copy(result: RecognizerResult, start: int, end: int, entity_type: str | None = None) -> RecognizerResult:
    from presidio_analyzer import RecognizerResult

    return RecognizerResult(
        entity_type or result.entity_type, start, end, result.score,
        result.analysis_explanation, result.recognition_metadata,
    )  # fmt: skip


def _tokens(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """Tokens of ``text[start:end]`` as (start, end, word without edge punctuation)."""
    out = []
    for match in _TOKEN.finditer(text, start, end):
        out.append((match.start(), match.end(), match.group().strip(_EDGE_PUNCT)))
    return out


def _is_code(word: str) -> bool:
    return _CODE.fullmatch(word) is not None and _PREFIXED_POSTCODE.fullmatch(word) is None


def _is_model_name(tokens: list[tuple[int, int, str]]) -> bool:
    """One capitalised word and a model code ("Nova H2740", "Orbit X200"): a product and its model,
    never a person's or a place's name (no name carries a model number)."""
    if len(tokens) != 2:
        return False
    word, code = tokens[0][2], tokens[1][2]
    return word[:1].isupper() and word.isalpha() and _MODEL.fullmatch(code) is not None


def ner_identifier_codes(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    out: list[RecognizerResult] = []
    for result in results:
        if not _is_ner(result) or result.entity_type not in NAME_TYPES | {"LOCATION"}:
            out.append(result)
            continue
        tokens = _tokens(text, result.start, result.end)
        if _is_model_name(tokens):
            continue
        if result.entity_type == "LOCATION":
            codes = [_is_code(w) for _, _, w in tokens]
            words = [w.lower() for _, _, w in tokens]
            if any(codes) and all(c or w in RECORD_WORDS for c, w in zip(codes, words, strict=True)):
                continue
            out.append(result)
            continue
        codes = [_is_code(w) for _, _, w in tokens]
        if not any(codes):
            out.append(result)
            continue
        # drop codes, and record words that stand next to a code (or to a dropped record word)
        drop = list(codes)
        changed = True
        while changed:
            changed = False
            for i, (_, _, word) in enumerate(tokens):
                near = (i > 0 and drop[i - 1]) or (i + 1 < len(drop) and drop[i + 1])
                if not drop[i] and near and (word.lower() in RECORD_WORDS or not word):
                    drop[i] = changed = True
        kept = [i for i, d in enumerate(drop) if not d]
        if not kept:
            continue
        if kept != list(range(kept[0], kept[-1] + 1)):
            out.append(result)  # a code between name words: keep the whole span (fail closed)
            continue
        out.append(_copy(result, tokens[kept[0]][0], tokens[kept[-1]][1]))
    return out


def ner_acronyms(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    out: list[RecognizerResult] = []
    for result in results:
        if not _is_ner(result) or result.entity_type not in NAME_TYPES | {"LOCATION"}:
            out.append(result)
            continue
        word = text[result.start : result.end].strip(_EDGE_PUNCT + " \t\r\n")
        if not (2 <= len(word) <= 6 and word.isupper() and word.isalpha()):
            out.append(result)
        elif word in ACRONYMS:
            continue
        elif len(word) == 2 and word in ISO_3166_ALPHA2 and result.entity_type != "LOCATION":
            out.append(_copy(result, result.start, result.end, "LOCATION"))
        else:
            out.append(result)
    return out


#: First words of relative time expressions, capitalised at the start of a sentence.
_RELATIVE_LEADS = _words("this that last next the a an every one early late later each some these those")


def _names_no_date(part: str) -> bool:
    """No digit, month or weekday, and no capitalised word but a sentence's first relative word."""
    if _DATE_ANCHOR.search(part):
        return False
    words = part.split()
    if any(w[:1].isupper() for w in words[1:]):
        return False
    return not words or not words[0][:1].isupper() or words[0].lower() in _RELATIVE_LEADS


def ner_non_dates(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    others = [r for r in results if not (_is_ner(r) and r.entity_type == "DATE_TIME")]
    out: list[RecognizerResult] = []
    for result in results:
        if not (_is_ner(result) and result.entity_type == "DATE_TIME"):
            out.append(result)
            continue
        value = text[result.start : result.end].strip()
        if _PLAIN_NUMBER.fullmatch(value) and _COUNTED.match(text, result.end):
            continue
        if _is_code(value.strip(_EDGE_PUNCT)) and not _MONTH_OR_DAY.search(value):
            continue  # an identifier with a year in it ("CASE-2022-3360"), not a date
        if _names_no_date(value):
            continue
        inside = [r for r in others if r.start < result.end and result.start < r.end]
        if inside:
            rest, cursor = [], result.start
            for r in sorted(inside, key=lambda r: r.start):
                rest.append(text[cursor : max(cursor, r.start)])
                cursor = max(cursor, r.end)
            rest.append(text[cursor : result.end])
            if _names_no_date(" ".join(rest)):
                continue  # it only adds "year old" or "at" around an age or a phone number
        out.append(result)
    return out


def whole_span(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    phones = [r for r in results if r.entity_type == "PHONE_NUMBER"]
    if not phones:
        return results
    out: list[RecognizerResult] = []
    for result in results:
        absorbed = result.entity_type not in _KEPT_INSIDE_PHONE and any(
            p is not result
            and p.start <= result.start
            and result.end <= p.end
            and p.end - p.start > result.end - result.start
            for p in phones
        )
        if not absorbed:
            out.append(result)
    return out


RULES: dict[str, Callable[[str, list[RecognizerResult]], list[RecognizerResult]]] = {
    "ner_identifier_codes": ner_identifier_codes,
    "ner_acronyms": ner_acronyms,
    "ner_non_dates": ner_non_dates,
    "whole_span": whole_span,
}


def filter_results(
    text: str, results: list[RecognizerResult], rules: Collection[str]
) -> list[RecognizerResult]:
    """``results`` after the named rules, applied in :data:`RULES` order (see the module docstring)."""
    if not results or not rules:
        return results
    for name, rule in RULES.items():
        if name in rules:
            results = rule(text, results)
    return results
