"""Re-framing: turn PCM chunks of any size into frames of exactly N samples.

Channels deliver audio in whatever chunks their wire uses (Twilio 20 ms, SIP 20 or 30 ms,
browsers 10 ms or 2.67 ms worklet quanta, TTS whole sentences); VAD, pacing and RTP want
fixed frames. ``Reframer`` keeps the remainder between pushes in a preallocated buffer, so
a steady stream costs one copy per sample and one small allocation per frame.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["Reframer", "frame_samples"]


def frame_samples(rate: int, ms: float) -> int:
    """Samples in ``ms`` ms at ``rate`` Hz; must be whole (160 for 8 kHz, 20 ms)."""
    if rate <= 0 or ms <= 0:
        raise ValueError(f"rate and ms must be positive, got rate={rate} ms={ms}")
    exact = rate * ms / 1000.0
    n = round(exact)
    if abs(exact - n) > 1e-9:
        raise ValueError(f"{ms} ms at {rate} Hz is not a whole number of samples ({exact})")
    return n


class Reframer:
    """Accumulates PCM16 and hands out complete frames of ``frame_samples`` samples.

    Frames returned by ``push`` are independent arrays (safe to keep, queue or modify).
    """

    __slots__ = ("_buf", "_fill", "_frame")

    def __init__(self, *, frame_samples: int) -> None:
        if frame_samples <= 0:
            raise ValueError(f"frame_samples must be positive, got {frame_samples}")
        self._frame = frame_samples
        self._buf = np.zeros(frame_samples, dtype=np.int16)
        self._fill = 0

    @property
    def frame_samples(self) -> int:
        return self._frame

    @property
    def pending_samples(self) -> int:
        """Samples held back, waiting for the rest of their frame."""
        return self._fill

    def push(self, pcm: NDArray[np.int16]) -> list[NDArray[np.int16]]:
        """Add samples; return every frame completed by them (possibly none)."""
        if pcm.dtype != np.int16:
            raise TypeError(f"Reframer expects int16 PCM, got {pcm.dtype}")
        data = pcm.reshape(-1)
        n = self._frame
        frames: list[NDArray[np.int16]] = []
        start = 0
        if self._fill:
            take = min(n - self._fill, data.size)
            self._buf[self._fill : self._fill + take] = data[:take]
            self._fill += take
            start = take
            if self._fill < n:
                return frames
            frames.append(self._buf.copy())
            self._fill = 0
        whole = (data.size - start) // n
        if whole:
            block = data[start : start + whole * n].reshape(whole, n).copy()
            frames.extend(block)
            start += whole * n
        rest = data.size - start
        if rest:
            self._buf[:rest] = data[start:]
            self._fill = rest
        return frames

    def flush(self, pad: bool = True) -> NDArray[np.int16] | None:
        """Return what is pending (zero-padded to a full frame when ``pad``) and reset.

        Returns None when nothing is pending.
        """
        if not self._fill:
            return None
        out = self._buf.copy() if pad else self._buf[: self._fill].copy()
        if pad:
            out[self._fill :] = 0
        self._fill = 0
        return out

    def reset(self) -> None:
        """Drop pending samples (e.g. on barge-in)."""
        self._fill = 0
