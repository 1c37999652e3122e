"""Server parts on their own: NSM request encoding, providers, the key ring, the openai-compatible backend."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cbor2
import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.envelope import BatchHeader
from redactline.enclave_sink.server.backends import (
    BackendError,
    OpenAICompatibleBackend,
    text_fields,
)
from redactline.enclave_sink.server.config import OpenAIBackendConfig, ServiceConfig
from redactline.enclave_sink.server.keys import (
    InFlightError,
    KeyExhaustedError,
    KeyRing,
    ReplayError,
    UnknownKeyError,
)
from redactline.enclave_sink.server.providers import (
    NSM_IOCTL_RAW,
    NitroNsmProvider,
    NsmError,
    NsmUnavailableError,
    SimulatedNitroProvider,
    decode_attestation_response,
    encode_attestation_request,
)

# ------------------------------------------------------------------------------------------------ NSM


def test_nsm_request_encoding_matches_the_serde_shape():
    encoded = encode_attestation_request(nonce=b"n" * 16, user_data=b"u" * 32, public_key=b"k" * 44)
    assert cbor2.loads(encoded) == {
        "Attestation": {"user_data": b"u" * 32, "nonce": b"n" * 16, "public_key": b"k" * 44}
    }
    # Externally tagged enum: a one-entry map whose key is the variant name, values are byte strings.
    assert encoded[:1] == b"\xa1" and b"kAttestation" in encoded
    absent = cbor2.loads(encode_attestation_request(nonce=None, user_data=None, public_key=None))
    assert absent == {"Attestation": {"user_data": None, "nonce": None, "public_key": None}}
    with pytest.raises(ValueError, match="NSM limit"):
        encode_attestation_request(nonce=b"x" * 1025, user_data=None, public_key=None)


def test_nsm_ioctl_number_is_iowr_0x0a_0_of_two_iovecs():
    assert NSM_IOCTL_RAW == 0xC0200A00


def test_nsm_response_decoding():
    assert decode_attestation_response(cbor2.dumps({"Attestation": {"document": b"doc"}})) == b"doc"
    with pytest.raises(NsmError, match="InvalidArgument"):
        decode_attestation_response(cbor2.dumps({"Error": "InvalidArgument"}))
    for bad in (b"\xff\xff", cbor2.dumps("LockedPCR"), cbor2.dumps({"Attestation": {}})):
        with pytest.raises(NsmError):
            decode_attestation_response(bad)


def test_nsm_provider_refuses_without_device(tmp_path):
    with pytest.raises(NsmUnavailableError, match="only works inside an AWS Nitro Enclave"):
        NitroNsmProvider(str(tmp_path / "nsm"))


def test_simulated_provider_publishes_the_given_key_and_warns(caplog):
    provider = SimulatedNitroProvider()
    assert "SIMULATED" in caplog.text
    key = b"\x30\x2a\x30\x05\x06\x03\x2b\x65\x6e\x03\x21\x00" + b"\x07" * 32
    doc = provider.attest(nonce=b"n" * 16, user_data=b"u" * 32, public_key=key)
    verified = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root()).verify(
        doc, expected_nonce=b"n" * 16
    )
    assert verified.public_key == key and verified.user_data == b"u" * 32


# ------------------------------------------------------------------------------------------- key ring


def _header(batch_id: str) -> BatchHeader:
    return BatchHeader(batch_id, "ab" * 32, "local", 0, b"\x01" * 32, dt.datetime.now(dt.UTC))


def _ring(now, **kw):
    args = {"lifetime": dt.timedelta(minutes=5), "grace": dt.timedelta(seconds=10)}
    args |= {"max_documents_per_key": 10, "max_batches_per_key": 3} | kw
    return KeyRing(clock=lambda: now[0], **args)


def test_replay_cache_is_per_key_bounded_and_dropped_with_the_key():
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    ring = _ring(now)
    key = ring.current()
    ring.register_document(key, b"d" * 32)
    for i in range(3):
        ring.claim_batch(key, _header(f"b{i}"))
    with pytest.raises(ReplayError):
        ring.claim_batch(key, _header("b0"))
    with pytest.raises(KeyExhaustedError):  # full: the key retires instead of growing
        ring.claim_batch(key, _header("b3"))
    assert ring.current() is not key and ring.rotations == 1
    now[0] += dt.timedelta(seconds=11)
    assert ring.live_key_ids() == [ring.current().key_id]
    assert key.seen_batch_ids == set() and key.openers == {}
    with pytest.raises(UnknownKeyError):
        ring.opener_for(b"d" * 32)


def test_a_full_document_registry_forgets_the_oldest_and_never_rotates():
    # Attestation requests are unauthenticated: they must never rotate the key (issue 14).
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    ring = _ring(now, max_documents_per_key=2)
    key = ring.current()
    ring.register_document(key, b"1" * 32)
    ring.register_document(key, b"2" * 32)
    ring.opener_for(b"1" * 32)  # used: now the most recent
    ring.register_document(key, b"3" * 32)
    assert ring.current() is key and ring.rotations == 0
    assert list(key.openers) == [b"1" * 32, b"3" * 32]
    with pytest.raises(UnknownKeyError):  # forgotten by the index; the service then tries live keys
        ring.opener_for(b"2" * 32)
    assert ring.live_keys() == [key]


def test_a_batch_id_is_replayed_only_once_committed():
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    ring = _ring(now)
    key = ring.current()
    ring.begin_batch(key, _header("b0"))
    with pytest.raises(InFlightError):
        ring.begin_batch(key, _header("b0"))
    ring.finish_batch(key, "b0", committed=False)  # failed: nothing sealed, a retry may come in
    ring.begin_batch(key, _header("b0"))
    ring.finish_batch(key, "b0", committed=True)
    with pytest.raises(ReplayError):
        ring.begin_batch(key, _header("b0"))
    assert key.seen_batch_ids == {"b0"} and key.in_flight == set()


def test_config_refuses_empty_allow_list_and_bad_hashes():
    with pytest.raises(ValueError, match="at least one"):
        ServiceConfig()
    with pytest.raises(ValueError, match="64 lower-case"):
        ServiceConfig(allowed_policy_hashes=frozenset({"AB" * 32}))


def test_text_fields_walks_nested_records():
    record = {"b": "two", "a": {"x": ["one", 3, ""], "y": None}}
    assert list(text_fields(record)) == [("a.x[0]", "one"), ("b", "two")]


# ----------------------------------------------------------------------------- openai-compatible backend


class _ChatHandler(BaseHTTPRequestHandler):
    """A tiny LLM stand-in speaking the chat-completions format: answers with the prompt's word count."""

    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append(body)
        if self.path != "/v1/chat/completions" or body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            return
        prompt = body["messages"][0]["content"]
        answer = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"{len(prompt.split())} words"},
                    "finish_reason": "stop",
                }
            ],
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def llm_server():
    _ChatHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openai_backend_against_a_loopback_server(llm_server):
    config = OpenAIBackendConfig(base_url=llm_server, model="tiny", template="Classify: {record}", timeout=5)
    backend = OpenAICompatibleBackend(config)
    results = backend.infer([{"text": "<PERSON> paid twice"}, {"text": "ok"}])
    backend.close()
    assert [r["completion"] for r in results] == ["4 words", "2 words"]
    assert results[0]["finish_reason"] == "stop" and results[0]["model"] == "tiny"
    sent = _ChatHandler.requests[0]
    assert sent["messages"][0]["content"] == 'Classify: {"text":"<PERSON> paid twice"}'
    assert sent["temperature"] == 0


def test_openai_backend_errors_do_not_echo_content(llm_server):
    backend = OpenAICompatibleBackend(OpenAIBackendConfig(base_url=llm_server, model="broken", timeout=5))
    with pytest.raises(BackendError) as err:
        backend.infer([{"text": "Secretname"}])
    assert "Secretname" not in str(err.value)


def test_openai_backend_only_on_loopback():
    with pytest.raises(ValueError, match="loopback"):
        OpenAICompatibleBackend(OpenAIBackendConfig(base_url="http://example.com"))


# --------------------------------------------------------------------------------------- CLI arguments


def test_serve_arguments_build_a_config():
    import argparse

    from redactline.enclave_sink.server.serve import add_serve_arguments, config_from_args, run_serve

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(
        ["--allow-policy", "ab" * 32, "--region", "eu-west-1", "--key-lifetime", "120", "--port", "0",
         "--simulated"]
    )
    config = config_from_args(args)
    assert config.allowed_policy_hashes == {"ab" * 32} and config.region == "eu-west-1"
    assert config.key_lifetime == dt.timedelta(seconds=120) and config.provider == "simulated"
    assert run_serve(parser.parse_args(["--allow-policy", "not-a-hash"])) == 2
    assert run_serve(parser.parse_args([])) == 2  # no allowed policy
    assert run_serve(parser.parse_args(["--allow-policy", "ab" * 32, "--root-out", "x.pem"])) == 2
    # The default provider is the real NSM device, which this machine does not have: refused, exit 2.
    assert config_from_args(parser.parse_args(["--allow-policy", "ab" * 32])).provider == "nitro-nsm"
    assert run_serve(parser.parse_args(["--allow-policy", "ab" * 32, "--nsm-device", "/nonexistent"])) == 2


def test_allow_policy_file_allows_that_policy_hash():
    import argparse

    from redactline.enclave_sink.server.serve import add_serve_arguments, config_from_args
    from redactline.policies import load_policy

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    policy = "policies/library/pci-dss.yaml"
    config = config_from_args(parser.parse_args(["--allow-policy-file", policy, "--simulated"]))
    assert config.allowed_policy_hashes == {load_policy(policy).identity.sha256}
    with pytest.raises(ValueError, match="missing.yaml"):
        config_from_args(parser.parse_args(["--allow-policy-file", "missing.yaml"]))


def test_service_with_openai_backend_end_to_end(llm_server):
    from redactline.enclave_sink.client import EnclaveClient
    from redactline.enclave_sink.server.serve import ServiceThread, build_service

    config = ServiceConfig(
        allowed_policy_hashes=frozenset({"ab" * 32}),
        backend="openai-compatible",
        openai=OpenAIBackendConfig(base_url=llm_server, model="tiny", template="Q: {record}", timeout=5),
    )
    provider = SimulatedNitroProvider()
    with ServiceThread(build_service(config, provider=provider)) as thread:
        client = EnclaveClient(
            thread.base_url, NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
        )
        session = client.attest()
        assert session.config["backend"] == "openai-compatible" and session.config["model_id"] == "tiny"
        results = client.process([{"t": "a b c"}], policy_hash="ab" * 32, region="local")
        client.close()
    assert results == [{"completion": "4 words", "finish_reason": "stop", "model": "tiny"}]
