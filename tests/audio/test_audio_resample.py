"""Resampling: fidelity, lengths, streaming vs one-shot, identity without copies."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from callport.audio.resample import RATES, StreamResampler, resample


def sine(freq: float, rate: int, seconds: float, amp: float = 10000.0) -> NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def stream(r: StreamResampler, pcm: NDArray[np.int16], chunk: int) -> NDArray[np.int16]:
    parts = [r.process(pcm[i : i + chunk]) for i in range(0, pcm.size, chunk)]
    parts.append(r.flush())
    return np.concatenate(parts)


def close(a: NDArray[np.int16], b: NDArray[np.int16]) -> bool:
    """Equal up to soxr's output rounding (it dithers int16 output by a couple of LSB)."""
    return a.shape == b.shape and int(np.abs(a.astype(np.int32) - b).max()) <= 2


def aligned_corr(a: NDArray[np.int16], b: NDArray[np.int16], max_lag: int) -> tuple[float, int]:
    """Best correlation of ``b`` against ``a`` over lags 0..max_lag (b delayed)."""
    best, best_lag = -1.0, 0
    n = min(a.size, b.size) - max_lag
    x = a[:n].astype(np.float64)
    for lag in range(max_lag + 1):
        y = b[lag : lag + n].astype(np.float64)
        c = float(np.corrcoef(x, y)[0, 1])
        if c > best:
            best, best_lag = c, lag
    return best, best_lag


def test_round_trip_8k_16k_8k_sine_keeps_fidelity() -> None:
    x = sine(440.0, 8000, 1.0)
    up = stream(StreamResampler(in_rate=8000, out_rate=16000), x, 160)
    down = stream(StreamResampler(in_rate=16000, out_rate=8000), up, 320)
    assert up.size == 16000 and down.size == 8000
    corr, lag = aligned_corr(x, down, 8)
    assert corr > 0.99
    assert lag == 0  # soxr trims its filter delay: output stays aligned with input
    err = down[200:-200].astype(np.float64) - x[200:-200]
    snr = 10 * np.log10(np.mean(x[200:-200].astype(np.float64) ** 2) / np.mean(err**2))
    assert snr > 30.0


@pytest.mark.parametrize("in_rate", RATES)
@pytest.mark.parametrize("out_rate", RATES)
def test_output_length_is_proportional(in_rate: int, out_rate: int) -> None:
    x = sine(300.0, in_rate, 0.5)
    y = resample(x, in_rate, out_rate)
    assert y.dtype == np.int16
    assert abs(y.size - x.size * out_rate / in_rate) <= 1
    s = stream(StreamResampler(in_rate=in_rate, out_rate=out_rate), x, in_rate // 50)
    assert abs(s.size - y.size) <= 1


@pytest.mark.parametrize(("a", "b"), [(8000, 16000), (22050, 8000), (48000, 16000), (24000, 8000)])
def test_streaming_in_20ms_chunks_matches_one_shot(a: int, b: int) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(a) * 3000).astype(np.int16)
    s = stream(StreamResampler(in_rate=a, out_rate=b), x, a // 50)
    o = resample(x, a, b)
    assert s.size == o.size
    assert int(np.abs(s.astype(np.int32) - o).max()) <= 4


def test_tone_frequency_survives_downsampling_and_alias_is_removed() -> None:
    # 1 kHz stays; 5 kHz (above the 4 kHz Nyquist of 8 kHz) must be filtered, not folded to 3 kHz.
    x = sine(1000.0, 16000, 1.0, 8000) + sine(5000.0, 16000, 1.0, 8000)
    y = resample(x.astype(np.int16), 16000, 8000).astype(np.float64)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1 / 8000)

    def at(f: float) -> float:
        return float(spec[np.argmin(np.abs(freqs - f))])

    assert at(1000) > 1000 * at(3000)


def test_backlog_is_within_documented_latency() -> None:
    for a, b in [(8000, 16000), (22050, 8000), (16000, 48000), (48000, 8000)]:
        r = StreamResampler(in_rate=a, out_rate=b)
        x = sine(200.0, a, 3.0)
        n = a // 50
        worst = 0.0
        for i in range(0, x.size, n):
            r.process(x[i : i + n])
            worst = max(worst, r.backlog_ms)
        assert 0 < worst <= r.latency_ms
        assert worst > r.latency_ms / 2  # the table is not wildly pessimistic
        r.flush()
        assert r.backlog_ms == 0.0


def test_identity_passes_through_without_copy() -> None:
    x = sine(440.0, 16000, 0.02)
    r = StreamResampler(in_rate=16000, out_rate=16000)
    assert r.process(x) is x
    assert r.flush().size == 0
    assert r.latency_ms == 0.0
    assert resample(x, 16000, 16000) is x


def test_reset_drops_backlog_and_stream_is_reusable_after_flush() -> None:
    r = StreamResampler(in_rate=8000, out_rate=16000)
    x = sine(440.0, 8000, 0.2)
    first = stream(r, x, 160)
    second = stream(r, x, 160)  # flush() restarted the stream
    assert close(first, second)
    r.process(x[:160])
    r.reset()
    assert r.backlog_ms == 0.0
    assert close(stream(r, x, 160), first)


def test_empty_and_odd_inputs() -> None:
    r = StreamResampler(in_rate=8000, out_rate=16000)
    assert r.process(np.zeros(0, dtype=np.int16)).size == 0
    assert resample(np.zeros(0, dtype=np.int16), 8000, 16000).size == 0
    strided = sine(440.0, 8000, 0.1)[::2]
    assert resample(strided, 8000, 16000).size == strided.size * 2


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        StreamResampler(in_rate=44100, out_rate=8000)
    with pytest.raises(ValueError):
        StreamResampler(in_rate=8000, out_rate=16000, quality="XQ")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StreamResampler(in_rate=8000, out_rate=16000).process(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError):
        resample(np.zeros(4, dtype=np.float32), 8000, 8000)
