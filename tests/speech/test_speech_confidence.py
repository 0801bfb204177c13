"""Whisper's per-utterance confidence from its segments (no model needed)."""

from __future__ import annotations

import math
from types import SimpleNamespace

from callport.speech.base import Transcript
from callport.speech.whisper import segment_confidence


def seg(text: str, avg_logprob: float, no_speech_prob: float) -> SimpleNamespace:
    return SimpleNamespace(text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob)


def test_confidence_is_token_probability_times_speech_chance_weighted_by_text() -> None:
    assert segment_confidence([]) is None
    one = segment_confidence([seg(" add milk", math.log(0.9), 0.1)])
    assert one == round(0.9 * 0.9, 4)
    # a long sure segment outweighs a short unsure one
    two = segment_confidence([seg("add milk to my shopping list", math.log(0.95), 0.0),
                              seg("uh", math.log(0.2), 0.5)])
    assert two is not None and 0.8 < two < 0.95
    # a positive logprob (rounding in the engine) never gives more than 1
    assert segment_confidence([seg("yes", 0.01, 0.0)]) == 1.0


def test_a_transcript_without_a_score_says_none() -> None:
    assert Transcript(text="hi", seconds=0.1).confidence is None
