"""Sample-rate conversion between the rates callport meets: 8, 16, 22.05, 24 and 48 kHz.

``StreamResampler`` wraps ``soxr.ResampleStream`` (int16, mono) for live audio, one per
direction of a call; ``resample`` converts a whole utterance at once (before STT, or a
prompt file at load time), where there is no latency to care about.

Latency. soxr trims its filter delay, so output sample *k* lines up with input time
*k / out_rate*; but a stream holds audio back and releases it in bursts (it filters in
blocks), so at any moment up to ``latency_ms`` of input has gone in without coming out.
Measured with soxr 1.1.0 on noise pushed in 10, 20 and 30 ms chunks for 2-6 s, worst
backlog in ms (``latency_ms`` returns these, per pair and quality; rows are in_rate, columns
out_rate in kHz)::

    HQ (default)  8     16    22.05 24    48       MQ     8     16    22.05 24    48
    8             -     115   116   74    175      8      -     118   118   76    94
    16            115   -     58    37    37       16     118   -     59    38    38
    22.05         81    41    -     42    42       22.05  83    42    -     43    43
    24            74    37    39    -     39       24     76    38    39    -     40
    48            158   37    39    39    -        48     75    38    39    40    -

    LQ            8     16    22.05 24    48
    8             -     62    3     40    60
    16            62    -     2     20    20
    22.05         44    22    -     1     1
    24            40    20    21    -     21
    48            41    20    21    21    -

The steady-state average is a little over half the worst case (8k→16k HQ: 64 ms mean,
emitted as ~1660 samples every ~5 frames). Downstream code re-frames the bursts
(``callport.audio.frame.Reframer``); ``backlog_ms`` reports the live figure. Streaming
output matches one-shot ``resample`` to within 2 LSB.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import soxr
from numpy.typing import NDArray

__all__ = ["RATES", "Quality", "StreamResampler", "resample"]

Quality = Literal["HQ", "MQ", "LQ"]

RATES: Final = (8000, 16000, 22050, 24000, 48000)

_EMPTY: Final = np.zeros(0, dtype=np.int16)
_EMPTY.flags.writeable = False

# Worst backlog in ms, rows in_rate, columns out_rate, both in RATES order (see docstring).
_NA = 0.0
_LATENCY_MS: Final[dict[Quality, tuple[tuple[float, ...], ...]]] = {
    "HQ": (
        (_NA, 115, 116, 74, 175),
        (115, _NA, 58, 37, 37),
        (81, 41, _NA, 42, 42),
        (74, 37, 39, _NA, 39),
        (158, 37, 39, 39, _NA),
    ),
    "MQ": (
        (_NA, 118, 118, 76, 94),
        (118, _NA, 59, 38, 38),
        (83, 42, _NA, 43, 43),
        (76, 38, 39, _NA, 40),
        (75, 38, 39, 40, _NA),
    ),
    "LQ": (
        (_NA, 62, 3, 40, 60),
        (62, _NA, 2, 20, 20),
        (44, 22, _NA, 1, 1),
        (40, 20, 21, _NA, 21),
        (41, 20, 21, 21, _NA),
    ),
}


def _check(in_rate: int, out_rate: int, quality: str) -> None:
    for rate in (in_rate, out_rate):
        if rate not in RATES:
            raise ValueError(f"unsupported sample rate {rate}; use one of {RATES}")
    if quality not in _LATENCY_MS:
        raise ValueError(f"unsupported quality {quality!r}; use HQ, MQ or LQ")


def _as_mono16(pcm: NDArray[np.int16]) -> NDArray[np.int16]:
    if pcm.dtype != np.int16:
        raise TypeError(f"resampler expects int16 PCM, got {pcm.dtype}")
    flat = pcm.reshape(-1)
    return flat if flat.flags.c_contiguous else np.ascontiguousarray(flat)


class StreamResampler:
    """Streaming int16 mono resampler for one direction of one call.

    Identity (``in_rate == out_rate``) passes arrays through untouched, without a copy.
    """

    __slots__ = ("_fed", "_got", "_in", "_out", "_quality", "_stream")

    def __init__(self, *, in_rate: int, out_rate: int, quality: Quality = "HQ") -> None:
        _check(in_rate, out_rate, quality)
        self._in = in_rate
        self._out = out_rate
        self._quality: Quality = quality
        self._stream: soxr.ResampleStream | None = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        )
        self._fed = 0
        self._got = 0

    @property
    def in_rate(self) -> int:
        return self._in

    @property
    def out_rate(self) -> int:
        return self._out

    @property
    def latency_ms(self) -> float:
        """Worst-case audio held back by the stream for this pair and quality (measured)."""
        if self._stream is None:
            return 0.0
        return _LATENCY_MS[self._quality][RATES.index(self._in)][RATES.index(self._out)]

    @property
    def backlog_ms(self) -> float:
        """Input fed in but not yet given out, now, in ms."""
        return max(0.0, self._fed * 1000.0 / self._in - self._got * 1000.0 / self._out)

    def process(self, pcm: NDArray[np.int16]) -> NDArray[np.int16]:
        """Feed a chunk; return whatever output is ready (possibly empty)."""
        if self._stream is None:
            if pcm.dtype != np.int16:
                raise TypeError(f"resampler expects int16 PCM, got {pcm.dtype}")
            return pcm
        data = _as_mono16(pcm)
        if data.size == 0:
            return _EMPTY
        out: NDArray[np.int16] = self._stream.resample_chunk(data)
        self._fed += data.size
        self._got += out.size
        return out

    def flush(self) -> NDArray[np.int16]:
        """End of a stretch of audio: return the held-back tail, then start afresh."""
        if self._stream is None:
            return _EMPTY
        out: NDArray[np.int16] = self._stream.resample_chunk(_EMPTY, last=True)
        self.reset()
        return out

    def reset(self) -> None:
        """Drop held-back audio (barge-in, long silence) and start afresh."""
        if self._stream is not None:
            self._stream.clear()
        self._fed = 0
        self._got = 0


def resample(
    pcm: NDArray[np.int16], in_rate: int, out_rate: int, *, quality: Quality = "HQ"
) -> NDArray[np.int16]:
    """Resample a whole utterance in one go (no backlog; identity returns ``pcm`` itself)."""
    _check(in_rate, out_rate, quality)
    if in_rate == out_rate:
        if pcm.dtype != np.int16:
            raise TypeError(f"resampler expects int16 PCM, got {pcm.dtype}")
        return pcm
    data = _as_mono16(pcm)
    if data.size == 0:
        return _EMPTY.copy()
    out: NDArray[np.int16] = soxr.resample(data, in_rate, out_rate, quality=quality)
    return out
