"""A call's two directions as one stereo recording (caller left, agent right), written as it
goes: a WAV file, or (with ``key``) 16-bit stereo PCM in sealed AES-GCM chunks
(``crypt.SealedWriter``; ``wav_bytes`` makes the WAV of it).

``Recorder`` is a media tap for both directions of a session (``Direction.IN`` is the caller,
``Direction.OUT`` what was sent to the caller, whatever its source: speech, a file, a bridged
human). Frames are placed on the call's timeline by their session clock time, resampled to
16 kHz, and written in steps of ``step_s`` seconds. After each step the RIFF and data sizes in
the header are brought up to date (or one sealed chunk is appended) and the file is flushed,
so a process killed mid-call leaves a file that plays (or decrypts) up to the last step written.

Why WAV and not Ogg/Opus: nothing in the venv encodes Opus (no soundfile/pyogg/opuslib); WAV
needs no codec, every browser plays it, and its crash-safety is easy to check. The file format
is the only thing ``export`` needs; a compressed copy can be made later.

While paused (``pause``/``resume``: a sensitive gather, a flow, the agent), frames are dropped:
with ``paused="silence"`` the span becomes silence on both channels (the timeline goes on),
with ``"skip"`` it is left out (the timeline is shifted back). ``paused_s`` counts both.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from callport.audio.resample import StreamResampler
from callport.call.taps import Direction, TapFrame
from callport.recording.crypt import SealedWriter

RATE = 16000
_HEADER = 44


def _header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 2, RATE, RATE * 4, 4, 16)
            + b"data" + struct.pack("<I", data_bytes))


def wav_bytes(pcm: bytes) -> bytes:
    """A WAV file of the recorder's stereo 16 kHz PCM (a whole number of frames)."""
    pcm = pcm[:len(pcm) // 4 * 4]
    return _header(len(pcm)) + pcm


class _Channel:
    def __init__(self) -> None:
        self.chunks: list[NDArray[np.int16]] = []
        self.end = 0  # sample index (on the recording's timeline) after the last sample held
        self.expected = 0  # where the frames so far end by their clock times

    def put(self, start: int, n: int, pcm: NDArray[np.int16]) -> None:
        """A frame meant for samples ``start``..``start + n`` (its clock time); ``pcm`` is what
        the resampler gave for it (it may hold some back). A gap of more than 20 ms in the
        frames' times becomes silence; otherwise the audio follows on."""
        if start > self.expected + RATE // 50:
            self.chunks.append(np.zeros(start - self.expected, dtype=np.int16))
            self.end += start - self.expected
        self.expected = max(self.expected, start) + n
        self.chunks.append(pcm)
        self.end += len(pcm)

    def take(self, upto: int, written: int) -> NDArray[np.int16]:
        """Samples ``written``..``upto`` (zero-padded), keeping the rest."""
        held = np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)
        want = upto - written
        out = np.zeros(want, dtype=np.int16)
        n = min(want, len(held))
        out[:n] = held[:n]
        rest = held[n:]
        self.chunks = [rest] if len(rest) else []
        if upto > self.end:  # padded with silence: the frames' clock moves on too
            self.expected += upto - self.end
            self.end = upto
        return out


class Recorder:
    """A stereo WAV recorder; a ``MediaTap`` for both directions (see the module doc)."""

    def __init__(self, *, path: Path, started: float, paused: str = "silence",
                 step_s: float = 1.0, lag_s: float = 0.5, key: bytes | None = None,
                 name: str = "") -> None:
        self.path = path
        self.started = started  # session clock at sample 0
        self.skip = paused == "skip"
        self.paused_s = 0.0
        self._paused_at: float | None = None
        self._step = int(step_s * RATE)
        self._lag = int(lag_s * RATE)
        self._left = _Channel()
        self._right = _Channel()
        self._written = 0  # samples per channel in the file
        self._streams: dict[tuple[Direction, int], StreamResampler] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._sealed: SealedWriter | None = None
        self._file: BinaryIO | None = None
        if key is not None:  # encrypted as it goes: one sealed chunk per step
            self._sealed = SealedWriter(key=key, path=path, name=name or path.name)
        else:
            self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
            self._file.write(_header(0))
            self._file.flush()

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def duration_s(self) -> float:
        return self._written / RATE

    def position(self, at: float) -> float:
        """Seconds into the recording of session clock time ``at``."""
        return max(0.0, at - self.started)

    @property
    def _open(self) -> bool:
        return self._file is not None or self._sealed is not None

    def on_frame(self, frame: TapFrame) -> None:
        if not self._open or self.paused:
            return
        pcm = frame.pcm
        n = len(pcm) * RATE // frame.sample_rate  # the frame's length at 16 kHz
        if frame.sample_rate != RATE:  # one stream per direction: no clicks between frames
            key = (frame.direction, frame.sample_rate)
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = StreamResampler(in_rate=frame.sample_rate,
                                                              out_rate=RATE)
            pcm = stream.process(pcm)
        if frame.direction is Direction.IN:  # ``at`` is the end of the caller's frame
            start = round(self.position(frame.at) * RATE) - n
            self._left.put(start, n, pcm)
        else:  # ``at`` is when the frame was sent: its start
            start = round(self.position(frame.at) * RATE)
            self._right.put(start, n, pcm)
        self._flush(max(self._left.end, self._right.end) - self._lag)

    def pause(self, at: float) -> None:
        if self._paused_at is None:
            self._paused_at = at

    def resume(self, at: float) -> None:
        if self._paused_at is None:
            return
        span = max(0.0, at - self._paused_at)
        self.paused_s += span
        self._paused_at = None
        if self.skip:  # leave the span out: the timeline moves back by it
            self.started += span

    def _flush(self, upto: int) -> None:
        if not self._open or upto - self._written < self._step:
            return
        self._write(self._written + (upto - self._written) // self._step * self._step)

    def _write(self, upto: int) -> None:
        left = self._left.take(upto, self._written)
        right = self._right.take(upto, self._written)
        stereo = np.empty(2 * len(left), dtype="<i2")
        stereo[0::2] = left
        stereo[1::2] = right
        if self._sealed is not None:
            self._sealed.write(stereo.tobytes())
            self._written = upto
            return
        assert self._file is not None
        self._file.seek(0, 2)
        self._file.write(stereo.tobytes())
        self._written = upto
        self._file.seek(0)
        self._file.write(_header(self._written * 4))
        self._file.flush()

    def close(self, at: float | None = None) -> None:
        """Write what is held (up to ``at``, or the last frame) and close the file."""
        if not self._open:
            return
        if at is not None and self.paused:
            self.resume(at)
        for (direction, _rate), stream in self._streams.items():  # what they held back
            tail = stream.flush()
            channel = self._left if direction is Direction.IN else self._right
            channel.chunks.append(tail)
            channel.end += len(tail)
        end = max(self._left.end, self._right.end, self._written)
        if end > self._written:
            self._write(end)
        if self._sealed is not None:
            self._sealed.close()
            self._sealed = None
        if self._file is not None:
            self._file.close()
            self._file = None
