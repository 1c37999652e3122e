"""Issue 14, unbounded work in the proxy: requests are redacted concurrently, each within a budget.

Before: one lock serialised redaction, so one message that made a recognizer slow blocked every other
request (20 s with a 30 KB ``a.a.a...`` under ``general-pii``). After: a pool of engines (one request
per engine), and each request within the policy's ``detection.budget``: over it, 422 ``engine_timeout``
or 413 ``oversize``, never forwarded. Real threads, the real proxy and a real upstream on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from redactline.connectors.proxy import ProxyConfig, ProxyThread, Redactor, build_app
from redactline.policies import Policy, load_policy
from tests.support.servers import FakeOpenAI

KEY = "sk-test-openai"
NAME = "Margaret Sullivan"

# ``a*a*a*a*(?:b|c)`` passes ``policy validate`` but stalls for hours on thousands of letters "a": the
# stand-in for any recognizer that is slow on one input. The budget is what ends it.
POLICY = """\
apiVersion: redactline.dev/v1
kind: RedactionPolicy
metadata: {name: proxy-budget, version: 1.0.0}
detection:
  budget: {max_seconds: 8, max_text_bytes: 20000}
  recognizers:
    - name: slow_code
      supported_entity: CODE
      patterns: [{name: slow, regex: 'a*a*a*a*(?:b|c)', score: 0.9}]
transforms:
  default: replace
"""
SLOW = "a" * 3000 + " " + NAME


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path: Path = tmp_path_factory.mktemp("proxy-budget") / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path, environ={})


@pytest.fixture(scope="module")
def proxy(policy: Policy, upstream: FakeOpenAI) -> Iterator[ProxyThread]:
    config = ProxyConfig(upstream=upstream.base_url, api_key=KEY, timeout_s=30)
    with ProxyThread(build_app(config, Redactor.from_policy(policy, workers=2))) as running:
        yield running


def post(proxy: ProxyThread, content: str) -> httpx.Response:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{proxy.base_url}/chat/completions", json=body, timeout=120)


def _sent(upstream: FakeOpenAI) -> str:
    return "\n".join(seen.raw.decode("utf-8") for seen in upstream.requests)


def test_a_slow_request_does_not_block_a_normal_one(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    upstream.reset()
    events: list[str] = []
    results: dict[str, httpx.Response] = {}
    lock = threading.Lock()

    def send(label: str, content: str) -> None:
        response = post(proxy, content)
        with lock:
            results[label] = response
            events.append(label)

    slow = threading.Thread(target=send, args=("slow", SLOW))
    slow.start()
    time.sleep(1.0)  # the slow request is in redaction by now (its parse and size check take ms)
    normal = threading.Thread(target=send, args=("normal", f"Please write to {NAME} today."))
    normal.start()
    normal.join(timeout=60)
    assert not normal.is_alive()
    # the normal request completed while the slow one was still being redacted
    assert events == ["normal"] and slow.is_alive()
    assert results["normal"].status_code == 200
    slow.join(timeout=120)
    assert not slow.is_alive() and events == ["normal", "slow"]
    # the slow one ended at its budget: refused, PII-free, never forwarded
    refused = results["slow"]
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "engine_timeout" and "budget" in error["message"]
    assert NAME not in refused.text and "aaaa" not in refused.text
    assert len(upstream.requests) == 1 and NAME not in _sent(upstream) and "aaaa" not in _sent(upstream)


def test_a_request_over_the_size_budget_is_413_and_not_sent(proxy: ProxyThread, upstream: FakeOpenAI) -> None:
    upstream.reset()
    # each message under the budget, the request over it: the budget is per request
    body = {"model": "gpt-test", "messages": [
        {"role": "system", "content": f"About {NAME}: " + "x" * 12_000},
        {"role": "user", "content": "y" * 12_000},
    ]}
    response = httpx.post(f"{proxy.base_url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "oversize" and "20000 bytes" in error["message"]
    assert NAME not in response.text and "xxxx" not in response.text
    assert upstream.requests == []


def test_redactor_pool_bounds_and_reuses_engines(policy: Policy) -> None:
    engines = [object(), object()]
    redactor = Redactor(engines)
    assert redactor.size == 2 and redactor.engine is engines[0]
    with redactor._checkout() as first, redactor._checkout() as second:
        assert {id(first), id(second)} == {id(e) for e in engines}
    with pytest.raises(ValueError):
        Redactor([])


def test_cli_refuses_a_bad_worker_count(tmp_path: Path, capsys) -> None:
    from redactline.pipelines.cli import main

    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    code = main(["proxy", "--policy", str(path), "--upstream", "http://127.0.0.1:9/v1", "--workers", "0"])
    assert code == 2 and "--workers must be 1..64" in capsys.readouterr().err
