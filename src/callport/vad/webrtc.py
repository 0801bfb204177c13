"""webrtcvad fallback: the WebRTC GMM detector, ~2 µs per frame, no model file.

Same shape as Silero: per-call ``WebRtcStream`` objects scored in batches by ``WebRtcVad``.
Each 10, 20 or 30 ms frame scores probability 1.0 (speech) or 0.0. The detector adapts to
noise, so every stream owns its own ``webrtcvad.Vad`` instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callport.errors import MissingSpeechDependency
from callport.types import PCM16
from callport.vad.base import VadScore, VadStream, VadUsageError
from callport.vad.buffer import WindowBuffer

RATES = (8000, 16000, 32000, 48000)
FRAME_MS = (10, 20, 30)


def _new_detector(aggressiveness: int) -> Any:
    try:
        import webrtcvad
    except ImportError as exc:
        raise MissingSpeechDependency(
            "webrtcvad is not installed: pip install webrtcvad-wheels"
        ) from exc
    return webrtcvad.Vad(aggressiveness)


class WebRtcStream:
    """One call's webrtcvad input buffer and detector."""

    __slots__ = ("_buffer", "_detector")

    def __init__(
        self, *, sample_rate: int, frame_ms: int = 20, aggressiveness: int = 2, start: float = 0.0
    ) -> None:
        if sample_rate not in RATES:
            raise VadUsageError(f"webrtcvad runs at {RATES} Hz, not {sample_rate}")
        if frame_ms not in FRAME_MS:
            raise VadUsageError(f"webrtcvad frames are 10, 20 or 30 ms, not {frame_ms}")
        if aggressiveness not in range(4):
            raise VadUsageError(f"webrtcvad aggressiveness is 0-3, not {aggressiveness}")
        window = sample_rate * frame_ms // 1000
        self._buffer = WindowBuffer(sample_rate=sample_rate, window=window, start=start)
        self._detector = _new_detector(aggressiveness)

    @property
    def sample_rate(self) -> int:
        return self._buffer.sample_rate

    @property
    def window(self) -> int:
        return self._buffer.window

    @property
    def pending(self) -> int:
        return self._buffer.pending

    def push(self, pcm: PCM16) -> None:
        self._buffer.push(pcm)


class WebRtcVad:
    """Scores ``WebRtcStream``s; ``aggressiveness`` 0 (lenient) to 3 (strict)."""

    def __init__(self, *, aggressiveness: int = 2, frame_ms: int = 20) -> None:
        if aggressiveness not in range(4):
            raise VadUsageError(f"webrtcvad aggressiveness is 0-3, not {aggressiveness}")
        if frame_ms not in FRAME_MS:
            raise VadUsageError(f"webrtcvad frames are 10, 20 or 30 ms, not {frame_ms}")
        self.aggressiveness = aggressiveness
        self.frame_ms = frame_ms

    def new_stream(self, sample_rate: int, *, start: float = 0.0) -> WebRtcStream:
        return WebRtcStream(
            sample_rate=sample_rate,
            frame_ms=self.frame_ms,
            aggressiveness=self.aggressiveness,
            start=start,
        )

    def process(self, stream: VadStream, pcm: PCM16) -> list[VadScore]:
        stream.push(pcm)
        return self.score([stream])[0]

    def score(self, streams: Sequence[VadStream]) -> list[list[VadScore]]:
        """Score every full frame of every stream (a stream listed twice: first index)."""
        out: list[list[VadScore]] = [[] for _ in streams]
        seen: set[int] = set()
        for index, stream in enumerate(streams):
            if not isinstance(stream, WebRtcStream):
                raise VadUsageError(f"WebRtcVad cannot score {type(stream).__name__}")
            if id(stream) in seen:
                continue
            seen.add(id(stream))
            out[index] = self._score_one(stream)
        return out

    @staticmethod
    def _score_one(stream: WebRtcStream) -> list[VadScore]:
        buffer = stream._buffer
        count = buffer.pending
        if not count:
            return []
        first = buffer.consumed
        rate, window = buffer.sample_rate, buffer.window
        frames = buffer.take(count)
        return [
            VadScore(
                prob=1.0 if stream._detector.is_speech(frame.tobytes(), rate) else 0.0,
                at=buffer.start + (first + (k + 1) * window) / rate,
            )
            for k, frame in enumerate(frames)
        ]
