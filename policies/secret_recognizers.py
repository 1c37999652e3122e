"""Built-in recognizers for secrets: provider API keys and tokens, private keys, passwords.

A prompt or a log line pasted into an LLM route often carries a credential. These recognizers find
the common ones by their published shapes (each provider documents its token prefix), never by a
list of values:

* ``SecretTokenRecognizer`` (``API_KEY``): AWS access key ids (``AKIA``/``ASIA``... + 16), GitHub
  tokens (``ghp_ gho_ ghu_ ghs_ ghr_`` + 36, ``github_pat_``), GitLab (``glpat-``), Slack
  (``xoxb-``... and incoming-webhook URLs), Stripe secret and restricted keys (``sk_live_``,
  ``rk_live_``, ``_test_``), OpenAI and Anthropic keys (``sk-``, ``sk-proj-``, ``sk-ant-``), Google API
  keys (``AIza`` + 35), JSON Web Tokens (``eyJ...``.``eyJ...``.sig), and an AWS secret access key (40
  base64 characters) only after a context word.
* ``PrivateKeyRecognizer`` (``PRIVATE_KEY``): a PEM ``-----BEGIN ... PRIVATE KEY-----`` block up to
  its END line, or to the end of its base64 lines when the END line is missing (a truncated paste).
* ``PasswordRecognizer`` (``PASSWORD``): the password of ``scheme://user:password@host`` (only that
  part: the host stays readable) and the value of ``password=``/``pwd:``/``secret=``-style settings.

Every pattern is case-sensitive where the provider's prefix is (``(?-i:...)``: Presidio compiles with
IGNORECASE), bounded in length and linear. Token candidates must also look generated
(:func:`looks_random`: letters *and* digits, more than four distinct characters), so
``sk-learn-classifier`` is not reported; a setting's password needs a digit or a symbol, so
``password: reset`` in prose is not either.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

#: The built-in names of this module's recognizers (``type: builtin`` in a policy).
SECRET_RECOGNIZER_NAMES = ("SecretTokenRecognizer", "PrivateKeyRecognizer", "PasswordRecognizer")

# A token's right edge: no further token character (the match is the whole token, not a prefix).
_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"


def looks_random(token: str) -> bool:
    """True when ``token`` mixes letters and digits and is not one character repeated: the shape of
    a generated credential rather than a word, a slug or a placeholder like ``xxxxxxxx``."""
    has_digit = any(ch.isdigit() for ch in token)
    has_alpha = any(ch.isalpha() for ch in token)
    return has_digit and has_alpha and len(set(token)) > 4


class _TokenRecognizer(PatternRecognizer):
    """Token patterns whose candidates must also look generated (:func:`looks_random`)."""

    def validate_result(self, pattern_text: str) -> bool | None:
        # Presidio calls this for every match; False drops it. A webhook URL carries its own proof.
        if "://" in pattern_text:
            return None
        body = pattern_text.rsplit("_", 1)[-1] if pattern_text.startswith(("sk_", "rk_")) else pattern_text
        return None if looks_random(body) else False


def secret_token_recognizer(language: str = "en") -> PatternRecognizer:
    """Provider API keys and tokens (entity ``API_KEY``)."""
    tok = "[A-Za-z0-9_\\-]"
    patterns = [
        Pattern("aws_access_key_id",
                rf"(?-i:{_START}(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{{16}}{_END})",
                0.9),
        Pattern("github_token", rf"(?-i:{_START}gh[pousr]_[A-Za-z0-9]{{36,251}}{_END})", 0.95),
        Pattern("github_fine_grained", rf"(?-i:{_START}github_pat_[A-Za-z0-9_]{{50,255}}{_END})", 0.95),
        Pattern("gitlab_token", rf"(?-i:{_START}glpat-{tok}{{20,64}}{_END})", 0.95),
        Pattern("slack_token", rf"(?-i:{_START}xox[abposr]-[A-Za-z0-9\-]{{10,250}}{_END})", 0.9),
        Pattern("slack_webhook",
                r"(?-i:https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,40})",
                0.95),
        Pattern("stripe_key", rf"(?-i:{_START}(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{{16,247}}{_END})", 0.95),
        # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...) keys.
        Pattern("sk_dash_key",
                rf"(?-i:{_START}sk-(?:ant-|proj-|svcacct-|admin-)?{tok}{{20,200}}{_END})", 0.9),
        Pattern("google_api_key", rf"(?-i:{_START}AIza[A-Za-z0-9_\-]{{35}}{_END})", 0.9),
        Pattern("jwt",
                rf"(?-i:{_START}eyJ[A-Za-z0-9_\-]{{8,4096}}\.eyJ[A-Za-z0-9_\-]{{8,8192}}\.[A-Za-z0-9_\-]{{8,1024}}{_END})",
                0.9),
        # 40 base64 characters with an upper-case letter (not a hex SHA-1) are still common: reported
        # only with a context word before.
        Pattern("aws_secret_access_key",
                r"(?-i:(?<![A-Za-z0-9/+])(?=[a-z0-9/+]{0,39}[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))",
                0.05),
    ]
    return _TokenRecognizer(
        supported_entity="API_KEY", name="SecretTokenRecognizer", patterns=patterns,
        supported_language=language,
        context=["aws_secret_access_key", "secret_access_key", "secret", "token", "api", "key", "apikey"],
    )


def private_key_recognizer(language: str = "en") -> PatternRecognizer:
    """PEM private key blocks (entity ``PRIVATE_KEY``), whole, or to the end of the base64 lines."""
    label = r"(?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY"
    block = (rf"(?-i:-----BEGIN {label}-----(?:[A-Za-z0-9+/=:,\- \t\r\n]{{0,65536}}?-----END {label}-----"
             r"|[A-Za-z0-9+/=\r\n]{0,65536}))")
    return PatternRecognizer(
        supported_entity="PRIVATE_KEY", name="PrivateKeyRecognizer", supported_language=language,
        patterns=[Pattern("pem_private_key", block, 1.0)],
    )


def _setting_value() -> str:
    key = (r"\b(?:[A-Za-z_]{0,20}password|passwd|pwd|passphrase|client_secret|secret_key)"
           r"[\"']?\s{0,3}[=:]\s{0,3}")
    strong = r"(?=[^\s\"']{0,127}[0-9!#$%&*+./?@^_~\-])"
    quoted = [rf"(?<={key}{q}){strong}[^{q}\n]{{6,128}}(?={q})" for q in ('"', "'")]
    bare = rf"(?<={key}){strong}[^\s\"',;&]{{6,128}}"
    return "(?:" + "|".join([*quoted, bare]) + ")"


def password_recognizer(language: str = "en") -> PatternRecognizer:
    """Passwords in URLs and settings (entity ``PASSWORD``): only the secret part is reported."""
    patterns = [
        # scheme://user:password@host -> the password only.
        Pattern("url_password",
                r"(?<=\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@]{1,64}:)[^\s@/]{1,128}(?=@[A-Za-z0-9\[])", 0.9),
        # password=..., pwd: "...", PGPASSWORD=...: the value (a quoted one up to its closing quote),
        # when it has a digit or a symbol, so that "password: reset" in prose is left alone.
        Pattern("setting_password", _setting_value(), 0.8),
    ]
    return PatternRecognizer(supported_entity="PASSWORD", name="PasswordRecognizer", patterns=patterns,
                             supported_language=language)
