"""Audio sources the pacer pulls from: a clip, a WAV file, endless hold music, a live party.

A source is opened at the leg's sample rate and then read one frame at a time, at the pace
the leg plays it, so an endless source (hold music) costs one frame of memory and a bridged
party's audio is sent as it arrives. ``read(n)`` returns ``n`` samples, an empty array when a
live source has nothing yet (the pacer then awaits ``ready()``), or ``None`` once finished.
The playout puts marks into whatever a source yields, so what the caller heard is known for
every kind of audio (``callport.call.playout``).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Protocol

import numpy as np

from callport.audio.resample import StreamResampler, resample
from callport.audio.tones import tone
from callport.audio.wav import read_wav
from callport.types import PCM16

_EMPTY = np.zeros(0, dtype=np.int16)
_UNSEEN = 1 << 62  # a window's least depth before its first read


class AudioSource(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def endless(self) -> bool:
        """True when the source never ends by itself (the pacer then paces it in real time)."""
        ...

    def open(self, sample_rate: int) -> None: ...

    def read(self, samples: int) -> PCM16 | None: ...

    async def ready(self) -> None:
        """Return when ``read`` may give audio again (at once for a clip)."""
        ...


class ClipSource:
    """Finite audio (any rate): resampled once when opened; the last frame is zero-padded."""

    def __init__(self, *, pcm: PCM16, sample_rate: int, label: str = "clip") -> None:
        self._pcm = pcm
        self._rate = sample_rate
        self._label = label
        self._pos = 0

    @property
    def label(self) -> str:
        return self._label

    @property
    def endless(self) -> bool:
        return False

    def open(self, sample_rate: int) -> None:
        self._pcm = resample(self._pcm, self._rate, sample_rate)
        self._rate = sample_rate
        self._pos = 0

    def read(self, samples: int) -> PCM16 | None:
        if self._pos >= len(self._pcm):
            return None
        chunk = self._pcm[self._pos : self._pos + samples]
        self._pos += samples
        if len(chunk) < samples:
            chunk = np.concatenate([chunk, np.zeros(samples - len(chunk), dtype=np.int16)])
        return chunk

    async def ready(self) -> None:
        return None


def wav_source(path: str | os.PathLike[str], *, label: str | None = None) -> ClipSource:
    """A WAV file (PCM16 / G.711 as ``callport.audio.wav`` reads it) as a source."""
    pcm, rate = read_wav(path)
    return ClipSource(pcm=pcm, sample_rate=rate, label=label or os.fspath(path))


# A calm built-in hold loop: a slow arpeggio of soft sine chords (A major, D major, E major),
# 4.8 s, then round again. Quiet (-24 dBFS per tone) so speech over it stays detectable.
_HOLD_CHORDS: tuple[tuple[float, ...], ...] = (
    (220.0, 277.18, 329.63), (293.66, 369.99, 440.0), (329.63, 415.3, 493.88),
    (220.0, 277.18, 329.63),
)


class HoldMusic:
    """Endless hold music: the built-in loop, or ``pcm`` looped."""

    def __init__(self, *, pcm: PCM16 | None = None, sample_rate: int = 8000,
                 label: str = "hold-music") -> None:
        self._src = pcm
        self._src_rate = sample_rate
        self._label = label
        self._loop = _EMPTY
        self._pos = 0

    @property
    def label(self) -> str:
        return self._label

    @property
    def endless(self) -> bool:
        return True

    def open(self, sample_rate: int) -> None:
        if self._src is not None:
            loop = resample(self._src, self._src_rate, sample_rate)
        else:
            loop = np.concatenate([tone(chord, sample_rate=sample_rate, duration_ms=1200.0,
                                        amplitude=0.06) for chord in _HOLD_CHORDS])
        if len(loop) == 0:
            raise ValueError("hold music needs some audio")
        self._loop = loop
        self._pos = 0

    def read(self, samples: int) -> PCM16 | None:
        out = np.empty(samples, dtype=np.int16)
        filled = 0
        while filled < samples:
            take = min(samples - filled, len(self._loop) - self._pos)
            out[filled : filled + take] = self._loop[self._pos : self._pos + take]
            filled += take
            self._pos = (self._pos + take) % len(self._loop)
        return out

    async def ready(self) -> None:
        return None


class LiveSource:
    """Audio pushed by someone else (a bridged party, an echo): played as it arrives.

    ``push`` accepts any chunk size at ``sample_rate``. It behaves like a jitter buffer: the
    pacer reads it at real time, so audio that queued up behind a stall (a late loop, a burst
    from the far end) would otherwise stay queued, as added latency, for the rest of the call.
    The depth left after each read is watched over ``window_s`` of audio read; when it never
    fell to ``depth_s`` or below in that window, the excess (the oldest audio) is dropped in
    one cut, counted in ``dropped_samples`` and ``cuts``. A producer that pushes in chunks (a
    mix passed on every 200 ms) drains to near zero within each window and loses nothing, as
    long as ``window_s`` is longer than its chunks' period.
    ``max_s`` is the hard bound at push time: past it the oldest audio goes in one go, down
    to half of ``max_s`` (one cut, rather than a frame dropped at every push). ``close`` ends
    the source once what was pushed has been read. ``live`` tells the pacer the audio comes
    in real time by itself (``callport.call.pacer``).
    """

    live = True

    def __init__(self, *, sample_rate: int, label: str = "live", max_s: float = 1.0,
                 depth_s: float = 0.06, window_s: float = 0.5) -> None:
        if not (depth_s >= 0 and window_s > 0 and max_s > 0):
            raise ValueError("LiveSource needs depth_s >= 0, window_s > 0 and max_s > 0")
        self._rate = sample_rate
        self._label = label
        self._max_s = max_s
        self._depth_s = depth_s
        self._window_s = window_s
        self._out_rate = sample_rate
        self._max_samples = int(max_s * sample_rate)
        self._depth = int(depth_s * sample_rate)
        self._window = int(window_s * sample_rate)
        self._seen = 0  # samples read in the current window
        self._low = _UNSEEN  # least depth left after a read in the current window
        self._resampler: StreamResampler | None = None
        self._chunks: deque[PCM16] = deque()
        self._queued = 0
        self._closed = False
        self._event = asyncio.Event()
        self._waiter: asyncio.Event | None = None  # a starved pacer's wake (notify_ready)
        self.dropped_samples = 0
        self.cuts = 0  # times audio was dropped (either bound)

    @property
    def label(self) -> str:
        return self._label

    @property
    def endless(self) -> bool:
        return False

    @property
    def queued_samples(self) -> int:
        return self._queued

    def open(self, sample_rate: int) -> None:
        self._out_rate = sample_rate
        self._max_samples = int(self._max_s * sample_rate)
        self._depth = int(self._depth_s * sample_rate)
        self._window = max(1, int(self._window_s * sample_rate))
        self._seen = 0
        self._low = _UNSEEN
        if sample_rate != self._rate:
            self._resampler = StreamResampler(in_rate=self._rate, out_rate=sample_rate)

    def push(self, pcm: PCM16) -> None:
        if self._closed:
            return
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        if len(pcm) == 0:
            return
        self._chunks.append(pcm)
        self._queued += len(pcm)
        if self._queued > self._max_samples:
            keep = int(self._max_s * self._out_rate / 2)
            dropped = 0
            while self._queued > keep and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._queued -= len(old)
                dropped += len(old)
            self._count(dropped)
        self._ready()

    def close(self) -> None:
        self._closed = True
        self._ready()

    def _ready(self) -> None:
        self._event.set()
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    def notify_ready(self, event: asyncio.Event) -> None:
        """Set ``event`` at the next push or close (what ``ready`` waits for), once: the
        pacer's cheap wait when ``read`` had nothing yet."""
        self._waiter = event

    def read(self, samples: int) -> PCM16 | None:
        if self._queued < samples:
            if self._closed:
                if self._queued == 0:
                    return None
                tail = self._take(self._queued)
                return np.concatenate([tail, np.zeros(samples - len(tail), dtype=np.int16)])
            self._event.clear()
            self._low = 0  # ran dry: no backlog in this window
            return _EMPTY
        out = self._take(samples)
        if self._queued < self._low:
            self._low = self._queued
        self._seen += samples
        if self._seen >= self._window:
            if self._low > self._depth:
                self._drop(self._low - self._depth)
            self._seen = 0
            self._low = _UNSEEN
        return out

    def _drop(self, samples: int) -> None:
        """The oldest ``samples`` go (the head chunk may be cut)."""
        need = samples
        while need > 0:
            head = self._chunks[0]
            if len(head) <= need:
                self._chunks.popleft()
                need -= len(head)
            else:
                self._chunks[0] = head[need:]
                need = 0
        self._queued -= samples
        self._count(samples)

    def _count(self, samples: int) -> None:
        if samples:
            self.dropped_samples += samples
            self.cuts += 1

    def _take(self, samples: int) -> PCM16:
        if len(self._chunks[0]) == samples:  # pushed a frame at a time: the common case
            self._queued -= samples
            return self._chunks.popleft()
        parts: list[PCM16] = []
        need = samples
        while need > 0:
            head = self._chunks[0]
            if len(head) <= need:
                parts.append(self._chunks.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        self._queued -= samples
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    async def ready(self) -> None:
        await self._event.wait()
