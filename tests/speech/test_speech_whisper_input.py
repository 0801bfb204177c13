"""Whisper input conditioning (no model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callport.speech.whisper import WHISPER_RATE, WhisperSTT, to_whisper_input


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 48000])
def test_any_rate_becomes_16k_float(rate: int) -> None:
    t = np.arange(rate) / rate  # one second of a 440 Hz tone at half scale
    pcm = (16384 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    audio = to_whisper_input(pcm, rate)
    assert audio.dtype == np.float32
    assert abs(audio.size - WHISPER_RATE) <= 2
    assert 0.45 < float(np.abs(audio[100:-100]).max()) < 0.55
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(int(np.argmax(spectrum)) * WHISPER_RATE / audio.size - 440) < 2


def test_too_short_audio_is_empty_without_loading_a_model(tmp_path: Path) -> None:
    stt = WhisperSTT(model_path=tmp_path / "no-model-here")
    result = stt.transcribe_sync(np.zeros(200, dtype=np.int16), 8000)
    assert result.text == ""


def test_bad_arguments_are_our_errors() -> None:
    with pytest.raises(ValueError, match="threads"):
        WhisperSTT(threads=0)
    with pytest.raises(ValueError, match="sample_rate"):
        WhisperSTT().transcribe_sync(np.zeros(10, dtype=np.int16), 0)


def test_hints_join_the_prompt_within_a_word_budget() -> None:
    stt = WhisperSTT(prompt="Add a task.")
    assert stt.prompt_for(()) == "Add a task."
    assert stt.prompt_for(["buy milk", "  call   the dentist "]) == (
        "Add a task. Tasks: buy milk, call the dentist."
    )
    long = ["word " * 30, "pay rent", "x " * 40, "water plants"]
    prompt = stt.prompt_for(long) or ""
    assert "pay rent" in prompt and "water plants" in prompt and len(prompt.split()) <= 3 + 50
    assert WhisperSTT(prompt=None).prompt_for(["buy milk"]) == "Tasks: buy milk."
    assert WhisperSTT(prompt=None).prompt_for(["", " "]) is None
