"""Caller audio for load: espeak-ng sentences at 8 kHz with pauses, as 20 ms µ-law frames."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from callport.audio.g711 import ulaw_encode
from callport.audio.resample import resample
from callport.audio.wav import read_wav

SENTENCES = (
    "Add a task to call the dentist on Friday morning.",
    "What is on my list for tomorrow?",
    "Mark the grocery shopping as done, thank you.",
    "Can you move the meeting with Sarah to next week?",
)
PAUSE_S = 0.8  # silence between sentences: the turn detector sees ends of turn
FRAME = 160  # 20 ms at 8 kHz


def speech_pcm(rate: int = 8000) -> NDArray[np.int16]:
    """The sentences spoken by espeak-ng, each followed by a pause, at ``rate``."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    parts: list[NDArray[np.int16]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(SENTENCES):
            path = Path(tmp) / f"s{i}.wav"
            subprocess.run([espeak, "-w", str(path), text], check=True)
            pcm, src_rate = read_wav(path)
            parts.append(resample(pcm, src_rate, rate))
            parts.append(np.zeros(int(PAUSE_S * rate), dtype=np.int16))
    return np.concatenate(parts).astype(np.int16)


def ulaw_frames(pcm: NDArray[np.int16]) -> list[bytes]:
    """20 ms µ-law frames; the quietest samples are nudged so no two frames are equal
    (frames are matched to their echo by content)."""
    frames = []
    for k in range(len(pcm) // FRAME):
        chunk = pcm[k * FRAME:(k + 1) * FRAME].astype(np.int32)
        chunk[0] = 40 * ((k % 97) + 1) * (1 if k % 2 else -1)  # a per-frame signature
        frames.append(ulaw_encode(np.clip(chunk, -32768, 32767).astype(np.int16)))
    return frames


def pcm16_frames(pcm: NDArray[np.int16], rate: int = 16000) -> list[bytes]:
    """20 ms PCM16 little-endian frames (the browser's wire format), each signed like
    ``ulaw_frames`` so no two are equal."""
    size = rate // 50
    frames = []
    for k in range(len(pcm) // size):
        chunk = pcm[k * size:(k + 1) * size].copy()
        chunk[0] = 40 * ((k % 97) + 1) * (1 if k % 2 else -1)
        frames.append(chunk.astype("<i2").tobytes())
    return frames
