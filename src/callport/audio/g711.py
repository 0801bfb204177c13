"""ITU-T G.711 µ-law and A-law codecs, bit-exact, as numpy lookup tables.

The tables are computed once at import from the reference algorithm of ITU-T G.711
(1988) as written in the public-domain Sun Microsystems ``g711.c`` that CCITT tools and
CPython's ``audioop`` also follow:

- µ-law (G.711 table 2a) works on the top 14 bits of a sample: magnitude clipped to
  8159, biased by 33, its segment is the position of the leading one (8 segments), the
  code is ``sign | segment << 4 | 4 mantissa bits`` with every bit inverted.
- A-law (G.711 table 1a) works on the top 13 bits: segment 0 and 1 share a step size,
  the code is ``sign | segment << 4 | 4 mantissa bits`` with the even bits inverted
  (XOR 0x55), positive values carry the sign bit.

Encoding indexes a 65536-entry ``uint8`` table with the sample's bit pattern; decoding
indexes a 256-entry ``int16`` table with the code byte. Both are one numpy gather per
frame, no Python loop and one output allocation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode"]

_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias (G.711 µ-law range)
_ULAW_BIAS = 0x84  # 132: the bias in 16-bit units; 33 (= 0x84 >> 2) in 14-bit units
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _all_samples() -> NDArray[np.int32]:
    """Every int16 value, ordered by its unsigned bit pattern (the table index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> NDArray[np.uint8]:
    x = _all_samples() >> 2  # 14-bit two's complement (arithmetic shift, as the reference)
    negative = x < 0
    mag = np.minimum(np.where(negative, -x, x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, mag, side="left").astype(np.int32)
    mantissa = (mag >> (np.minimum(seg, 7) + 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | mantissa)
    mask = np.where(negative, 0x7F, 0xFF)
    return (code ^ mask).astype(np.uint8)


def _build_ulaw_decode() -> NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_encode() -> NDArray[np.uint8]:
    x = _all_samples() >> 3  # 13-bit two's complement
    negative = x < 0
    mag = np.where(negative, -x - 1, x)
    seg = np.searchsorted(_ALAW_SEG_END, mag, side="left").astype(np.int32)
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> shift) & 0x0F))
    mask = np.where(negative, 0x55, 0xD5)
    return (code ^ mask).astype(np.uint8)


def _build_alaw_decode() -> NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENC = _build_ulaw_encode()
_ULAW_DEC = _build_ulaw_decode()
_ALAW_ENC = _build_alaw_encode()
_ALAW_DEC = _build_alaw_decode()
for _table in (_ULAW_ENC, _ULAW_DEC, _ALAW_ENC, _ALAW_DEC):
    _table.flags.writeable = False


def _index(pcm: NDArray[np.int16]) -> NDArray[np.uint16]:
    if pcm.dtype != np.int16:
        raise TypeError(f"G.711 encode expects int16 PCM, got {pcm.dtype}")
    return pcm.reshape(-1).view(np.uint16)


def ulaw_encode(pcm: NDArray[np.int16]) -> bytes:
    """Encode PCM16 samples to µ-law bytes, one byte per sample."""
    return _ULAW_ENC.take(_index(pcm)).tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview) -> NDArray[np.int16]:
    """Decode µ-law bytes to a new PCM16 array, one sample per byte."""
    return _ULAW_DEC.take(np.frombuffer(data, dtype=np.uint8))


def alaw_encode(pcm: NDArray[np.int16]) -> bytes:
    """Encode PCM16 samples to A-law bytes, one byte per sample."""
    return _ALAW_ENC.take(_index(pcm)).tobytes()


def alaw_decode(data: bytes | bytearray | memoryview) -> NDArray[np.int16]:
    """Decode A-law bytes to a new PCM16 array, one sample per byte."""
    return _ALAW_DEC.take(np.frombuffer(data, dtype=np.uint8))
