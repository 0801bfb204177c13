"""webrtcvad fallback: same stream/score shape as Silero, 0/1 per frame."""

from __future__ import annotations

import numpy as np
import pytest

from callport.vad.base import VadUsageError
from callport.vad.silero import SileroVad
from callport.vad.webrtc import WebRtcVad


def buzz(seconds: float, rate: int) -> np.ndarray:  # type: ignore[type-arg]
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * 140.0 * h * t) / h for h in range(1, 15))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t)
    return (7000.0 * wave * envelope).astype(np.int16)


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_frames_score_zero_or_one_at_frame_ends(rate: int, frame_ms: int) -> None:
    vad = WebRtcVad(frame_ms=frame_ms)
    stream = vad.new_stream(rate)
    pcm = np.concatenate([np.zeros(rate // 2, dtype=np.int16), buzz(0.6, rate)])
    scores = []
    for i in range(0, pcm.size, 123):  # odd chunk size: the stream re-frames
        scores += vad.process(stream, pcm[i : i + 123])
    count = pcm.size // (rate * frame_ms // 1000)
    assert [s.at for s in scores] == pytest.approx(
        [(k + 1) * frame_ms / 1000 for k in range(count)]
    )
    assert {s.prob for s in scores} <= {0.0, 1.0}
    silent = [s.prob for s in scores if s.at <= 0.5]
    voiced = [s.prob for s in scores if s.at > 0.6]
    assert max(silent) == 0.0
    assert sum(voiced) / len(voiced) > 0.9


def test_batch_equals_one_by_one_and_keeps_streams_apart() -> None:
    vad = WebRtcVad(aggressiveness=3)
    pcms = [
        np.concatenate([np.zeros(800 * (i + 1), dtype=np.int16), buzz(0.5, 8000)]) for i in range(6)
    ]
    alone = [vad.process(vad.new_stream(8000), pcm) for pcm in pcms]
    streams = [vad.new_stream(8000) for _ in pcms]
    for stream, pcm in zip(streams, pcms, strict=True):
        stream.push(pcm)
    assert vad.score(streams) == alone
    first_speech = [next(s.at for s in scores if s.prob == 1.0) for scores in alone]
    assert first_speech == sorted(first_speech) and first_speech[0] < first_speech[-1]


def test_pending_and_media_clock_offset() -> None:
    vad = WebRtcVad(frame_ms=20)
    stream = vad.new_stream(16000, start=3.0)
    stream.push(np.zeros(700, dtype=np.int16))
    assert stream.pending == 2
    assert [s.at for s in vad.score([stream])[0]] == pytest.approx([3.02, 3.04])
    assert stream.pending == 0


def test_misuse_is_reported() -> None:
    with pytest.raises(VadUsageError):
        WebRtcVad(aggressiveness=4)
    with pytest.raises(VadUsageError):
        WebRtcVad(frame_ms=25)
    with pytest.raises(VadUsageError):
        WebRtcVad().new_stream(22050)
    with pytest.raises(VadUsageError):
        WebRtcVad().score([SileroVad().new_stream(8000)])
