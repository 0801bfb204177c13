"""Signal levels and simple saturating arithmetic on PCM16.

``rms_dbfs`` measures RMS against a full-scale square wave (32768), so a full-scale sine
reads -3.01 dBFS; digital silence reads ``floor`` (default -120 dBFS) rather than -inf,
which keeps metrics and JSON finite.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["gain", "mix", "rms_dbfs"]

_FULL_SCALE = 32768.0


def rms_dbfs(pcm: NDArray[np.int16], *, floor: float = -120.0) -> float:
    """RMS level of ``pcm`` in dBFS (never below ``floor``; empty input reads ``floor``)."""
    if pcm.size == 0:
        return floor
    x = pcm.reshape(-1).astype(np.float64)
    mean_square = float(np.dot(x, x)) / x.size
    if mean_square <= 0.0:
        return floor
    return max(floor, 10.0 * math.log10(mean_square / (_FULL_SCALE * _FULL_SCALE)))


def gain(pcm: NDArray[np.int16], db: float) -> NDArray[np.int16]:
    """``pcm`` scaled by ``db`` decibels, rounded and saturated to int16 (a new array)."""
    y = np.rint(pcm.astype(np.float32) * np.float32(10.0 ** (db / 20.0)))
    out: NDArray[np.int16] = np.clip(y, -32768, 32767).astype(np.int16)
    return out


def mix(*tracks: NDArray[np.int16]) -> NDArray[np.int16]:
    """Sum tracks sample by sample with saturation; shorter tracks are zero-padded."""
    if not tracks:
        return np.zeros(0, dtype=np.int16)
    n = max(t.size for t in tracks)
    acc = np.zeros(n, dtype=np.int32)
    for t in tracks:
        acc[: t.size] += t.reshape(-1)
    return np.clip(acc, -32768, 32767).astype(np.int16)
