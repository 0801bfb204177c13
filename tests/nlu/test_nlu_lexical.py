"""Keyword evidence learnt from example phrases (``nlu.lexical``) and its vote in the
classifier: no model needed (a fixed toy embedder)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from callport.nlu.intents import IntentClassifier
from callport.nlu.lexical import CueIndex, content_words, stem

EXAMPLES = {
    "delete": ["delete the task", "remove it from my list", "delete buy milk"],
    "add": ["add a task", "add buy milk to my list", "put it on my list"],
    "list": ["what is on my list", "read my list"],
}


@pytest.mark.parametrize(
    ("word", "same_as"),
    [("tasks", "task"), ("deleted", "delete"), ("deleting", "delete"), ("removes", "remove"),
     ("stopped", "stop"), ("parties", "party"), ("called", "call")],
)  # fmt: skip
def test_stem_meets_inflections(word: str, same_as: str) -> None:
    assert stem(word) == stem(same_as)


def test_short_words_keep_their_ending() -> None:
    assert stem("bus") == "bus" and stem("is") == "is"


def test_stop_words_are_not_cues() -> None:
    assert content_words("I want to delete the task please") == ["delete", "task"]


def test_a_specific_cue_counts_and_a_shared_one_less() -> None:
    index = CueIndex(EXAMPLES)
    ev = index.evidence("deleting the old gym membership")
    assert ev["delete"] > 0.9 and ev["add"] == 0.0 and ev["list"] == 0.0
    shared = index.evidence("my list")  # "list" is used by add, delete and list examples
    assert 0.0 < shared["list"] < 1.0 and shared["add"] > 0.0


def test_title_words_add_no_evidence() -> None:
    assert set(CueIndex(EXAMPLES).evidence("the garage roof").values()) == {0.0}


def test_a_cue_heard_as_a_homophone_counts_at_a_discount() -> None:
    index = CueIndex({"write": ["write a letter", "write the report"], "read": ["read it"]})
    exact, by_sound = index.evidence("write")["write"], index.evidence("right")["write"]
    assert 0.0 < by_sound < exact and index.evidence("right")["read"] == 0.0


def _flat(texts: Sequence[str]) -> NDArray[np.float32]:
    """Every utterance 0.6 from every example: the embedding cannot tell intents apart."""
    if len(texts) == 1:  # the utterance
        return np.array([[0.6, 0.8, 0.0, 0.0]], dtype=np.float32)
    return np.tile(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))


def test_the_classifier_uses_the_evidence_only_when_weighted() -> None:
    plain = IntentClassifier(examples=EXAMPLES, embedder=_flat, threshold=0.5, margin=0.01)
    assert plain.classify("remove the garage roof").intent is None  # a tie: no idea
    voted = IntentClassifier(examples=EXAMPLES, embedder=_flat, threshold=0.5, margin=0.01,
                             lexical=0.1)
    result = voted.classify("remove the garage roof")
    assert result.intent == "delete" and result.runner_up_score < result.score
