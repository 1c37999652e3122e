"""Faults and hostile input against the real enclave service on 127.0.0.1 (issue 14, enclave service).

* an attestation flood neither rotates the key nor pushes a sealed batch out; a client over its
  attestation budget gets 429 with ``Retry-After``;
* a batch id is committed only once its reply is sealed: a backend failure then a retry is processed,
  a concurrent duplicate is refused ``in-flight``, a repeat after the answer is a ``replay``;
* a header field out of range (``created_at=2**70``) and a payload nested 5,000 deep are 400s;
* a body trickled byte by byte is cut off with 408 once ``body_timeout`` has passed.

The backend is a small in-process one (no spaCy), injected through the service's backend interface.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
from typing import Any

import cbor2
import httpx
import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import EnclaveClient, RetryPolicy, ServiceRefused
from redactline.enclave_sink.envelope import BatchHeader
from redactline.enclave_sink.server.backends import BackendError
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "ab" * 32
REGION = "eu-west-1"
RECORDS = [{"id": "1", "text": "<PERSON> wrote twice."}, {"id": "2", "text": "Invoice for <EMAIL_ADDRESS>."}]


class CountingBackend:
    """Answers ``{"chars": n}`` per record; ``fail`` injected failures first; may block on ``gate``."""

    name = "counting"
    model_id = "counting-1"
    model_digest = "sha256:" + "0" * 64

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls = 0
        self.entered = threading.Event()
        self.gate: threading.Event | None = None

    def infer(self, records: list[Any]) -> list[dict[str, Any]]:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail > 0:
            self.fail -= 1
            raise BackendError("injected model server failure")
        return [{"chars": len(json.dumps(r))} for r in records]


@pytest.fixture(scope="module")
def provider() -> SimulatedNitroProvider:
    return SimulatedNitroProvider()


def start(provider, backend=None, **overrides):
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}), **overrides)
    service = build_service(config, provider=provider, backend=backend or CountingBackend())
    return ServiceThread(service)


def client_for(thread, provider, **kwargs) -> EnclaveClient:
    verifier = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
    return EnclaveClient(thread.base_url, verifier, **kwargs)


def attest_raw(http: httpx.Client) -> httpx.Response:
    return http.post("/v1/attestation", json={"nonce": os.urandom(16).hex()})


def post_raw(thread, envelope: bytes, digest: bytes) -> httpx.Response:
    return httpx.post(f"{thread.base_url}/v1/batches", content=envelope,
                      headers={"x-redactline-attestation": digest.hex()})


# -- attestation: rate limit, never a rotation --------------------------------------------------------


def test_an_attestation_flood_does_not_rotate_the_key_and_a_batch_sealed_before_is_accepted(provider):
    # Before: every 10,000 documents (here: 8) rotated the key, twice within the grace -> 409 reattest.
    # The flood passes the limiter here (large burst) to reach the document registry's bound.
    with start(provider, max_documents_per_key=8, attestation_burst=1000) as thread:
        service = thread.service
        client = client_for(thread, provider)
        first = client.attest()
        sealed = client.seal(RECORDS, policy_hash=POLICY, region=REGION)
        with httpx.Client(base_url=thread.base_url) as http:
            statuses = [attest_raw(http).status_code for _ in range(60)]
        assert statuses.count(200) == 60
        assert service.keyring.rotations == 0 and service.keyring.live_key_ids() == [first.key_id]
        # Its document fell out of the bounded index long ago: the batch still opens with the live key.
        reply = client.post_envelope(sealed.envelope, first.verified.document_sha256)
        assert len(json.loads(sealed.open_reply(reply))["results"]) == 2
        client.close()


def test_attestation_requests_are_rate_limited_per_client_with_retry_after(provider):
    with start(provider, attestation_rate=0.5, attestation_burst=3) as thread:
        with httpx.Client(base_url=thread.base_url) as http:
            statuses = [attest_raw(http).status_code for _ in range(5)]
            assert statuses == [200, 200, 200, 429, 429]
            refused = attest_raw(http)
            assert refused.status_code == 429 and refused.json()["error"] == "rate-limited"
            assert 1 <= int(refused.headers["retry-after"]) <= 2
        # Another client address has its own bucket.
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=thread.base_url, transport=other) as http:
            assert attest_raw(http).status_code == 200
        assert thread.service.keyring.rotations == 0


def test_a_flood_at_the_default_limit_is_mostly_429_and_never_rotates(provider):
    with start(provider) as thread:  # defaults: 60 at once, then 5 per second per client
        client = client_for(thread, provider)
        session = client.attest()
        sealed = client.seal(RECORDS, policy_hash=POLICY, region=REGION)
        started = time.monotonic()
        with httpx.Client(base_url=thread.base_url) as http:
            statuses = [attest_raw(http).status_code for _ in range(150)]
        elapsed = time.monotonic() - started
        assert set(statuses) == {200, 429}
        assert statuses.count(200) <= 60 + 5 * elapsed + 1  # the burst, then 5 per second
        assert thread.service.keyring.rotations == 0
        assert client.post_envelope(sealed.envelope, session.verified.document_sha256)
        client.close()


def test_the_client_waits_out_a_429_on_attestation(provider):
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    retry = RetryPolicy(attempts=3, backoff=0.01, sleep=sleep)
    with start(provider, attestation_rate=2, attestation_burst=1) as thread:
        with httpx.Client(base_url=thread.base_url) as http:
            assert attest_raw(http).status_code == 200  # the bucket is empty now
        with client_for(thread, provider, retry=retry) as client:
            results = client.send(RECORDS, policy_hash=POLICY, region=REGION, batch_id="rl-1")
    assert len(results) == 2 and slept == [1.0]  # Retry-After: 1, not the backoff


# -- batch ids: committed once the reply is sealed ----------------------------------------------------


def test_a_backend_failure_then_a_retry_of_the_same_envelope_is_processed(provider):
    backend = CountingBackend(fail=1)
    with start(provider, backend) as thread:
        client = client_for(thread, provider)
        client.attest()
        sealed = client.seal(RECORDS, policy_hash=POLICY, region=REGION)
        with pytest.raises(ServiceRefused) as err:  # before: 502, then the retry got 409 replay
            client.post_envelope(sealed.envelope)
        assert (err.value.status, err.value.code) == (502, "backend-failed")
        key = thread.service.keyring.current()
        assert key.seen_batch_ids == set() and key.in_flight == set()
        reply = client.post_envelope(sealed.envelope)  # the very same envelope, same batch id
        assert len(json.loads(sealed.open_reply(reply))["results"]) == 2
        assert key.seen_batch_ids == {sealed.header.batch_id}
        with pytest.raises(ServiceRefused) as err:  # answered: now a repeat is a replay
            client.post_envelope(sealed.envelope)
        assert (err.value.status, err.value.code) == (409, "replay")
        assert backend.calls == 2
        client.close()


def test_send_retries_a_backend_failure_and_delivers(provider):
    backend = CountingBackend(fail=1)
    retry = RetryPolicy(attempts=3, backoff=0.01, sleep=lambda seconds: None)
    with start(provider, backend) as thread, client_for(thread, provider, retry=retry) as client:
        results = client.send(RECORDS, policy_hash=POLICY, region=REGION, batch_id="retry-after-502")
        assert len(results) == 2 and client.stats.retries == 1 and backend.calls == 2


def test_a_concurrent_duplicate_is_refused_in_flight(provider):
    backend = CountingBackend()
    backend.gate = threading.Event()
    with start(provider, backend) as thread:
        client = client_for(thread, provider)
        client.attest()
        sealed = client.seal(RECORDS, policy_hash=POLICY, region=REGION)
        digest = sealed.session.verified.document_sha256
        first: list[int] = []
        worker = threading.Thread(
            target=lambda: first.append(post_raw(thread, sealed.envelope, digest).status_code)
        )
        worker.start()
        assert backend.entered.wait(10)
        duplicate = post_raw(thread, sealed.envelope, digest)
        assert duplicate.status_code == 409 and duplicate.json()["error"] == "in-flight"
        backend.gate.set()
        worker.join(10)
        assert first == [200]
        again = post_raw(thread, sealed.envelope, digest)
        assert again.status_code == 409 and again.json()["error"] == "replay"
        assert backend.calls == 1
        client.close()


# -- header and payload range checks ------------------------------------------------------------------


class _ForgedHeader(BatchHeader):
    """A header whose encoding carries ``created_at`` as given (what a hostile client can send)."""

    created_at_ms: int = 0

    def encode(self) -> bytes:
        fields = cbor2.loads(super().encode())
        fields["created_at"] = self.created_at_ms
        return cbor2.dumps(fields, canonical=True)


@pytest.mark.parametrize("created_at_ms", [2**70, 2**63, -1, 0, 10**15])
def test_a_created_at_out_of_range_is_400_bad_header(provider, created_at_ms):
    with start(provider) as thread:
        client = client_for(thread, provider)
        session = client.attest()
        honest = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION).header
        forged = _ForgedHeader(honest.batch_id, POLICY, REGION, 1, honest.reply_public_key, honest.created_at)
        object.__setattr__(forged, "created_at_ms", created_at_ms)
        envelope = session.sealer.seal(forged, json.dumps({"records": RECORDS[:1]}).encode())[0]
        answer = post_raw(thread, envelope, session.verified.document_sha256)  # before: 500
        assert answer.status_code == 400 and answer.json()["error"] == "bad-header"
        assert "created_at" in answer.json()["message"]
        client.close()


def test_a_created_at_days_in_the_future_is_400_bad_header(provider):
    with start(provider) as thread:
        client = client_for(thread, provider)
        session = client.attest()
        honest = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION).header
        future = BatchHeader("future-1", POLICY, REGION, 1, honest.reply_public_key,
                             dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
        envelope = session.sealer.seal(future, json.dumps({"records": RECORDS[:1]}).encode())[0]
        answer = post_raw(thread, envelope, session.verified.document_sha256)
        assert answer.status_code == 400 and answer.json()["error"] == "bad-header"
        client.close()


def test_a_payload_nested_5000_deep_is_400_too_deep(provider):
    backend = CountingBackend()
    with start(provider, backend) as thread:
        client = client_for(thread, provider)
        session = client.attest()
        honest = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION).header
        header = BatchHeader("deep-1", POLICY, REGION, 1, honest.reply_public_key, dt.datetime.now(dt.UTC))
        payload = b'{"records":[' + b"[" * 5000 + b"]" * 5000 + b"]}"
        envelope = session.sealer.seal(header, payload)[0]
        answer = post_raw(thread, envelope, session.verified.document_sha256)  # before: 500 RecursionError
        assert answer.status_code == 400 and answer.json()["error"] == "too-deep"
        # Brackets inside strings are text, not nesting: a record holding "[[[[..." is fine.
        ok = BatchHeader("deep-2", POLICY, REGION, 1, honest.reply_public_key, dt.datetime.now(dt.UTC))
        envelope = session.sealer.seal(ok, json.dumps({"records": [{"t": "[" * 5000}]}).encode())[0]
        assert post_raw(thread, envelope, session.verified.document_sha256).status_code == 200
        assert backend.calls == 1
        client.close()


# -- slow bodies ------------------------------------------------------------------------------------


def _trickle(port: int, head: bytes, seconds: float) -> tuple[bytes, float]:
    """Send ``head`` then one body byte every 0.1 s; return what the server answered and when."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        sock.sendall(head)
        answer = b""
        while time.monotonic() - started < seconds:
            try:
                sock.sendall(b"x")
            except OSError:  # the server closed the connection
                break
            sock.settimeout(0.1)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
        return answer, time.monotonic() - started


@pytest.mark.parametrize("path", ["/v1/batches", "/v1/attestation"])
def test_a_trickled_body_is_cut_off_with_408(provider, path):
    with start(provider, body_timeout=1.0) as thread:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"x-redactline-attestation: {'ab' * 32}\r\nContent-Length: 1000\r\n\r\n").encode()
        answer, elapsed = _trickle(thread.port, head, seconds=6.0)  # before: no answer at all
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert b"body-timeout" in answer or b"connection: close" in answer.lower()
        assert 0.9 <= elapsed < 3.0
        # The service still answers everyone else.
        assert httpx.get(f"{thread.base_url}/healthz").status_code == 200
