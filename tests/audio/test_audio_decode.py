"""``read_audio``: the recordings people actually have (44.1 kHz stereo WAV, FLAC, Ogg) become
16 kHz mono; a text file or a damaged WAV is one sentence that says what to do."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from callport.audio.decode import AudioFileError, read_audio


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


def write_stereo_wav(path: Path, rate: int) -> None:
    x = tone(rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([x, x], 1).tobytes())


def write_encoded(path: Path, fmt: str, codec: str, rate: int = 44100) -> None:
    x = tone(rate)
    with av.open(str(path), "w", format=fmt) as c:
        stream = c.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([x, x], 1).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(pcm))


@pytest.mark.parametrize("rate", [44100, 11025, 96000])
def test_stereo_wav_at_any_rate_becomes_16k_mono(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "a.wav"
    write_stereo_wav(path, rate)
    pcm, out_rate = read_audio(path)
    assert out_rate == 16000 and pcm.ndim == 1
    assert abs(len(pcm) - 8000) <= 16  # 0.5 s
    assert abs(dominant_hz(pcm, 16000) - 440) < 5 and 7000 < np.abs(pcm).max() <= 8100


@pytest.mark.parametrize(("fmt", "codec", "name"), [("flac", "flac", "a.flac"),
                                                    ("ogg", "libvorbis", "a.ogg")])
def test_flac_and_ogg_are_decoded(tmp_path: Path, fmt: str, codec: str, name: str) -> None:
    path = tmp_path / name
    try:
        write_encoded(path, fmt, codec)
    except Exception as exc:  # an FFmpeg build without this encoder
        pytest.skip(f"cannot encode {codec}: {exc}")
    pcm, rate = read_audio(path)
    assert rate == 16000 and len(pcm) >= 7000 and abs(dominant_hz(pcm, 16000) - 440) < 5


@pytest.mark.parametrize(("content", "says"), [
    (b"add a task to buy milk\n", "not an audio file any installed decoder reads"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x55" * 16, "convert it to 16-bit"),
    (b"", "not an audio file"),
])
def test_what_is_not_audio_says_so(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=says) as err:
        read_audio(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
