"""energy_end: where the speech ended by the audio's energy, near the VAD's boundary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from callport.vad.edge import energy_end

RATE = 8000


def tone(seconds: float, amp: float = 8000.0) -> np.ndarray:  # type: ignore[type-arg]
    t = np.arange(round(seconds * RATE)) / RATE
    return (amp * np.sin(2 * math.pi * 300 * t)).astype(np.int16)


def quiet(seconds: float, amp: float = 0.0) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(1)
    return rng.normal(0.0, amp, round(seconds * RATE)).astype(np.int16)


def test_the_end_is_where_the_energy_stops() -> None:
    pcm = np.concatenate([tone(0.8), quiet(0.1)])  # the VAD said 0.1 s after the last sound
    assert energy_end(pcm, RATE, end_at=5.0, lookback=0.15) == pytest.approx(4.9)


def test_never_more_than_the_lookback_back() -> None:
    pcm = np.concatenate([tone(0.5), quiet(0.3)])
    assert energy_end(pcm, RATE, end_at=5.0, lookback=0.15) == pytest.approx(4.85)


def test_loud_up_to_the_vad_end_changes_nothing() -> None:
    assert energy_end(tone(0.6), RATE, end_at=5.0, lookback=0.15) == 5.0
    steady = np.concatenate([tone(0.6), quiet(0.1, amp=800.0)])  # no quieter gaps: no floor
    assert energy_end(steady, RATE, end_at=5.0, lookback=0.15) == pytest.approx(5.0, abs=0.011)


def test_on_a_noisy_line_the_end_is_where_it_falls_to_the_floor_of_its_gaps() -> None:
    hiss = 250.0  # 27 dB under the speech: above the drop, so only the floor finds the end
    pcm = np.concatenate(
        [quiet(0.2, hiss), tone(0.3), quiet(0.15, hiss), tone(0.3), quiet(0.1, hiss)]
    )
    assert energy_end(pcm, RATE, end_at=5.0, lookback=0.15) == pytest.approx(4.9)


def test_a_soft_word_end_above_the_drop_counts_as_speech() -> None:
    soft = tone(0.06, amp=8000.0 * 10 ** (-30 / 20))  # a fricative 30 dB under the vowels
    pcm = np.concatenate([tone(0.3), quiet(0.15), tone(0.3), soft, quiet(0.05)])
    assert energy_end(pcm, RATE, end_at=5.0, lookback=0.15) == pytest.approx(4.95)


def test_silence_empty_audio_or_no_lookback_keep_the_vad_end() -> None:
    assert energy_end(np.zeros(800, np.int16), RATE, end_at=2.0, lookback=0.15) == 2.0
    assert energy_end(np.zeros(0, np.int16), RATE, end_at=2.0, lookback=0.15) == 2.0
    pcm = np.concatenate([tone(0.6), quiet(0.1)])
    assert energy_end(pcm, RATE, end_at=2.0, lookback=0.0) == 2.0
