"""Secret recognizers (policies/secret_recognizers.py): planted provider tokens, PEM private keys and
passwords are found (only the secret part), look-alikes are not, and the library policies redact them."""

from __future__ import annotations

import pytest

from redactline.policies.identifier_recognizers import builtin_recognizer
from redactline.policies.loader import LIBRARY_DIR
from redactline.policies.secret_recognizers import SECRET_RECOGNIZER_NAMES

# Shapes from the providers' documentation; the characters are made up here.
TOKENS = [
    "AKIAZ7QW3RT5YU8IO2PA",
    "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "github_pat_11ABCDEFG0" + "x7Yz" * 14,
    "glpat-Xy7Zq2Rt9Wv4Bn6Mk1Lp",
    "xoxb-2094851039-2284710392-Qw3Er5Ty7Ui9",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Gh5",
    "sk-ant-api03-Zx8Cv6Bn4Mq2We0Rt8Yu6Io4Pa2Sd0Fg8Hj6",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x9Zq3Lk2Yw8\nVb5Nc1Xd4Fe7Gh0Jk3Lm6Np9Qr2\n"
       "-----END RSA PRIVATE KEY-----")


def _found(name: str, text: str) -> list[str]:
    recognizer = builtin_recognizer(name, "en")
    return [text[r.start : r.end] for r in recognizer.analyze(text, recognizer.supported_entities, None)]


@pytest.mark.parametrize("token", TOKENS)
def test_provider_tokens_are_found_whole(token: str) -> None:
    assert _found("SecretTokenRecognizer", f"deploy with token {token}, thanks") == [token]


@pytest.mark.parametrize("text", [
    "we use sk-learn-classifier-pipeline for this",        # a slug, not a key
    "commit 3f9a2c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 fixed it",  # a git SHA
    "id 123e4567-e89b-12d3-a456-426614174000",              # a UUID
    "AKIAPOLICYDOCUMENTS is a word here",                   # wrong length
    "ghp_short",
])
def test_look_alikes_are_not_tokens(text: str) -> None:
    assert _found("SecretTokenRecognizer", text) == []


def test_aws_secret_key_needs_a_context_word() -> None:
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz8Qe4Lk2Ma"
    recognizer = builtin_recognizer("SecretTokenRecognizer", "en")
    bare = recognizer.analyze(f"value {key}", ["API_KEY"], None)
    assert all(r.score < 0.35 for r in bare)


def test_private_key_blocks_whole_and_truncated() -> None:
    assert _found("PrivateKeyRecognizer", f"key:\n{PEM}\nbye") == [PEM]
    truncated = PEM.split("-----END")[0].rstrip("\n")
    assert _found("PrivateKeyRecognizer", truncated) == [truncated]


@pytest.mark.parametrize(("text", "secret"), [
    ("DATABASE_URL=postgres://app:s3cr3t-Pw@db.internal:5432/prod", "s3cr3t-Pw"),
    ("amqp://guest:letmein@rabbit/", "letmein"),
    ("PGPASSWORD=Summer2024! psql -h db", "Summer2024!"),
    ('config: {"password": "Tr0ub4dor&3"}', "Tr0ub4dor&3"),
])
def test_passwords_only_the_secret_part(text: str, secret: str) -> None:
    assert _found("PasswordRecognizer", text) == [secret]


def test_password_words_in_prose_are_left_alone() -> None:
    assert _found("PasswordRecognizer", "Password: reset link sent to your inbox") == []


def test_every_secret_recognizer_is_enabled_in_general_pii() -> None:
    text = (LIBRARY_DIR / "general-pii.yaml").read_text(encoding="utf-8")
    for name in SECRET_RECOGNIZER_NAMES:
        assert f"{{name: {name}, type: builtin}}" in text
