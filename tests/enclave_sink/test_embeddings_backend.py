"""The embeddings backend for real: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, its measured digest."""

from __future__ import annotations

import hashlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from redactline.enclave_sink.attestation import NitroAttestationVerifier
from redactline.enclave_sink.client import EnclaveClient
from redactline.enclave_sink.server.backend_factory import build_backend
from redactline.enclave_sink.server.config import ServiceConfig
from redactline.enclave_sink.server.embeddings_backend import (
    ModelFilesError,
    OnnxEmbeddingsBackend,
    default_model_files,
)
from redactline.enclave_sink.server.providers import SimulatedNitroProvider
from redactline.enclave_sink.server.serve import ServiceThread, build_service

POLICY = "cd" * 32
REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_fp32_reference.json").read_text())


@pytest.fixture(scope="module")
def backend() -> OnnxEmbeddingsBackend:
    return build_backend(ServiceConfig(allowed_policy_hashes=frozenset({POLICY}), backend="embeddings",
                                       threads=2))


def expected_digest(model: Path, tokenizer: Path) -> str:
    """The documented framing over model.onnx and tokenizer.json, recomputed with hashlib alone."""
    import onnxruntime
    import tokenizers

    h = hashlib.sha256(b"redactline/model-digest/v1\x00")
    for name, path in (("model.onnx", model), ("tokenizer.json", tokenizer)):
        data = path.read_bytes()
        h.update(name.encode() + b"\x00" + len(data).to_bytes(8, "big") + data)
    version = f"{onnxruntime.__version__} tokenizers {tokenizers.__version__}"
    h.update(b"runtime\x00onnxruntime\x00" + version.encode())
    return "sha256:" + h.hexdigest()


def test_embeddings_match_the_fp32_model_and_rank_a_paraphrase_first(backend):
    vectors = np.array(backend.embed(REFERENCE["sentences"]))
    assert vectors.shape == (4, 384) == (4, backend.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # int8 ONNX through onnxruntime vs the original fp32 weights through an independent NumPy BERT
    cosine = (vectors * np.array(REFERENCE["embeddings"])).sum(axis=1)
    assert cosine.min() >= 0.99, cosine
    similarity = vectors @ vectors.T  # sentence 1 paraphrases sentence 0; 2 and 3 are unrelated
    assert similarity[0, 1] > 0.5 > max(similarity[0, 2], similarity[0, 3])
    assert backend.embed([]) == []


def test_embed_is_thread_safe_truncates_and_ignores_batch_mates(backend):
    texts = REFERENCE["sentences"] * 3
    alone = np.array(backend.embed(texts))
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(backend.embed, [texts] * 4))
    for result in together:
        assert np.allclose(np.array(result), alone, atol=1e-5)
    singly = np.array([backend.embed([t])[0] for t in REFERENCE["sentences"]])
    assert ((singly * alone[:4]).sum(axis=1) > 0.999).all()
    # truncation at 256 word pieces: [CLS] + 254 words + [SEP], whatever follows is not read
    long, cut = backend.embed(["word " * 400, "word " * 254])
    assert np.allclose(long, cut, atol=1e-5)


def test_digest_is_the_sha256_of_the_loaded_files_and_follows_a_change(backend, tmp_path):
    model, tokenizer = default_model_files()
    assert backend.model_digest == expected_digest(model, tokenizer)
    folder = tmp_path / "minilm"
    folder.mkdir()
    shutil.copyfile(model, folder / "model.onnx")
    # Same tokenizer, re-serialised: a harmless change in bytes must still change the digest.
    (folder / "tokenizer.json").write_text(json.dumps(json.loads(tokenizer.read_text()), indent=1))
    copy = OnnxEmbeddingsBackend(folder, threads=1)
    assert copy.model_digest == expected_digest(folder / "model.onnx", folder / "tokenizer.json")
    assert copy.model_digest != backend.model_digest
    assert np.allclose(copy.embed(REFERENCE["sentences"][:1]), backend.embed(REFERENCE["sentences"][:1]),
                       atol=1e-5)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelFilesError, match="tokenizer.json: no such file"):
        OnnxEmbeddingsBackend(folder)


def test_service_attests_the_digest_and_returns_real_embeddings(backend):
    provider = SimulatedNitroProvider()
    config = ServiceConfig(region="eu-west-1", allowed_policy_hashes=frozenset({POLICY}),
                           backend="embeddings")
    with ServiceThread(build_service(config, provider=provider, backend=backend)) as thread:
        published = httpx.get(f"{thread.base_url}/v1/config").json()
        assert published["backend"] == "embeddings"
        assert published["model_digest"] == backend.model_digest
        assert {"embed", "classify"} <= set(published["allowed_tasks"])
        verifier = NitroAttestationVerifier(root=provider.simulator.unsafe_trust_root())
        with EnclaveClient(thread.base_url, verifier, model_digest=backend.model_digest) as client:
            text = REFERENCE["sentences"][0]
            (result,) = client.process([{"note": {"body": text}}], policy_hash=POLICY, region="eu-west-1")
    vector = np.array(result["embeddings"]["note.body"])
    assert vector.shape == (384,) and float(vector @ np.array(backend.embed([text])[0])) > 0.9999
