"""Tone generation and the streaming DTMF detector: hits, timing, codec robustness, no talk-off."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from numpy.typing import NDArray

from callport.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callport.audio.resample import resample
from callport.audio.tones import (
    DTMF_DIGITS,
    DtmfDetector,
    DtmfHit,
    dtmf_sequence,
    dtmf_tone,
    tone,
)
from callport.audio.wav import read_wav

RATES = (8000, 16000)


def silence(rate: int, ms: float) -> NDArray[np.int16]:
    return np.zeros(round(rate * ms / 1000), dtype=np.int16)


def detect(x: NDArray[np.int16], rate: int, chunk_ms: float = 20.0) -> list[DtmfHit]:
    det = DtmfDetector(sample_rate=rate)
    n = max(1, round(rate * chunk_ms / 1000))
    hits: list[DtmfHit] = []
    for i in range(0, x.size, n):
        chunk = x[i : i + n]
        hits += det.feed(chunk, (i + chunk.size) / rate)
    return hits


def digits(hits: list[DtmfHit]) -> str:
    return "".join(h.digit for h in hits)


def spectrum_peaks(x: NDArray[np.int16], rate: int, count: int) -> list[float]:
    spec = np.abs(np.fft.rfft(x.astype(np.float64)))
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return sorted(float(freqs[i]) for i in np.argsort(spec)[-count:])


# --- generation ---------------------------------------------------------------------------


def test_tone_frequency_length_and_level() -> None:
    x = tone(1000.0, sample_rate=8000, duration_ms=500, amplitude=0.5)
    assert x.dtype == np.int16 and x.size == 4000
    assert spectrum_peaks(x, 8000, 1) == [1000.0]
    assert abs(int(np.abs(x).max()) - 16384) < 50
    assert abs(int(x[0])) < 200 and abs(int(x[-1])) < 200  # ramped edges, no click


def test_dual_tone_and_dtmf_frequencies() -> None:
    ring = tone((440, 480), sample_rate=8000, duration_ms=1000)
    assert spectrum_peaks(ring, 8000, 2) == [440.0, 480.0]
    assert spectrum_peaks(dtmf_tone("5", sample_rate=16000, duration_ms=1000), 16000, 2) == [
        770.0,
        1336.0,
    ]
    assert spectrum_peaks(dtmf_tone("d", sample_rate=8000, duration_ms=1000), 8000, 2) == [
        941.0,
        1633.0,
    ]


def test_sequence_layout() -> None:
    x = dtmf_sequence("12w3", sample_rate=8000, duration_ms=50, gap_ms=30)
    assert x.size == 3 * (400 + 240) + 4000
    assert dtmf_sequence("", sample_rate=8000).size == 0


def test_generation_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        dtmf_tone("E", sample_rate=8000)
    with pytest.raises(ValueError):
        tone(5000.0, sample_rate=8000)
    with pytest.raises(ValueError):
        tone(440.0, sample_rate=0)


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_detects_every_key_once_in_order(rate: int) -> None:
    x = np.concatenate([silence(rate, 100), dtmf_sequence(DTMF_DIGITS, sample_rate=rate)])
    hits = detect(x, rate)
    assert digits(hits) == DTMF_DIGITS
    # Key k starts at 100 ms + k * 200 ms; onsets land within one 10 ms hop.
    for k, hit in enumerate(hits):
        assert abs(hit.at - (0.1 + 0.2 * k)) <= 0.011


@pytest.mark.parametrize("rate", [22050, 24000, 48000])
def test_detects_at_other_rates(rate: int) -> None:
    x = dtmf_sequence("0#7", sample_rate=rate, duration_ms=50, gap_ms=50)
    assert digits(detect(x, rate, 7.0)) == "0#7"


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_detects_after_g711_round_trip_at_8k(encode: object, decode: object) -> None:
    assert callable(encode) and callable(decode)
    x = dtmf_sequence("147*2580369#", sample_rate=8000, duration_ms=60, gap_ms=60)
    assert digits(detect(decode(encode(x)), 8000)) == "147*2580369#"


def test_detects_after_phone_path_8k_ulaw_to_16k() -> None:
    x = ulaw_decode(ulaw_encode(dtmf_sequence("9#", sample_rate=8000)))
    assert digits(detect(resample(x, 8000, 16000), 16000)) == "9#"


@pytest.mark.parametrize("chunk_ms", [2.5, 7.0, 20.0, 30.0, 1000.0])
def test_result_does_not_depend_on_chunking(chunk_ms: float) -> None:
    x = np.concatenate([silence(8000, 37), dtmf_sequence("8675309", sample_rate=8000)])
    ref = detect(x, 8000, 20.0)
    got = detect(x, 8000, chunk_ms)
    assert digits(got) == "8675309"
    assert [round(h.at, 4) for h in got] == [round(h.at, 4) for h in ref]


@pytest.mark.parametrize("rate", RATES)
def test_minimum_duration(rate: int) -> None:
    for ms, expected in ((20, 0), (25, 0), (40, 1), (45, 1), (2000, 1)):
        x = np.concatenate([silence(rate, 13), dtmf_tone("3", sample_rate=rate, duration_ms=ms)])
        x = np.concatenate([x, silence(rate, 100)])
        assert len(detect(x, rate)) == expected, ms


def test_repeated_key_with_short_gap_counts_twice_and_dropout_once() -> None:
    rate = 8000
    key = dtmf_tone("7", sample_rate=rate, duration_ms=80)
    twice = np.concatenate([key, silence(rate, 45), key, silence(rate, 50)])
    assert digits(detect(twice, rate)) == "77"
    dropout = np.concatenate([key, silence(rate, 10), key, silence(rate, 50)])
    assert digits(detect(dropout, rate)) == "7"


def test_key_change_without_gap_reports_both() -> None:
    rate = 8000
    x = np.concatenate(
        [dtmf_tone(d, sample_rate=rate, duration_ms=100) for d in "12"] + [silence(rate, 50)]
    )
    assert digits(detect(x, rate)) == "12"


def test_level_twist_and_noise() -> None:
    rate = 8000
    quiet = dtmf_sequence("5", sample_rate=rate, amplitude=0.02)  # -34 dBFS per tone
    assert digits(detect(quiet, rate)) == "5"
    too_quiet = dtmf_sequence("5", sample_rate=rate, amplitude=0.01)  # -40 dBFS
    assert digits(detect(too_quiet, rate)) == ""
    row = tone(770.0, sample_rate=rate, duration_ms=100, amplitude=0.3)
    for col_amp, expected in ((0.15, "5"), (0.05, "")):  # -6 dB twist ok, -15.6 dB not
        col = tone(1336.0, sample_rate=rate, duration_ms=100, amplitude=col_amp)
        assert digits(detect(np.concatenate([row + col, silence(rate, 50)]), rate)) == expected
    rng = np.random.default_rng(7)
    x = dtmf_sequence("0#", sample_rate=rate).astype(np.float64)
    noisy = x + rng.standard_normal(x.size) * 0.25 * 32767 * 10 ** (-15 / 20)  # 15 dB SNR
    assert digits(detect(noisy.astype(np.int16), rate)) == "0#"


def test_reset_forgets_tone_in_progress() -> None:
    det = DtmfDetector(sample_rate=8000)
    key = dtmf_tone("4", sample_rate=8000, duration_ms=200)
    assert digits(det.feed(key[:800], 0.1)) == "4"
    det.reset()
    assert digits(det.feed(key[800:], 0.2)) == "4"  # still on after reset: a new press


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        DtmfDetector(sample_rate=1000)
    with pytest.raises(TypeError):
        DtmfDetector(sample_rate=8000).feed(np.zeros(160, dtype=np.float32), 0.02)


# --- talk-off: speech, music and noise must not produce digits ----------------------------


def _resonator(x: NDArray[np.float64], freq: float, rate: int) -> NDArray[np.float64]:
    """Two-pole formant resonator (80 Hz bandwidth) as a direct recursion."""
    r = np.exp(-np.pi * 80.0 / rate)
    a1, a2 = -2 * r * np.cos(2 * np.pi * freq / rate), r * r
    y = np.zeros_like(x)
    y1 = y2 = 0.0
    for i, v in enumerate(x):
        y0 = v - a1 * y1 - a2 * y2
        y[i], y2, y1 = y0, y1, y0
    return y


def vowel(f0: float, formants: tuple[float, ...], rate: int, glide: float) -> NDArray[np.int16]:
    """A glottal pulse train at pitch ``f0`` (gliding by ``glide``) through formant filters."""
    n = int(rate * 0.5)
    t = np.arange(n) / rate
    phase = np.cumsum(2 * np.pi * f0 * (1 + glide * t / 0.5) / rate)
    y = (np.diff(np.floor(phase / (2 * np.pi)), prepend=0.0) > 0).astype(np.float64)
    for f in formants:
        y = _resonator(y, f, rate)
    out: NDArray[np.int16] = (y / np.abs(y).max() * 12000).astype(np.int16)
    return out


VOWELS = {
    "a": (730, 1090, 2440),
    "i": (270, 2290, 3010),
    "u": (300, 870, 2240),
    "e": (530, 1840, 2480),
    "o": (570, 840, 2410),
}


@pytest.mark.parametrize("rate", RATES)
def test_no_hits_on_synthetic_vowels(rate: int) -> None:
    for formants in VOWELS.values():
        for f0 in (100.0, 150.0, 230.0):
            for glide in (0.0, 0.3):
                x = vowel(f0, formants, rate, glide)
                if rate == 8000:
                    x = ulaw_decode(ulaw_encode(x))
                assert detect(x, rate) == [], (formants, f0, glide)


@pytest.mark.parametrize("rate", RATES)
def test_no_hits_on_chords_and_noise(rate: int) -> None:
    t = np.arange(int(rate * 0.25)) / rate
    for midi in range(60, 84, 2):
        for chord in ((0, 4, 7), (0, 3, 7, 10), (0, 7, 12)):
            wave = np.zeros_like(t)
            for step in chord:
                f = 440.0 * 2 ** ((midi + step - 69) / 12)
                for h in (1, 2, 3):
                    if f * h < rate / 2:
                        wave += np.sin(2 * np.pi * f * h * t) / h
            x = (wave / np.abs(wave).max() * 12000).astype(np.int16)
            assert detect(x, rate) == [], (midi, chord)
    rng = np.random.default_rng(3)
    white = (rng.standard_normal(rate * 3) * 4000).astype(np.int16)
    assert detect(white, rate) == []


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_no_hits_on_synthesized_speech() -> None:
    text = "Press one for sales, two for support. Add a task to buy milk at nine, seven, zero."
    for voice, pitch in (("en-us", "50"), ("en-us+f3", "80")):
        out = subprocess.run(
            ["espeak-ng", "-v", voice, "-p", pitch, "--stdout", text],
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
        pcm, rate = read_wav(out)
        phone = ulaw_decode(ulaw_encode(resample(pcm, rate, 8000)))
        assert detect(phone, 8000) == []
        assert detect(resample(pcm, rate, 16000), 16000) == []
        # ...and a loud key pressed while the prompt plays is still heard (talk-down).
        key = dtmf_tone("6", sample_rate=8000, duration_ms=100, amplitude=0.4).astype(np.int32)
        for at in (4000, 9600, 15200):
            mixed = phone.astype(np.int32)
            mixed[at : at + key.size] += key
            hits = detect(np.clip(mixed, -32768, 32767).astype(np.int16), 8000)
            assert digits(hits) == "6", (voice, at)
