"""WAV files in and out: whatever prompt or recording someone hands us, as mono PCM16.

Reading parses the RIFF chunks directly (Microsoft RIFF/WAVE, "fmt " and "data" chunks;
stdlib ``wave`` only knows integer PCM) and accepts:

- integer PCM, 8-bit unsigned, 16/24/32-bit signed (format 1),
- IEEE float, 32/64-bit (format 3), clipped to full scale,
- G.711 A-law (format 6) and µ-law (format 7), 8-bit,
- any of these inside WAVE_FORMAT_EXTENSIBLE (0xFFFE, format code in the sub-format GUID),

with any channel count (mixed down to mono by averaging). Anything else, or a damaged
file, raises ``WavError`` naming what is wrong; streaming writers' placeholder sizes
(0 or 0xFFFFFFFF) and a truncated last chunk are tolerated.

Writing always produces canonical 44-byte-header PCM16 mono.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from callport.audio.g711 import alaw_decode, ulaw_decode

__all__ = ["WavError", "read_wav", "wav_bytes", "write_wav"]

_PCM: Final = 1
_FLOAT: Final = 3
_ALAW: Final = 6
_ULAW: Final = 7
_EXTENSIBLE: Final = 0xFFFE
_FORMAT_NAMES: Final = {_PCM: "PCM", _FLOAT: "float", _ALAW: "A-law", _ULAW: "µ-law"}


class WavError(ValueError):
    """The data is not a WAV file we can read (the message says why)."""


def _chunks(data: bytes) -> dict[bytes, memoryview]:
    """Map chunk id to body for every top-level chunk (first occurrence wins)."""
    if len(data) < 12:
        raise WavError(f"too short for a WAV header ({len(data)} bytes)")
    riff, _size, wave = struct.unpack_from("<4sI4s", data, 0)
    if riff != b"RIFF" or wave != b"WAVE":
        raise WavError(f"not a RIFF/WAVE file (starts with {bytes(data[:4])!r})")
    view = memoryview(data)
    found: dict[bytes, memoryview] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        pos += 8
        end = min(pos + size, len(data))  # clamp placeholder / truncated sizes
        if cid == b"data" and size in (0, 0xFFFFFFFF):
            end = len(data)
        found.setdefault(cid, view[pos:end])
        pos = end + (size & 1)  # chunks are padded to an even length
    return found


def _decode(
    body: memoryview, fmt: int, bits: int, channels: int
) -> NDArray[np.float64] | NDArray[np.int32]:
    """Decode the data chunk to an (n, channels) array in int16 scale."""
    width = bits // 8
    frame = width * channels
    usable = len(body) - len(body) % frame
    raw = body[:usable]
    if fmt == _PCM and bits == 8:
        samples = np.frombuffer(raw, dtype=np.uint8).astype(np.int32)
        out: NDArray[np.int32] = (samples - 128) << 8
    elif fmt == _PCM and bits == 16:
        out = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif fmt == _PCM and bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        # top two bytes, sign-extended: drop the least significant byte (24 -> 16 bit)
        out = (b[:, 2] << 24 >> 16) | b[:, 1]
    elif fmt == _PCM and bits == 32:
        out = np.frombuffer(raw, dtype="<i4") >> 16
    elif fmt == _FLOAT and bits in (32, 64):
        f = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
        f = np.nan_to_num(f, nan=0.0, posinf=1.0, neginf=-1.0)
        return (np.clip(f, -1.0, 1.0) * 32767.0).reshape(-1, channels)
    elif fmt == _ULAW and bits == 8:
        out = ulaw_decode(raw).astype(np.int32)
    elif fmt == _ALAW and bits == 8:
        out = alaw_decode(raw).astype(np.int32)
    else:
        name = _FORMAT_NAMES[fmt]
        raise WavError(f"unsupported WAV encoding: {name} with {bits} bits per sample")
    return out.reshape(-1, channels)


def _parse(data: bytes) -> tuple[NDArray[np.int16], int]:
    chunks = _chunks(data)
    fmt_body = chunks.get(b"fmt ")
    if fmt_body is None or len(fmt_body) < 16:
        raise WavError("missing or short 'fmt ' chunk")
    fmt, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt_body, 0)
    if fmt == _EXTENSIBLE:
        if len(fmt_body) < 40:
            raise WavError("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk shorter than 40 bytes")
        (fmt,) = struct.unpack_from("<H", fmt_body, 24)  # first field of the sub-format GUID
    if fmt not in _FORMAT_NAMES:
        raise WavError(f"unsupported WAV encoding: format {fmt:#x} (PCM, float, A-law, µ-law only)")
    if channels == 0:
        raise WavError("WAV declares zero channels")
    if rate == 0:
        raise WavError("WAV declares a sample rate of 0")
    if bits == 0 or bits % 8:
        raise WavError(f"unsupported bits per sample: {bits}")
    body = chunks.get(b"data")
    if body is None:
        raise WavError("missing 'data' chunk")
    frames = _decode(body, fmt, bits, channels)
    if channels == 1:
        mono = frames[:, 0]
    elif frames.dtype == np.float64:
        mono = frames.mean(axis=1)
    else:
        mono = frames.sum(axis=1) // channels
    if mono.dtype == np.float64:
        return np.rint(mono).astype(np.int16), rate
    return mono.astype(np.int16), rate


def read_wav(source: str | os.PathLike[str] | bytes | bytearray) -> tuple[NDArray[np.int16], int]:
    """Read a WAV file (path) or WAV bytes; return mono PCM16 and its sample rate."""
    if isinstance(source, bytes | bytearray):
        return _parse(bytes(source))
    return _parse(Path(source).read_bytes())


def wav_bytes(pcm: NDArray[np.int16], rate: int) -> bytes:
    """A complete PCM16 mono WAV file holding ``pcm`` at ``rate`` Hz."""
    if pcm.dtype != np.int16:
        raise TypeError(f"wav_bytes expects int16 PCM, got {pcm.dtype}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    payload = pcm.reshape(-1).astype("<i2", copy=False).tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(payload),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        len(payload),
    )
    return header + payload


def write_wav(path: str | os.PathLike[str], pcm: NDArray[np.int16], rate: int) -> None:
    """Write ``pcm`` as a PCM16 mono WAV file."""
    Path(path).write_bytes(wav_bytes(pcm, rate))
