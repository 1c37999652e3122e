"""``redactline prompt`` against loopback OpenAI/Anthropic servers: what leaves, what returns, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from redactline.pipelines.cli import main
from tests.support.pii import PEOPLE
from tests.support.servers import PLACEHOLDER, FakeAnthropic, FakeOpenAI, echo_answer

NAME, EMAIL, PHONE = PEOPLE[0]
TEXT = f"Draft a friendly reply to {NAME} ({EMAIL}); she asked us to call {PHONE} tomorrow."
CARD = "4111 1111 1111 1111"
SYSTEM = "You are a terse assistant."
KEYS = {"OPENAI_TEST_KEY": "sk-test-openai", "ANTHROPIC_TEST_KEY": "sk-ant-test"}
DEST = {"openai": "gpt", "anthropic": "claude"}


class Env:
    def __init__(self, tmp: Path) -> None:
        self.servers = {"openai": FakeOpenAI(), "anthropic": FakeAnthropic()}
        dests = {
            "gpt": self.servers["openai"].destination(max_retries=2),
            "claude": self.servers["anthropic"].destination(prompt={"template": "{notes}", "system": SYSTEM},
                                                            max_retries=2),
            "strict": self.servers["openai"].destination(never_send=["CREDIT_CARD"], jurisdictions=["EU"]),
            "templated-system": self.servers["openai"].destination(
                prompt={"template": "{notes}", "system": "About {customer}"}),
            "nokey": self.servers["openai"].destination(api_key_env="RL_TEST_UNSET_KEY"),
            "vault": {"kind": "enclave", "region": "eu-central-1"},
        }
        policy = {
            "apiVersion": "redactline.dev/v1",
            "kind": "RedactionPolicy",
            "metadata": {"name": "prompt-test", "version": "1.0.0"},
            "detection": {"score_threshold": 0.35},
            "transforms": {"default": "pseudonym"},
            "residency": {"unknown": "hold",
                          "rules": [{"jurisdictions": ["EU"], "allowed_regions": ["EU"]},
                                    {"jurisdictions": ["US"], "allowed_regions": ["EU", "US"]}]},
            "destinations": dests,
        }
        self.policy = tmp / "prompt-policy.yaml"
        self.policy.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")

    def reset(self) -> None:
        for server in self.servers.values():
            server.reset()

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for name, value in KEYS.items():
        mp.setenv(name, value)
    mp.delenv("RL_TEST_UNSET_KEY", raising=False)
    environment = Env(tmp_path_factory.mktemp("prompt"))
    try:
        yield environment
    finally:
        environment.close()
        mp.undo()


@pytest.fixture
def fresh(env):
    env.reset()
    return env


def prompt(env: Env, *args: str) -> int:
    return main(["prompt", "--policy", str(env.policy), *args])


def no_pii(server) -> None:
    raw = b"\n".join(r.raw for r in server.requests).decode()
    assert [v for v in (NAME, *NAME.split(), EMAIL, PHONE, CARD) if v in raw] == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_prompt_is_redacted_sent_and_answer_reidentified(fresh, capsys, provider):
    server = fresh.servers[provider]
    code = prompt(fresh, "--destination", DEST[provider], "--jurisdiction", "DE", TEXT)
    out, err = capsys.readouterr()
    assert code == 0, err
    [seen] = server.requests
    no_pii(server)
    sent = server.user_texts()[0]
    assert PLACEHOLDER.search(sent) and "Draft a friendly reply to" in sent
    # the server echoed the placeholders with changed case/spacing; the answer has the originals back
    assert NAME in out and EMAIL in out and PHONE in out and "<" not in out
    if provider == "anthropic":
        assert seen.body["system"] == SYSTEM  # the destination's system message; the template is not used
    else:
        assert [m["role"] for m in seen.body["messages"]] == ["user"]


def test_show_sent_prints_exactly_the_bytes_sent_on_stderr(fresh, capsys):
    code = prompt(fresh, "--destination", "gpt", "--jurisdiction", "FR", "--show-sent", TEXT)
    out, err = capsys.readouterr()
    assert code == 0
    [seen] = fresh.servers["openai"].requests
    assert f"--- sent: POST {fresh.servers['openai'].base_url}/chat/completions ---\n" in err
    assert seen.raw.decode() + "\n--- end of sent ---" in err
    assert "sk-test-openai" not in err and "sk-test-openai" not in out
    assert NAME not in err and NAME in out  # stderr shows what left; stdout the local, restored answer


def test_json_output_with_sent_body_and_usage(fresh, capsys):
    code = prompt(fresh, "--destination", "claude", "--jurisdiction", "US", "--json", "--show-sent", TEXT)
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    [seen] = fresh.servers["anthropic"].requests
    assert data["sent"] == seen.body
    assert data["destination"] == "claude" and data["provider"] == "anthropic"
    assert data["model"] == "fake-anthropic-model" and data["attempts"] == 1
    user = seen.body["messages"][0]["content"]
    assert data["usage"]["input_tokens"] == len(SYSTEM.split()) + len(user.split())
    assert data["usage"]["output_tokens"] == len(echo_answer(user).split())
    assert NAME in data["answer"] and data["entities"]["EMAIL_ADDRESS"] == 1
    assert "--- sent" not in err


def test_retried_429_then_answered(fresh, capsys):
    fresh.servers["openai"].fail_next(2, status=429, retry_after="0")
    assert prompt(fresh, "--destination", "gpt", "--jurisdiction", "DE", "--json", TEXT) == 0
    assert json.loads(capsys.readouterr().out)["attempts"] == 3


def test_failed_request_exits_1_without_pii(fresh, capsys):
    server = fresh.servers["anthropic"]
    server.fail_next(10, status=500, retry_after="0")
    code = prompt(fresh, "--destination", "claude", "--jurisdiction", "DE", TEXT)
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "HTTP 500" in err and "after 3 attempt(s)" in err and len(server.requests) == 3
    assert NAME not in err and "PERSON" not in err  # the server's error message quoted the prompt


@pytest.mark.parametrize(
    ("args", "text", "needle"),
    [
        ([], TEXT, "unknown_jurisdiction"),  # residency: unknown is held by this policy
        (["--jurisdiction", "BR"], TEXT, "no_rule"),
        (["--jurisdiction", "US", "--destination", "strict"], TEXT, "jurisdiction_not_allowed"),
        (["--jurisdiction", "DE", "--destination", "strict"], f"Refund card {CARD} for {NAME}.",
         "never_send_entity: entity types that may never leave: CREDIT_CARD"),
    ],
)
def test_refused_by_policy_exits_3_and_sends_nothing(fresh, capsys, args, text, needle):
    if "--destination" not in args:
        args = [*args, "--destination", "gpt"]
    code = prompt(fresh, *args, text)
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    assert needle in err and "nothing was sent" in err
    assert fresh.servers["openai"].requests == [] and fresh.servers["anthropic"].requests == []
    assert NAME not in err and CARD not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--destination", "nope", TEXT],
         "destination 'nope' is not in the policy (its external_api destinations: claude"),
        (["--destination", "vault", TEXT], "kind enclave, not external_api"),
        (["--destination", "nokey", TEXT], "RL_TEST_UNSET_KEY"),
        (["--destination", "templated-system", TEXT], "system message refers to record fields"),
        (["--destination", "gpt", "--jurisdiction", "Atlantis", TEXT], "--jurisdiction Atlantis"),
        (["--destination", "gpt", "   "], "the prompt is empty"),
    ],
)
def test_configuration_errors_exit_2(fresh, capsys, args, needle):
    code = prompt(fresh, *args)
    err = capsys.readouterr().err
    assert code == 2 and needle in err
    assert fresh.servers["openai"].requests == []


def test_missing_policy_file_exits_2(tmp_path, capsys):
    assert main(["prompt", "--policy", str(tmp_path / "none.yaml"), "--destination", "gpt", "hi"]) == 2


def test_stdin_through_the_installed_command(fresh):
    exe = Path(sys.executable).with_name("redactline")
    env = {**os.environ, **KEYS}
    proc = subprocess.run(
        [str(exe), "prompt", "--policy", str(fresh.policy), "--destination", "gpt", "--jurisdiction", "EU",
         "-"],
        input=TEXT, capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert NAME in proc.stdout and EMAIL in proc.stdout
    no_pii(fresh.servers["openai"])
    assert len(fresh.servers["openai"].requests) == 1


@pytest.mark.parametrize(
    ("args", "code", "kind", "reason"),
    [
        (["--destination", "gpt"], 3, "refused", "unknown_jurisdiction"),  # residency
        (["--destination", "strict", "--jurisdiction", "US"], 3, "refused", "jurisdiction_not_allowed"),
        (["--destination", "gpt", "--jurisdiction", "DE"], 1, "upstream", "http_status"),  # 500s
        (["--destination", "nope"], 2, "usage", "configuration_error"),
    ],
)
def test_json_answers_every_outcome(fresh, capsys, args, code, kind, reason):
    fresh.servers["openai"].fail_next(10, status=500, retry_after="0")
    assert prompt(fresh, *args, "--json", TEXT) == code
    out, _ = capsys.readouterr()
    data = json.loads(out)  # all of stdout is one JSON object
    assert data["ok"] is False and data["exit_code"] == code
    assert data["error"]["kind"] == kind and data["error"]["code"] == reason and data["error"]["message"]
    assert NAME not in out and EMAIL not in out
    if kind == "refused":
        assert data["entities"]["EMAIL_ADDRESS"] == 1 and fresh.servers["openai"].requests == []
    if kind == "upstream":
        assert data["attempts"] == 3 and data["status"] == 500
