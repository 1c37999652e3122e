"""EnclaveClient.send against a real simulated service on 127.0.0.1: the checks the pipeline relies on."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import random
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from redactline.enclave_sink import envelope
from redactline.enclave_sink.client import (
    ENCLAVE_BAD_REPLY,
    ENCLAVE_REFUSED,
    ENCLAVE_UNAVAILABLE,
    AttestationRejected,
    BatchFailed,
    EnclaveClient,
    EnclaveTrust,
    RetryPolicy,
)
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "ab" * 32
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def running():
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}))
    with ServiceThread(build_service(config, provider=provider, backend=SpacyAnalysisBackend())) as thread:
        yield thread, EnclaveTrust(root_pem=provider.simulator.root_pem, allow_unsafe_root=True)


def _client(running, **kwargs) -> EnclaveClient:
    thread, trust = running
    retry = RetryPolicy(attempts=2, backoff=0.01, sleep=lambda seconds: None)  # retries do not wait
    return EnclaveClient(thread.base_url, trust.verifier(), retry=retry, **kwargs)


def test_an_unreachable_enclave_is_retried_with_jittered_backoff_then_fails(running):
    _, trust = running
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    retry = RetryPolicy(attempts=3, backoff=0.5, max_backoff=8.0, sleep=slept.append, rng=random.Random(3))
    with EnclaveClient(f"http://127.0.0.1:{port}", trust.verifier(), retry=retry) as client, \
            pytest.raises(BatchFailed) as err:
        client.send([{"text": "x"}], policy_hash=POLICY, region=REGION, batch_id="b-gone")
    assert err.value.reason == ENCLAVE_UNAVAILABLE and "3 attempts failed" in str(err.value)
    assert len(slept) == 2 and 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0
    assert client.stats.retries == 2


def test_send_carries_non_json_values_as_text(running):
    with _client(running, policy_hash=POLICY, region=REGION) as client:
        when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
        results = client.send([{"seen": when, "text": "Met in Paris."}], policy_hash=POLICY, region=REGION,
                              batch_id="b-dates")
    assert results[0]["fields"]["seen"]["tokens"] >= 1


def test_a_batch_too_large_to_seal_fails_as_refused(running, monkeypatch):
    monkeypatch.setattr(envelope, "MAX_PLAINTEXT_BYTES", 100)
    with _client(running) as client, pytest.raises(BatchFailed) as err:
        client.send([{"text": "x" * 200}], policy_hash=POLICY, region=REGION, batch_id="b-big")
    assert err.value.reason == ENCLAVE_REFUSED and "x" * 20 not in str(err.value)


def test_policy_and_region_are_checked_against_the_attested_config(running):
    client = _client(running, policy_hash="cd" * 32)
    with client, pytest.raises(AttestationRejected, match="policy"):
        client.attest()
    with _client(running, region="us-east-1") as client, pytest.raises(AttestationRejected, match="region"):
        client.attest()


def test_trust_refuses_an_unsafe_root_without_the_flag_and_a_real_root_without_pcrs(running):
    _, trust = running
    with pytest.raises(AttestationRejected, match="unsafe-allow-simulated"):
        EnclaveTrust(root_pem=trust.root_pem).verifier()
    with pytest.raises(AttestationRejected, match="PCR policy"):
        EnclaveTrust().verifier()  # the AWS root, no measurements: never accepted


class ForgingHost:
    """The untrusted host between client and enclave, on 127.0.0.1: it forwards everything and keeps
    what it sees (attestation documents, sealed batches with their clear headers), then answers each
    batch with a reply it built itself from that, instead of the enclave's."""

    def __init__(self, target: str) -> None:
        self.documents: list[bytes] = []
        self.batches: list[bytes] = []
        self.forged = 0
        upstream = urlsplit(target)
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self, body: bytes | None) -> tuple[int, str, bytes]:
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                out = (answer.status, answer.getheader("content-type", ""), answer.read())
                conn.close()
                return out

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(*self._forward(None))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status, content_type, answer = self._forward(body)
                if self.path == "/v1/attestation" and status == 200:
                    host.documents.append(base64.b64decode(json.loads(answer)["document"]))
                if self.path == "/v1/batches" and status == 200:
                    answer = host.forge(body)
                self._answer(status, content_type, answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forge(self, batch: bytes) -> bytes:
        """A well-formed reply for ``batch`` from public data: the clear header (its reply_public_key
        included), the batch bytes and the attestation document stand in for the reply secret."""
        self.batches.append(batch)
        header_len = struct.unpack_from(">I", batch, 6)[0]
        header = envelope.BatchHeader.decode(batch[18 : 18 + header_len])
        stand_in = hashlib.sha256(batch + self.documents[-1]).digest()
        results = [{"forged": True}] * header.record_count
        self.forged += 1
        return envelope.seal_reply(header, json.dumps({"results": results}).encode(), stand_in)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_reply_forged_by_the_host_is_refused(running):
    thread, trust = running
    host = ForgingHost(thread.base_url)
    retry = RetryPolicy(attempts=2, backoff=0.01, sleep=lambda seconds: None)
    try:
        with EnclaveClient(host.url, trust.verifier(), retry=retry) as client, \
                pytest.raises(BatchFailed) as err:
            client.send([{"text": "Met in Paris."}], policy_hash=POLICY, region=REGION, batch_id="b-via-host")
    finally:
        host.close()
    assert host.forged == 1 and host.documents and host.batches  # the host saw it all and answered
    assert err.value.reason == ENCLAVE_BAD_REPLY and "b-via-host" in str(err.value)
    # The same client through no host gets the enclave's own reply.
    with _client(running) as client:
        results = client.send(
            [{"text": "Met in Paris."}], policy_hash=POLICY, region=REGION, batch_id="b-direct"
        )
    assert results and "forged" not in results[0]
