"""The service end to end on 127.0.0.1: attest, verify, seal, POST, open; and every refusal."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

import httpx
import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import EnclaveClient, ServiceRefused
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend
from redactline.enclave_sink.server.config import ServiceConfig, canonical_json, configuration_digest
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "ab" * 32
OTHER_POLICY = "cd" * 32
REGION = "eu-west-1"
RECORDS = [
    {
        "id": "1",
        "text": "<PERSON> flew from Paris to Berlin on Monday. The contract was signed by Acme Corp.",
    },
    {"id": "2", "note": {"body": "Invoice 42 for <EMAIL_ADDRESS> covers three laptops and a printer."}},
]


@pytest.fixture(scope="module")
def backend() -> SpacyAnalysisBackend:
    return SpacyAnalysisBackend()


def _service(backend, **overrides):
    config = ServiceConfig(region=REGION, allowed_policy_hashes=frozenset({POLICY}), **overrides)
    provider = SimulatedNitroProvider()
    return build_service(config, provider=provider, backend=backend), provider


@pytest.fixture()
def running(backend):
    service, provider = _service(backend, max_body_bytes=64 * 1024)
    with ServiceThread(service) as thread:
        verifier = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
        client = EnclaveClient(thread.base_url, verifier)
        yield thread, client, provider
        client.close()


def test_round_trip_results_come_from_the_model(running):
    thread, client, provider = running
    config = httpx.get(f"{thread.base_url}/v1/config").json()
    assert config["backend"] == "spacy-analysis" and config["allowed_policy_hashes"] == [POLICY]
    assert config["model_digest"].startswith("sha256:") and config["region"] == REGION
    session = client.attest()
    # The client checked user_data against /v1/config; check it here independently as well.
    assert session.verified.user_data == configuration_digest(config)
    assert session.verified.trusted_root_unsafe
    results = client.process(RECORDS, policy_hash=POLICY, region=REGION)
    assert len(results) == 2
    first = results[0]["fields"]["text"]
    text = RECORDS[0]["text"]
    labels = {(e["label"], text[e["start"]:e["end"]]) for e in first["entities"]}
    assert ("GPE", "Paris") in labels and ("GPE", "Berlin") in labels
    assert first["entity_counts"]["GPE"] >= 2
    # Only labels, offsets and counts come back: never the text of an entity, a chunk or a proper noun.
    returned = json.dumps(results)
    assert "Paris" not in returned and "Berlin" not in returned and "paris" not in returned
    assert first["sentences"] == 2 and first["tokens"] > 15
    assert "contract" in first["keywords"]
    assert "<PERSON>" not in first["keywords"]
    second = results[1]["fields"]["note.body"]
    assert "laptop" in second["keywords"] and second["sentences"] == 1
    assert set(results[1]["fields"]) == {"id", "note.body"}


def test_attestation_rejects_bad_nonces(running):
    thread, _, _ = running
    for nonce in ("00" * 15, "00" * 65, "zz", None):
        r = httpx.post(f"{thread.base_url}/v1/attestation", json={"nonce": nonce})
        assert r.status_code == 400, nonce
    assert httpx.get(f"{thread.base_url}/healthz").json()["unsafe_attestation"] is True


def test_replay_refused(running):
    _, client, _ = running
    client.attest()
    sealed = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION)
    envelope, header = sealed.envelope, sealed.header
    reply = client.post_envelope(envelope)
    assert json.loads(sealed.open_reply(reply))["results"]
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(envelope)
    assert (err.value.status, err.value.code) == (409, "replay")
    # Same batch id, freshly sealed: still a replay.
    again = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION, batch_id=header.batch_id).envelope
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(again)
    assert err.value.code == "replay"


def test_policy_and_region_refused(running):
    _, client, _ = running
    client.attest()
    envelope = client.seal(RECORDS, policy_hash=OTHER_POLICY, region=REGION).envelope
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(envelope)
    assert (err.value.status, err.value.code) == (403, "policy-not-allowed")
    envelope = client.seal(RECORDS, policy_hash=POLICY, region="us-east-1").envelope
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(envelope)
    assert (err.value.status, err.value.code) == (403, "region-not-allowed")


def test_oversize_refused_while_reading(running):
    thread, client, _ = running
    client.attest()
    digest = client.session.verified.document_sha256.hex()
    headers = {"x-redactline-attestation": digest}
    big = b"\0" * (64 * 1024 + 1)
    r = httpx.post(f"{thread.base_url}/v1/batches", content=big, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "too-large"

    def chunks():  # no Content-Length: chunked, the limit must hold while streaming
        for _ in range(100):
            yield b"\0" * 4096

    r = httpx.post(f"{thread.base_url}/v1/batches", content=chunks(), headers=headers)
    assert r.status_code == 413
    # A sealed batch over the limit, too.
    envelope = client.seal([{"t": "x" * 70_000}], policy_hash=POLICY, region=REGION).envelope
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(envelope)
    assert err.value.status == 413


@pytest.mark.parametrize("where", ["header", "payload", "truncate", "garbage"])
def test_tampered_envelope_refused(running, where):
    _, client, _ = running
    client.attest()
    envelope = client.seal(RECORDS, policy_hash=POLICY, region=REGION).envelope
    data = bytearray(envelope)
    if where == "header":
        data[30] ^= 1
    elif where == "payload":
        data[-1] ^= 1
    elif where == "truncate":
        data = data[:-10]
    else:
        data = bytearray(os.urandom(200))
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(bytes(data))
    assert (err.value.status, err.value.code) == (400, "bad-envelope")
    # The untampered envelope still goes through (nothing was claimed by the forgery).
    client.post_envelope(envelope)


def test_record_count_mismatch_refused(running):
    _, client, _ = running
    client.attest()
    header = client.seal(RECORDS, policy_hash=POLICY, region=REGION).header
    from redactline.enclave_sink.envelope import BatchHeader

    wrong = BatchHeader(header.batch_id + "x", POLICY, REGION, 5, header.reply_public_key, header.created_at)
    envelope = client.session.sealer.seal(wrong, canonical_json({"records": RECORDS})).envelope
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(envelope)
    assert err.value.code == "bad-payload"


def test_unknown_document_asks_to_reattest(running):
    _, client, _ = running
    client.attest()
    envelope = client.seal(RECORDS, policy_hash=POLICY, region=REGION).envelope
    with pytest.raises(ServiceRefused) as err:
        client.post_envelope(envelope, document_sha256=os.urandom(32))
    assert (err.value.status, err.value.code) == (409, "reattest")
    assert "re-attest" in str(err.value)


def test_nothing_decrypted_is_logged(backend, caplog):
    secret_words = ["Zanzibarian", "Quetzalcoatlus", "invoice-77-alpha"]
    records = [{"text": f"The {w} file was reviewed by the committee."} for w in secret_words]
    service, provider = _service(backend)
    caplog.set_level(logging.DEBUG)
    with ServiceThread(service) as thread:
        client = EnclaveClient(
            thread.base_url, NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
        )
        results = client.process(records, policy_hash=POLICY, region=REGION)
        bad = client.seal(records, policy_hash=OTHER_POLICY, region=REGION).envelope
        with pytest.raises(ServiceRefused):
            client.post_envelope(bad)
        client.close()
    # the model did see them (tokens counted per text), and echoes none of them back
    assert all(r["fields"]["text"]["tokens"] >= 9 and r["fields"]["text"]["sentences"] == 1 for r in results)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "batch" in logged  # logging is on and captured
    for word in secret_words:
        assert word not in logged


def test_key_rotation_refuses_old_key_after_grace(backend):
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    config = ServiceConfig(
        region=REGION,
        allowed_policy_hashes=frozenset({POLICY}),
        key_lifetime=dt.timedelta(minutes=10),
        key_grace=dt.timedelta(seconds=30),
    )
    from redactline.enclave_sink.server.keys import KeyRing

    keyring = KeyRing(
        lifetime=config.key_lifetime,
        grace=config.key_grace,
        max_documents_per_key=100,
        max_batches_per_key=100,
        clock=lambda: now[0],
    )
    provider = SimulatedNitroProvider()
    from redactline.enclave_sink.server.service import EnclaveService

    service = EnclaveService(config, provider=provider, backend=backend, keyring=keyring)
    with ServiceThread(service) as thread:
        verifier = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
        client = EnclaveClient(thread.base_url, verifier)
        old = client.attest()
        in_flight = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION)
        late = client.seal(RECORDS[:1], policy_hash=POLICY, region=REGION).envelope
        now[0] += dt.timedelta(minutes=10, seconds=1)  # lifetime over: rotation on next use
        new = client.attest()
        assert new.key_id != old.key_id and new.verified.public_key != old.verified.public_key
        # Within the grace period the previous key still opens in-flight batches.
        reply = client.post_envelope(in_flight.envelope, old.verified.document_sha256)
        assert json.loads(in_flight.open_reply(reply))["results"]
        now[0] += dt.timedelta(seconds=31)
        with pytest.raises(ServiceRefused) as err:
            client.post_envelope(late, old.verified.document_sha256)
        assert (err.value.status, err.value.code) == (409, "reattest")
        assert client.process(RECORDS[:1], policy_hash=POLICY, region=REGION)  # new key works
        assert httpx.get(f"{thread.base_url}/healthz").json()["live_keys"] == 1
        client.close()
