"""The attested model digest binds the files the backend loaded; a client pinning another refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import AttestationRejected, EnclaveClient
from redactline.enclave_sink.protocol import model_digest_pin
from redactline.enclave_sink.server.backends import SpacyAnalysisBackend, files_digest
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service
from redactline.policies.destinations import DestinationConfig

POLICY = "ab" * 32


def independent_digest(folder: Path, runtime: str, version: str) -> str:
    """The documented framing, recomputed here with hashlib alone."""
    h = hashlib.sha256(b"redactline/model-digest/v1\x00")
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    for name, path in files:
        data = path.read_bytes()
        h.update(name.encode() + b"\x00" + len(data).to_bytes(8, "big") + data)
    h.update(b"runtime\x00" + runtime.encode() + b"\x00" + version.encode())
    return "sha256:" + h.hexdigest()


@pytest.fixture(scope="module")
def backend() -> SpacyAnalysisBackend:
    return SpacyAnalysisBackend()


@pytest.fixture()
def running(backend):
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region="eu-west-1", allowed_policy_hashes=frozenset({POLICY}))
    with ServiceThread(build_service(config, provider=provider, backend=backend)) as thread:
        yield thread, NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())


def test_spacy_digest_covers_every_file_spacy_loaded(backend):
    import spacy

    folder = Path(backend._nlp.path)
    names = {name for name, _ in backend.model_files}
    assert {"config.cfg", "meta.json"} <= names and any(n.startswith("ner/") for n in names)
    assert backend.model_digest == independent_digest(folder, "spacy", spacy.__version__)


def test_digest_changes_with_any_byte_and_with_the_runtime(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "tok.json").write_text("{}")
    files = [("tok.json", tmp_path / "tok.json"), ("w.bin", tmp_path / "w.bin")]
    base = files_digest(files, "rt", "1.0")
    assert base == independent_digest(tmp_path, "rt", "1.0")
    assert files_digest(files, "rt", "1.1") != base
    (tmp_path / "w.bin").write_bytes(b"\x00" * 9 + b"\x01")
    assert files_digest(files, "rt", "1.0") != base


def test_attested_config_publishes_the_digest_and_a_matching_pin_is_accepted(running, backend):
    thread, verifier = running
    config = httpx.get(f"{thread.base_url}/v1/config").json()
    assert config["model_digest"] == backend.model_digest
    with EnclaveClient(thread.base_url, verifier, model_digest=backend.model_digest) as client:
        assert client.attest().config["model_digest"] == backend.model_digest


def test_a_client_pinning_another_digest_refuses_the_service(running):
    thread, verifier = running
    other = "sha256:" + "0" * 64
    with EnclaveClient(thread.base_url, verifier, model_digest=other) as client, \
            pytest.raises(AttestationRejected, match="model digest"):
        client.attest()
        client.process([{"t": "x"}], policy_hash=POLICY, region="eu-west-1")  # never reached


def test_pins_are_normalised_and_policy_field_is_enclave_only():
    digest = "ab" * 32
    assert model_digest_pin(digest) == model_digest_pin("SHA256:" + digest.upper()) == "sha256:" + digest
    with pytest.raises(ValueError):
        model_digest_pin("sha256:1234")
    enclave = DestinationConfig(kind="enclave", region="eu-west-1", url="http://127.0.0.1:1",
                                model_digest="sha256:" + digest)
    assert enclave.model_digest == "sha256:" + digest
    # unset: the canonical form (and so every existing policy's hash) is unchanged
    assert "model_digest" not in DestinationConfig(kind="enclave", region="eu-west-1").model_dump()
    with pytest.raises(ValueError, match="only meaningful for kind enclave"):
        DestinationConfig(kind="external_api", region="eu-west-1", provider="openai", model="m",
                          url="https://api.example.com/v1", prompt={"template": "{text}"},
                          model_digest="sha256:" + digest)
