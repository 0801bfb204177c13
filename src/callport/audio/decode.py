"""Any audio file a person is likely to hand us, as 16 kHz mono PCM16.

WAV goes through ``callport.audio.wav`` (every common encoding, any channel count);
everything else (FLAC, MP3, Ogg/Opus, M4A/AAC, AIFF, WebM...) through FFmpeg's decoders
via PyAV (``av``, installed with aiortc), down-mixed to mono. Any sample rate (44.1 kHz,
96 kHz, 11.025 kHz...) is resampled to 16 kHz with soxr (HQ). A file no decoder reads, such
as a text file, raises ``AudioFileError`` with one line that says what is wrong and what to
do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from callport.audio.wav import WavError, read_wav

__all__ = ["AudioFileError", "read_audio"]

TARGET_RATE = 16000  # what non-WAV files are decoded to (the call's wide-band rate)


class AudioFileError(ValueError):
    """The file is missing or no decoder reads it (the message says what to do)."""


def read_audio(path: Path) -> tuple[NDArray[np.int16], int]:
    """16 kHz mono PCM16 (and that rate), from a WAV file or anything FFmpeg decodes."""
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file; give an audio file (WAV, FLAC, MP3, ...)")
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot read it ({exc.strerror})") from None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        try:
            pcm, rate = read_wav(path)
        except WavError as exc:
            raise AudioFileError(f"{path}: {exc}; convert it to 16-bit PCM WAV "
                                 f"(e.g. `sox {path} -b 16 out.wav`)") from None
    else:
        pcm, rate = _decode_other(path)
    if len(pcm) == 0:
        raise AudioFileError(f"{path}: the file holds no audio; record the caller's turn")
    if rate != TARGET_RATE:
        import soxr

        audio = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, TARGET_RATE, quality="HQ")
        pcm = np.clip(np.rint(audio * 32768.0), -32768, 32767).astype(np.int16)
        rate = TARGET_RATE
    return pcm, rate


def _decode_other(path: Path) -> tuple[NDArray[np.int16], int]:
    try:
        import av
    except ImportError:  # pragma: no cover - av comes with aiortc
        raise AudioFileError(f"{path}: not a WAV file, and PyAV is missing to decode other "
                             "formats: pip install av, or convert it to WAV") from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioFileError(f"{path}: has no audio stream; give an audio file "
                                     "(WAV, FLAC, MP3, Ogg, ...)")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=TARGET_RATE)
            chunks: list[NDArray[np.int16]] = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
    except AudioFileError:
        raise
    except Exception:  # av.error.InvalidDataError and friends: not audio we can read
        raise AudioFileError(f"{path}: not an audio file any installed decoder reads; give "
                             "a WAV, FLAC, MP3 or Ogg recording") from None
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return pcm, TARGET_RATE
