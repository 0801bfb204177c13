"""Whisper batches and the encoder window: utterances of different calls decoded together
give what each gives alone; one longer than the window is still transcribed whole."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from speech_helpers import word_errors, words

from callport.speech.jobs import speech_backlog
from callport.speech.piper import PiperTTS
from callport.speech.whisper import WhisperSTT, _load_model, whisper_model_path
from callport.speech.whisper_decode import WhisperDecoder

pytestmark = pytest.mark.slow
PHRASES = ("Add a task to buy milk tomorrow.", "Mark the report task as done.",
           "What are my tasks for today?")


@pytest.fixture(scope="module")
def spoken() -> list[np.ndarray]:
    pytest.importorskip("piper")
    pytest.importorskip("faster_whisper")
    tts = PiperTTS(threads=1, deterministic=True)
    return [tts.synthesize_clause(p) for p in PHRASES]


def test_a_batch_decodes_as_each_utterance_alone(spoken: list[np.ndarray]) -> None:
    stt = WhisperSTT(window_s=15)
    alone = [stt.transcribe_sync(pcm, 22050).text for pcm in spoken]
    together = [t.text for t in stt.transcribe_many(spoken, 22050)]
    assert together == alone
    for phrase, text in zip(PHRASES, together, strict=True):
        assert word_errors(phrase, text) <= 1, text


def test_an_utterance_longer_than_the_window_is_transcribed_whole(
        spoken: list[np.ndarray]) -> None:
    pcm = spoken[0]  # about 1.9 s of speech
    assert pcm.size / 22050 > 1.5
    text = WhisperSTT(window_s=1.0).transcribe_sync(pcm, 22050).text
    assert {"milk", "tomorrow"} <= set(words(text)), text  # the end past 1 s is heard


def test_the_window_is_even_frames_and_at_most_30_s() -> None:
    pytest.importorskip("faster_whisper")
    model = _load_model(whisper_model_path(), 2)
    assert WhisperDecoder(model, window_s=15).window == 1500
    assert WhisperDecoder(model, window_s=12.345).window == 1234
    assert WhisperDecoder(model, window_s=45).window == 3000
    assert WhisperDecoder(model, window_s=15).max_samples == 15 * 16000


async def test_callers_waiting_together_share_a_decode(spoken: list[np.ndarray]) -> None:
    stt = WhisperSTT(window_s=15, max_batch=8)
    await stt.warmup()
    before = speech_backlog()["stt"]
    texts = await asyncio.gather(*(stt.transcribe(pcm, 22050) for pcm in spoken * 2))
    after = speech_backlog()["stt"]
    assert after.done - before.done == 6
    assert after.batches - before.batches < 6  # some of them were decoded together
    assert [t.text for t in texts[:3]] == [t.text for t in texts[3:]]
