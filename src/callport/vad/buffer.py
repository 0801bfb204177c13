"""Re-chunk a call's PCM16 into fixed VAD windows and keep its media clock."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from callport.types import PCM16
from callport.vad.base import VadUsageError


def check_pcm(pcm: PCM16) -> PCM16:
    """``pcm`` itself if it is mono PCM16 (a 1-D int16 array); VadUsageError otherwise."""
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
        raise VadUsageError("VAD input must be a 1-D int16 numpy array (mono PCM16)")
    return pcm


class WindowBuffer:
    """Accumulates PCM16 of any chunk size; hands out whole windows of ``window`` samples.

    ``at_end(k)`` is the media time (seconds, from the samples pushed, plus ``start``) at the
    end of the ``k``-th next window, so scores carry media time, never wall time.
    """

    __slots__ = ("_chunks", "_consumed", "_size", "sample_rate", "start", "window")

    def __init__(self, *, sample_rate: int, window: int, start: float = 0.0) -> None:
        if window <= 0 or sample_rate <= 0:
            raise VadUsageError(f"bad window {window} at {sample_rate} Hz")
        self.sample_rate = sample_rate
        self.window = window
        self.start = start
        self._chunks: list[PCM16] = []
        self._size = 0
        self._consumed = 0

    @property
    def pending(self) -> int:
        return self._size // self.window

    @property
    def buffered(self) -> int:
        """Samples waiting (less than a window after a full ``take``)."""
        return self._size

    @property
    def consumed(self) -> int:
        """Samples already handed out in windows."""
        return self._consumed

    def push(self, pcm: PCM16) -> None:
        if check_pcm(pcm).size:
            self._chunks.append(pcm)
            self._size += int(pcm.size)

    def take(self, count: int) -> NDArray[np.int16]:
        """Remove ``count`` whole windows (``count <= pending``) as a ``[count, window]`` array."""
        if not 0 <= count <= self.pending:
            raise VadUsageError(f"take({count}) with {self.pending} windows pending")
        need = count * self.window
        data = self._chunks[0] if len(self._chunks) == 1 else np.concatenate(self._chunks)
        rest = data[need:]
        self._chunks = [rest] if rest.size else []
        self._size = int(rest.size)
        self._consumed += need
        return data[:need].reshape(count, self.window)

    def at_end(self, k: int = 1) -> float:
        """Media time at the end of the ``k``-th window from now."""
        return self.start + (self._consumed + k * self.window) / self.sample_rate

    def clear(self) -> None:
        """Drop buffered samples (the clock still counts them as consumed)."""
        self._consumed += self._size
        self._chunks = []
        self._size = 0
