"""WAV reading/writing: every accepted encoding, damaged input -> WavError, sox interop."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from callport.audio.g711 import alaw_encode, ulaw_encode
from callport.audio.wav import WavError, read_wav, wav_bytes, write_wav

PCM = (np.sin(np.arange(800) / 7.0) * 20000).astype(np.int16)


def riff(
    fmt_chunk: bytes, data: bytes, *, extra: bytes = b"", data_size: int | None = None
) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + extra + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(code: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)


def extensible(code: int, channels: int, rate: int, bits: int) -> bytes:
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    sub = struct.pack("<H", code) + guid_tail
    return fmt(0xFFFE, channels, rate, bits) + struct.pack("<HHI", 22, bits, 0x4) + sub


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_wav(path, PCM, 16000)
    pcm, rate = read_wav(path)
    assert rate == 16000 and np.array_equal(pcm, PCM)
    assert read_wav(str(path))[0].tobytes() == PCM.tobytes()
    data = wav_bytes(PCM, 8000)
    assert len(data) == 44 + 2 * PCM.size
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    back, r = read_wav(data)
    assert r == 8000 and np.array_equal(back, PCM)


def test_stdlib_wave_reads_what_we_write(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "b.wav"
    write_wav(path, PCM, 24000)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.readframes(w.getnframes()) == PCM.tobytes()


def test_ulaw_and_alaw() -> None:
    u = riff(fmt(7, 1, 8000, 8), ulaw_encode(PCM))
    a = riff(fmt(6, 1, 8000, 8), alaw_encode(PCM))
    for data in (u, a):
        pcm, rate = read_wav(data)
        assert rate == 8000 and pcm.size == PCM.size
        assert int(np.abs(pcm.astype(np.int32) - PCM).max()) <= 1024


def test_8_24_32_bit_pcm_and_float() -> None:
    x = PCM.astype(np.int32)
    u8 = ((x >> 8) + 128).astype(np.uint8).tobytes()
    b24 = b"".join(struct.pack("<i", int(v) << 8)[:3] for v in x)
    b32 = (x << 16).astype("<i4").tobytes()
    f32 = (x / 32767.0).astype("<f4").tobytes()
    f64 = (x / 32767.0).astype("<f8").tobytes()
    assert np.array_equal(read_wav(riff(fmt(1, 1, 8000, 8), u8))[0], (x >> 8) << 8)
    assert np.array_equal(read_wav(riff(fmt(1, 1, 8000, 24), b24))[0], PCM)
    assert np.array_equal(read_wav(riff(fmt(1, 1, 8000, 32), b32))[0], PCM)
    for data in (riff(fmt(3, 1, 22050, 32), f32), riff(fmt(3, 1, 22050, 64), f64)):
        pcm, rate = read_wav(data)
        assert rate == 22050 and int(np.abs(pcm.astype(np.int32) - x).max()) <= 1


def test_float_out_of_range_and_nan_are_clipped() -> None:
    f = np.array([2.0, -3.0, np.nan, np.inf, 0.5], dtype="<f4").tobytes()
    pcm, _ = read_wav(riff(fmt(3, 1, 16000, 32), f))
    assert pcm.tolist() == [32767, -32767, 0, 32767, 16384]


def test_stereo_is_mixed_to_mono() -> None:
    left = PCM.astype(np.int32)
    right = -left // 2
    inter = np.stack([left, right], axis=1).astype("<i2").tobytes()
    pcm, _ = read_wav(riff(fmt(1, 2, 48000, 16), inter))
    assert np.array_equal(pcm, ((left + right) // 2).astype(np.int16))
    stereo_float = np.stack([left, left], axis=1).astype("<f4") / 32767.0
    pcm, _ = read_wav(riff(fmt(3, 2, 48000, 32), stereo_float.tobytes()))
    assert int(np.abs(pcm.astype(np.int32) - left).max()) <= 1


def test_extensible_format() -> None:
    pcm, rate = read_wav(riff(extensible(1, 1, 16000, 16), PCM.tobytes()))
    assert rate == 16000 and np.array_equal(pcm, PCM)
    pcm, _ = read_wav(riff(extensible(7, 1, 8000, 8), ulaw_encode(PCM)))
    assert pcm.size == PCM.size


def test_extra_chunks_odd_padding_placeholder_size_and_truncation() -> None:
    odd = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd chunk, one pad byte
    data = riff(fmt(1, 1, 8000, 16), PCM.tobytes(), extra=odd)
    assert np.array_equal(read_wav(data)[0], PCM)
    streamed = riff(fmt(1, 1, 8000, 16), PCM.tobytes(), data_size=0xFFFFFFFF)
    assert np.array_equal(read_wav(streamed)[0], PCM)
    cut = riff(fmt(1, 1, 8000, 16), PCM.tobytes())[:-3]  # half a sample at the end
    assert np.array_equal(read_wav(cut)[0], PCM[:-2])


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "too short"),
        (b"RIFX\x00\x00\x00\x00WAVE", "not a RIFF"),
        (b"OggS" + b"\x00" * 40, "not a RIFF"),
        (riff(fmt(2, 1, 8000, 4), b"\x00" * 10), "format 0x2"),  # MS ADPCM
        (riff(fmt(0x55, 1, 8000, 16), b"\x00" * 10), "format 0x55"),  # MP3
        (riff(fmt(1, 1, 8000, 12), b"\x00" * 10), "bits"),
        (riff(fmt(1, 0, 8000, 16), b"\x00" * 10), "zero channels"),
        (riff(fmt(1, 1, 0, 16), b"\x00" * 10), "sample rate"),
        (riff(fmt(7, 1, 8000, 16), b"\x00" * 10), "µ-law with 16"),
        (riff(fmt(1, 1, 8000, 16)[:10], b"\x00" * 10), "fmt"),
        (b"RIFF\x04\x00\x00\x00WAVEfmt " + struct.pack("<I", 16) + fmt(1, 1, 8000, 16), "data"),
        (riff(fmt(0xFFFE, 1, 8000, 16), b""), "EXTENSIBLE"),
    ],
)
def test_unsupported_or_damaged_raise_wav_error(data: bytes, why: str) -> None:
    with pytest.raises(WavError, match=why):
        read_wav(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(tail: bytes) -> None:
    for data in (tail, b"RIFF\xff\xff\xff\xffWAVE" + tail, riff(fmt(1, 2, 8000, 16), tail)):
        try:
            pcm, rate = read_wav(data)
        except WavError:
            continue
        assert pcm.dtype == np.int16 and rate > 0


def test_write_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        wav_bytes(PCM.astype(np.float32), 8000)
    with pytest.raises(ValueError):
        write_wav(tmp_path / "x.wav", PCM, 0)


def _sox(args: list[str]) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True, timeout=30)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize(
    "encoding",
    [
        ["-e", "u-law", "-b", "8"],
        ["-e", "a-law", "-b", "8"],
        ["-e", "signed-integer", "-b", "24"],
        ["-e", "floating-point", "-b", "32"],
        ["-e", "unsigned-integer", "-b", "8"],
    ],
)
def test_reads_files_written_by_sox(tmp_path: Path, encoding: list[str]) -> None:
    src = tmp_path / "src.wav"
    write_wav(src, PCM, 8000)
    out = tmp_path / "out.wav"
    _sox([str(src), *encoding, "-c", "2", "--no-dither", str(out)])
    back = tmp_path / "back.wav"  # sox's own conversion back to 16-bit mono, the reference
    _sox([str(out), "-e", "signed-integer", "-b", "16", "-c", "1", "--no-dither", str(back)])
    ours, rate = read_wav(out)
    ref: NDArray[np.int16] = read_wav(back)[0]
    assert rate == 8000 and ours.size == PCM.size
    assert int(np.abs(ours.astype(np.int32) - ref).max()) <= 2
