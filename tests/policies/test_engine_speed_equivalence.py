"""The engine's shortcuts give Presidio's own results.

``RedactionEngine.analyze_texts`` does not call ``AnalyzerEngine.analyze`` per text: it runs the same
steps with the per-text set-up hoisted (``engine._Analysis``), skips pattern recognizers none of whose
regexes matches (``recognizers.pattern_gate``) and uses a context enhancer that avoids deep copies.
Each test here compares against stock Presidio (``AnalyzerEngine.analyze`` with Presidio's own
``LemmaContextAwareEnhancer``) on inputs chosen to reach every recognizer, context boosts, allow lists,
restricted entity lists and edge cases: same results, same order, same explanations.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from redactline.policies import load_policy
from redactline.policies.engine import RedactionEngine

LIBRARY = Path(__file__).resolve().parents[2] / "policies" / "library"
DIGITS = re.compile(r"\d")  # Python's \d is Unicode decimal digits, the regex module's too
PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")

# An inline policy with what the library policies lack: an allow list, a deny list, context words on a
# custom recognizer, a restricted entity list that leaves some recognizers out.
POLICY = """
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: equivalence-test, version: 1.0.0}
detection:
  entities: [PERSON, EMAIL_ADDRESS, PHONE_NUMBER, EMPLOYEE_ID, US_SSN, TITLE, LOCATION, CREDIT_CARD]
  allow_list: [Acme Support, jane@example.org]
  recognizers:
    - name: EmployeeId
      supported_entity: EMPLOYEE_ID
      context: [employee, staff]
      patterns:
        - {name: emp, regex: 'EMP-\\d{6}', score: 0.3}
        - {name: empty_or_word, regex: '(?:staffer)?', score: 0.6}
        - {name: at_threshold, regex: 'REF-\\d{4}', score: 0.35}
    - name: title
      supported_entity: TITLE
      deny_list: [Mr., Mrs., Dr.]
      deny_list_score: 0.6
transforms:
  default: replace
"""

TEXTS = [
    "",
    "   ",
    "\n\n",
    "nothing to see here",
    "My phone number is 212-555-0100 and my credit card is 4111111111111111.",
    "SSN 078-05-1120 belongs to Jane Roe of Boston; social security 078051120.",
    "Email jane@example.org or JANE.ROE@EXAMPLE.ORG, see https://www.example.com/a?b=1 or example.co.uk",
    "Server 192.168.0.1, fe80::1ff:fe23:4567:890a and ::1; MAC 00:1B:44:11:3A:B7 or 00-1b-44-11-3a-b7",
    "IBAN DE89 3704 0044 0532 0130 00 and GB82WEST12345698765432 were rejected",
    "Born 03/04/1985, admitted 2021-03-04T10:30, discharged March 5th 2021 at 10:30 pm",
    "Dr. Jane Roe, aged 89, lives at 221B Baker Street, London NW1 6XE (postcode).",
    "Mrs. Okafor called from +44 20 7946 0958 about zip code 90210 and PLZ 10115 Berlin",
    "Via Giuseppe Verdi 14, 20121 Milano; Hauptstraße 5; 8 Rue de la Paix; ul. Długa 7",
    "Passport 912803456, driver license D1234567, ITIN 912-70-1234, bank account 123456789012",
    "bitcoin 1BoatSLRHtKNngkdXEeobR76b53LETtpyT and uuid 123e4567-e89b-12d3-a456-426614174000",
    "NHS number 943 476 5919, DEA number AB1234563, medical license",
    "Call 0049 30 901820 or 1-800-FLOWERS, ext. 12; tel:+49-30-1234567",
    "Tel.０３０１２３４５６７ full-width digits, ٣٤٥٦٧٨٩٠ Arabic-Indic digits",
    "Acme Support and John Smith met at the Microsoft office in Seattle.",
    "employee EMP-123456, staff id EMP-654321, staffer, and emp-000001",
    "order REF-1234 shipped",
    "Mr Mr. Mr.Smith Dr.Who Mrs. and Ms. Patel",
    "card 4111-1111-1111-1111 exp 12/25 cvv 123; Visa 4012 8888 8888 1881",
    "He is 67 years old, she is 102 y/o; ages 5 to 7",
    "Sincerely, Maria Rossi. Contact: Peter Novak. Name: Ana de la Cruz",
    "A" * 300 + " 4111111111111111 " + "b" * 300,
]


def _summary(results) -> list[tuple]:
    rows = []
    for r in results:
        e = r.analysis_explanation
        explanation = (
            None
            if e is None
            else (
                e.recognizer,
                e.pattern_name,
                e.original_score,
                e.score,
                e.score_context_improvement,
                e.supportive_context_word,
                e.validation_result,
                e.textual_explanation,
            )
        )
        metadata = r.recognition_metadata or {}
        rows.append(
            (
                r.entity_type,
                r.start,
                r.end,
                r.score,
                metadata.get("recognizer_name"),
                metadata.get("is_score_enhanced_by_context"),
                explanation,
            )
        )
    return rows


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> dict[str, RedactionEngine]:
    path = tmp_path_factory.mktemp("policy") / "equivalence.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return {
        "inline": load_policy(path, environ={}).engine(),
        "general-pii": load_policy(LIBRARY / "general-pii.yaml", environ={}).engine(),
        "pci-dss": load_policy(LIBRARY / "pci-dss.yaml", environ={}).engine(),
    }


def _stock(engine: RedactionEngine, texts: list[str]) -> list[list[tuple]]:
    """Presidio's own analyze, with Presidio's own context enhancer, one text at a time."""
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    analyzer = engine._analyzer
    ours = analyzer.context_aware_enhancer
    analyzer.context_aware_enhancer = LemmaContextAwareEnhancer()
    try:
        out = []
        for text in texts:
            (_, artifacts), = engine._nlp_engine.process_batch([text], engine._language)
            out.append(
                _summary(
                    analyzer.analyze(
                        text,
                        language=engine._language,
                        entities=engine._entities,
                        score_threshold=engine._threshold,
                        allow_list=engine._allow_list,
                        nlp_artifacts=artifacts,
                        return_decision_process=True,
                    )
                )
            )
        return out
    finally:
        analyzer.context_aware_enhancer = ours


@pytest.mark.parametrize("name", ["inline", "general-pii", "pci-dss"])
def test_analyze_texts_matches_stock_presidio(name: str, engines: dict[str, RedactionEngine]) -> None:
    engine = engines[name]
    ours = [_summary(results) for results in engine.analyze_texts(TEXTS)]
    assert ours == _stock(engine, TEXTS)
    assert any(ours), "the inputs must produce findings for the comparison to mean anything"


def test_inline_policy_reaches_boosts_allow_list_and_deny_list(engines: dict[str, RedactionEngine]) -> None:
    """Guards the test inputs: they exercise what the comparison above claims to cover."""
    engine = engines["inline"]
    flat = [row for rows in (_summary(r) for r in engine.analyze_texts(TEXTS)) for row in rows]
    assert any(row[0] == "EMPLOYEE_ID" and row[6][5] for row in flat), "a context-word boost"
    assert any(row[0] == "TITLE" for row in flat), "a deny-list match"
    assert any(row[3] == engine._threshold for row in flat), "a score exactly at the threshold"
    allowed = TEXTS[6].index("jane@example.org")
    assert not any(row[0] == "EMAIL_ADDRESS" and row[1] == allowed for row in _summary(
        engine.analyze_texts([TEXTS[6]])[0]
    )), "the allow list applies"
    assert any(row[0] == "EMAIL_ADDRESS" for row in flat)


def test_decision_process_logging_takes_presidios_own_path(engines: dict[str, RedactionEngine]) -> None:
    engine = engines["inline"]
    analyzer = engine._analyzer
    expected = [_summary(r) for r in engine.analyze_texts(TEXTS[:8])]
    analyzer.log_decision_process = True
    try:
        assert [_summary(r) for r in engine.analyze_texts(TEXTS[:8])] == expected
    finally:
        analyzer.log_decision_process = False


def test_pattern_gate_only_skips_texts_without_results(engines: dict[str, RedactionEngine]) -> None:
    from presidio_analyzer import PatternRecognizer

    from redactline.policies.recognizers import pattern_gate, text_atoms

    stripped = [DIGITS.sub("", t) for t in TEXTS] + [PUNCTUATION.sub("", t) for t in TEXTS]
    checked = 0
    for engine in engines.values():
        for recognizer in engine._analyzer.registry.recognizers:
            gate = pattern_gate(recognizer)
            if gate is None:
                continue
            assert isinstance(recognizer, PatternRecognizer)
            for text in TEXTS + stripped:
                found = recognizer.analyze(text, recognizer.supported_entities)
                if not gate.could_match(text, text_atoms(text)):
                    assert found == [], (recognizer.name, text)
                    checked += 1
                elif found:
                    checked += 1
    assert checked > 100


def test_narrowed_recognizer_finds_what_the_full_one_finds(engines: dict[str, RedactionEngine]) -> None:
    from redactline.policies.recognizers import pattern_gate, text_atoms

    narrowed_calls = 0
    for engine in engines.values():
        for recognizer in engine._analyzer.registry.recognizers:
            gate = pattern_gate(recognizer)
            if gate is None:
                continue
            patterns = list(recognizer.patterns)
            for text in TEXTS:
                keep = gate.candidates(text, text_atoms(text))
                if not keep:
                    continue
                narrowed = gate.narrowed(recognizer, keep)
                narrowed_calls += narrowed is not recognizer
                full = _summary(recognizer.analyze(text, recognizer.supported_entities))
                assert _summary(narrowed.analyze(text, recognizer.supported_entities)) == full, text
            assert recognizer.patterns == patterns  # the shared recognizer is never modified
    assert narrowed_calls > 20


def test_cached_gate_uses_the_recognizers_current_patterns() -> None:
    """A pattern replaced by one with the same regex but another score: the cached gate is reused (the
    regexes are the same) and the score comes from the recognizer's current pattern."""
    from presidio_analyzer import Pattern, PatternRecognizer

    from redactline.policies.recognizers import pattern_gate, text_atoms

    recognizer = PatternRecognizer(
        supported_entity="X", patterns=[Pattern("a", r"\d{3}", 0.5), Pattern("b", "zz", 0.5)]
    )
    cache: dict = {}
    gate = pattern_gate(recognizer, cache)
    recognizer.patterns = [Pattern("a", r"\d{3}", 0.9), Pattern("b", "zz", 0.5)]
    assert pattern_gate(recognizer, cache) is gate
    text = "id 123"
    narrowed = gate.narrowed(recognizer, gate.candidates(text, text_atoms(text)))
    assert [r.score for r in narrowed.analyze(text, ["X"])] == [0.9]


def test_pattern_gate_leaves_overridden_analyze_alone() -> None:
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

    from redactline.policies.recognizers import pattern_gate, text_atoms

    class Custom(PatternRecognizer):
        def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):  # finds things regexes don't
            return super().analyze(text, entities, nlp_artifacts, regex_flags)

    custom = Custom(supported_entity="X", patterns=[Pattern("p", r"\d{3}", 0.5)])
    assert pattern_gate(custom) is None
    assert pattern_gate(IbanRecognizer()) is None  # overrides analyze
    assert pattern_gate(PhoneRecognizer()) is None  # not a pattern recognizer
    plain = PatternRecognizer(supported_entity="X", patterns=[Pattern("p", r"\d{3}", 0.5)], deny_list=["Foo"])
    gate = pattern_gate(plain)
    assert gate is not None

    def could_match(text: str) -> bool:
        return gate.could_match(text, text_atoms(text))

    assert could_match("abc 123") and could_match("a FOO b")  # the deny list is a pattern, any case
    assert not could_match("abc 12") and plain.analyze("abc 12", ["X"]) == []


def test_pattern_gate_cache_follows_pattern_changes() -> None:
    from presidio_analyzer import Pattern, PatternRecognizer

    from redactline.policies.recognizers import pattern_gate

    recognizer = PatternRecognizer(supported_entity="X", patterns=[Pattern("p", r"\d{3}", 0.5)])
    cache: dict = {}
    first = pattern_gate(recognizer, cache)
    assert pattern_gate(recognizer, cache) is first
    recognizer.patterns[0].regex = "abc"
    second = pattern_gate(recognizer, cache)
    assert second is not first and second is not None and second.could_match("xabcx", frozenset())


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"\d", True),
        (r"[0-9]{3}", True),
        (r"[\d]", True),
        (r"[0-35-9]", True),
        ("٣", True),  # an Arabic-Indic digit literal
        (r"a\d?", False),
        (r"a\d*", False),
        (r"a\d{0,3}", False),
        (r"a\d{1,3}", True),
        (r"(?:\d|a)", False),
        (r"(?:1|2)x", True),
        (r"[0-9a]", False),
        (r"[0-9A-Fa-f]{4}", False),
        (r"[^a-z]", False),
        (r"\D", False),
        (r"\w+", False),
        (r"(?=\d)", True),
        (r"(?<=\d)x", True),
        (r"(?!\d)x", False),
        (r"(?<!\d)x", False),
        (r"(\d)\1", True),
        (r"(a)?(?(1)\d|\d)", False),  # conditionals are not analysed
        (r"(?:123){e<=3}", False),  # fuzzy matching may drop every digit
        (r"(?V1)[[0-9]--[5]]", False),  # set operations are not analysed
        (r"(?i)ABC\d", True),
        (r"(?x) \d  # comment", True),
        (r"(?-i:\b\p{Lu}\d)", True),
        (r"\p{Nd}", True),  # the regex module parses it to the same property as \d
        (r"(unbalanced", False),
    ],
)
def test_requires_digit(pattern: str, needs: bool) -> None:
    from presidio_analyzer.pattern_recognizer import re as regex  # the regex module Presidio uses

    from redactline.policies.recognizers import requires_digit

    for flags in (0, regex.IGNORECASE | regex.MULTILINE | regex.DOTALL, regex.IGNORECASE | regex.FULLCASE):
        assert requires_digit(pattern, flags) is needs, (pattern, flags)


@pytest.mark.parametrize(
    ("pattern", "atoms"),
    [
        (r"a@b", {"@"}),
        (r"[.]com", {"."}),
        (r"[:-]x", set()),  # one of two characters: no single one is needed
        (r"(?:a:b|c:d)\.\d", {":", ".", "digit"}),
        (r"(?:a:b|c-d)", set()),
        (r"https?://", {":", "/"}),
        (r"x(?=@)", {"@"}),
        (r"x(?!@)", set()),
        (r"\$\d+", {"$", "digit"}),
        (r"[$]?\d", {"digit"}),
        (r"\x2e", {"."}),
        (r"\N{FULL STOP}", {"."}),
        (r"[\.\u002e]", {"."}),
    ],
)
def test_required_atoms(pattern: str, atoms: set[str]) -> None:
    from presidio_analyzer.pattern_recognizer import re as regex  # the regex module Presidio uses

    from redactline.policies.recognizers import required_atoms

    for flags in (0, regex.IGNORECASE | regex.MULTILINE | regex.DOTALL, regex.IGNORECASE | regex.V1):
        assert required_atoms(pattern, flags) == atoms, (pattern, flags)


def test_required_atoms_are_never_wrong_on_sample_texts(engines: dict[str, RedactionEngine]) -> None:
    """Every pattern finds nothing in the sample texts once any atom it is said to need is removed."""
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer import pattern_recognizer as presidio_patterns

    from redactline.policies.recognizers import DIGIT, required_atoms

    def without(atom: str, text: str) -> list[str]:
        if atom == DIGIT:
            return [DIGITS.sub("", text), DIGITS.sub("x", text)]
        return [text.replace(atom, ""), text.replace(atom, " ")]

    needing = set()
    for engine in engines.values():
        for recognizer in engine._analyzer.registry.recognizers:
            if not isinstance(recognizer, PatternRecognizer):
                continue
            for pattern in recognizer.patterns:
                flags = recognizer.global_regex_flags
                compiled = presidio_patterns.re.compile(pattern.regex, flags=flags)
                for atom in required_atoms(pattern.regex, flags):
                    needing.add(atom)
                    for text in TEXTS:
                        for stripped in without(atom, text):
                            assert not compiled.search(stripped), (pattern.regex, atom, stripped)
    assert {DIGIT, "@", ".", ":", "-", "/"} <= needing


def test_atoms_have_no_case() -> None:
    r"""Why case-insensitive flags do not matter to ``required_atoms``: over every code point, a
    case-insensitive digit literal, ``[0-9]`` or ``\d`` matches exactly what ``\d`` matches without flags,
    and a case-insensitive ASCII punctuation literal matches only itself."""
    from presidio_analyzer.pattern_recognizer import re as regex  # the regex module Presidio uses

    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    digits = set(regex.findall(r"\d", everything))
    assert "0" in digits and "٣" in digits and "a" not in digits
    literal_class = "[" + "".join(sorted(digits)) + "]"
    for flags in (regex.IGNORECASE, regex.IGNORECASE | regex.FULLCASE, regex.IGNORECASE | regex.V1):
        assert set(regex.findall(r"\d", everything, flags=flags)) == digits
        assert set(regex.findall(literal_class, everything, flags=flags)) == digits
        assert set(regex.findall("[0-9]", everything, flags=flags)) == set("0123456789")
        for char in string.punctuation:
            assert set(regex.findall(regex.escape(char), everything, flags=flags)) == {char}


def test_redacted_outputs_unchanged_by_the_shortcuts(engines: dict[str, RedactionEngine]) -> None:
    """End to end: the same texts redacted through Presidio's own analyze give the same outputs."""
    from redactline.policies.operators import RecordContext

    engine = engines["general-pii"]
    stock_results = []
    analyzer = engine._analyzer
    for text in TEXTS:
        (_, artifacts), = engine._nlp_engine.process_batch([text], engine._language)
        stock_results.append(
            analyzer.analyze(
                text,
                language=engine._language,
                score_threshold=engine._threshold,
                nlp_artifacts=artifacts,
                return_decision_process=True,
            )
        )
    stock = [engine._apply(t, r, RecordContext(), None) for t, r in zip(TEXTS, stock_results, strict=True)]
    ours = [(r.text, list(r.findings)) for r in engine.redact_texts(TEXTS, batch_size=7)]
    assert ours == stock


def test_token_lookup_matches_presidio_at_every_offset(engines: dict[str, RedactionEngine]) -> None:
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from redactline.policies.context import SelectiveContextEnhancer

    def lookup(finder, start: int, tokens, indices: list[int]) -> int | str:
        try:
            return finder("w", start, tokens, indices)
        except ValueError as error:
            return str(error)

    engine = engines["inline"]
    ours, presidio = SelectiveContextEnhancer._find_index_of_match_token, (
        LemmaContextAwareEnhancer._find_index_of_match_token
    )
    for _, artifacts in engine._nlp_engine.process_batch(TEXTS, engine._language):
        tokens, indices = artifacts.tokens, artifacts.tokens_indices
        for start in range(len(tokens.text) + 2):
            expected = lookup(presidio, start, tokens, indices)
            assert lookup(ours, start, tokens, indices) == expected, (tokens.text, start)


def test_enhancer_with_shared_result_objects_matches_presidio(engines: dict[str, RedactionEngine]) -> None:
    """A result listed twice, or two results sharing one explanation: Presidio's deep copy keeps the
    sharing, so a boost applies twice / shows in both; the enhancer must do the same."""
    from presidio_analyzer import AnalysisExplanation, RecognizerResult
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from redactline.policies.context import SelectiveContextEnhancer

    engine = engines["inline"]
    text = "employee EMP-123456 and staff EMP-654321 here"
    (_, artifacts), = engine._nlp_engine.process_batch([text], engine._language)
    recognizer = next(r for r in engine._analyzer.registry.recognizers if r.name == "EmployeeId")

    def result(start: int, explanation: AnalysisExplanation) -> RecognizerResult:
        return RecognizerResult(
            "EMPLOYEE_ID", start, start + 10, 0.3, analysis_explanation=explanation,
            recognition_metadata={"recognizer_name": recognizer.name, "recognizer_identifier": recognizer.id},
        )

    def build() -> list[RecognizerResult]:
        shared = AnalysisExplanation("EmployeeId", 0.3)
        first = result(9, shared)
        return [first, first, result(30, shared), result(text.index("here"), AnalysisExplanation("x", 0.3))]

    def run(enhancer) -> list[tuple]:
        raw = build()
        before = _summary(raw)
        out = enhancer.enhance_using_context(text, raw, artifacts, [recognizer])
        assert _summary(raw) == before, "the input results are not modified"
        return _summary(out)

    expected = run(LemmaContextAwareEnhancer())
    assert expected[0][3] > 0.9  # 0.3 boosted twice (+0.35 each) through the shared object
    assert run(SelectiveContextEnhancer()) == expected


def test_artifacts_batch_matches_presidios_process_batch(engines: dict[str, RedactionEngine]) -> None:
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = engines["general-pii"]
    nlp_engine = engine._nlp_engine

    def view(artifacts) -> tuple:
        assert artifacts.tokens_indices == [token.idx for token in artifacts.tokens]
        assert artifacts.lemmas == [token.lower_ for token in artifacts.tokens]
        return (
            artifacts.tokens.text,
            artifacts.tokens_indices,
            artifacts.lemmas,
            artifacts.keywords,
            [(e.start_char, e.end_char, e.label_) for e in artifacts.entities],
            artifacts.scores,
        )

    ours = [view(a) for a in nlp_engine.artifacts_batch(TEXTS, "en", batch_size=8)]
    batch = SpacyNlpEngine.process_batch(nlp_engine, TEXTS, "en", batch_size=8)
    stock = [(text, view(a)) for text, a in batch]
    assert [text for text, _ in stock] == TEXTS
    assert ours == [v for _, v in stock]


# --- phone numbers: regions pruned by digit count -----------------------------------------------------


def _phone_results(recognizer, text: str) -> list[tuple]:
    return [
        (r.start, r.end, r.score, r.analysis_explanation.textual_explanation)
        for r in recognizer.analyze(text, ["PHONE_NUMBER"])
    ]


def _phone_texts(count: int, seed: int) -> list[str]:
    """Number-like strings of every size around the regions' minimums, in many notations."""
    import random

    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

    rng = random.Random(seed)
    codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
    separators = [" ", "-", ".", "/", "", " - ", "\u00a0", "x", "xx"]
    texts = []
    for _ in range(count):
        sizes = [rng.randint(1, 5) for _ in range(rng.randint(1, 3))]
        groups = ["".join(rng.choice("0123456789") for _ in range(size)) for size in sizes]
        number = "".join(group + rng.choice(separators) for group in groups).strip()
        prefix = rng.choice(["", "", "+", "00", "011 ", "(0)", "+" + str(rng.choice(codes)) + " ", "0"])
        if rng.random() < 0.2 and len(groups) > 1:
            number = "(" + groups[0] + ") " + "".join(groups[1:])
        suffix = rng.choice(["", "", " ext. 12", "x3", " #45", ",", "."])
        lead = rng.choice(["Call ", "tel:", "", "no. ", "fax ", "at ", "Ring me on\n"])
        texts.append(lead + prefix + number + suffix + rng.choice(["", " today", " or 555", " (mobile)"]))
    return texts


def test_phone_region_minimums_come_from_the_metadata() -> None:
    from redactline.policies.recognizers import DigitGatedPhoneRecognizer, fewest_match_digits

    recognizer = DigitGatedPhoneRecognizer()
    assert recognizer.region_digits["DE"] == 4 and recognizer.min_digits == 4
    assert all(recognizer.region_digits[r] == 6 for r in ("US", "GB", "FR", "IL", "IN", "CA", "BR"))
    # below leniency VALID a number only has to be possible, which admits locally dialled lengths
    assert fewest_match_digits("DE", 0) < fewest_match_digits("DE", 1)


@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"])
def test_no_region_matches_below_its_minimum(region: str) -> None:
    """The stock single-region matcher finds nothing in segments with fewer digits than the minimum."""
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from redactline.policies.recognizers import DigitGatedPhoneRecognizer

    minimum = DigitGatedPhoneRecognizer().region_digits[region]
    stock = PhoneRecognizer(supported_regions=(region,))
    short = [t for t in _phone_texts(3000, seed=7) if DigitGatedPhoneRecognizer.most_digits(t) < minimum]
    assert len(short) > 200
    assert [t for t in short if stock.analyze(t, ["PHONE_NUMBER"])] == []


def test_pruned_regions_give_the_same_results_as_presidio() -> None:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from redactline.policies.recognizers import DigitGatedPhoneRecognizer

    gated, stock = DigitGatedPhoneRecognizer(), PhoneRecognizer()
    # Numbers exactly at the minimums (a shorter valid one does not exist): an Austrian number with a
    # 4-digit national part written with its code (6 digits) matches in every region's pass, a 4-digit
    # German number in Germany's.
    boundary = ["Call +43 1110 today", "Call 1640 today", "Ring +49 1640, please", "(+43) 1110"]
    for text in boundary[:2]:
        assert _phone_results(stock, text), text
    assert DigitGatedPhoneRecognizer.most_digits(boundary[0]) == 6
    texts = _phone_texts(1500, seed=11) + boundary + [
        "+43 1234 and 030 1234",
        "Tel. 12345 or +49 30 1234",
        "zip 90210, call 555-0100",
        "born 1986, room 1234",
        "+1 242 555 0123 (Bahamas)",
    ]
    found = 0
    for text in texts:
        expected = _phone_results(stock, text)
        assert _phone_results(gated, text) == expected, text
        found += bool(expected)
    assert found > 50
