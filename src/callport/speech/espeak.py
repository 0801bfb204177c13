"""TTS through the espeak-ng binary: robotic but instant (~12 ms a clause), no Python deps.

Each clause is one ``espeak-ng --stdout --stdin`` subprocess (text on stdin, so text that
starts with "-" is never read as an option); the WAV it writes is parsed with the stdlib
``wave`` module. espeak-ng writes 22050 Hz; anything else is resampled to 22050 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import wave
from collections.abc import AsyncIterator

import numpy as np

from callport.speech.base import MissingSpeechDependency, SpeechChunk
from callport.speech.text import normalize_for_speech, split_clauses
from callport.types import PCM16

__all__ = ["ESPEAK_RATE", "EspeakTTS", "parse_wav"]

log = logging.getLogger(__name__)

ESPEAK_RATE = 22050
INSTALL_HINT = "apt-get install espeak-ng"
TIMEOUT_S = 10.0


class EspeakError(RuntimeError):
    """espeak-ng ran but failed (bad voice name, crash, unreadable output)."""


def parse_wav(data: bytes) -> tuple[PCM16, int]:
    """Mono PCM16 samples and rate from a WAV file image (as espeak-ng writes to a pipe).

    espeak-ng cannot seek a pipe, so its header claims a huge data size; we read what is there.
    """
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise EspeakError(f"espeak-ng wrote no valid WAV: {exc}") from None
    if width != 2:
        raise EspeakError(f"espeak-ng wrote {8 * width}-bit audio, expected 16-bit")
    usable = len(frames) - len(frames) % (2 * channels)
    pcm = np.frombuffer(frames[:usable], dtype="<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels)[:, 0].copy()
    return pcm, rate


class EspeakTTS:
    """TTS with espeak-ng; yields one :class:`SpeechChunk` per clause at 22050 Hz."""

    def __init__(
        self,
        *,
        voice: str = "en-us",
        words_per_minute: int = 165,
        binary: str = "espeak-ng",
        long_chars: int = 60,
    ) -> None:
        path = shutil.which(binary)
        if path is None:
            raise MissingSpeechDependency(f"the {binary} program is not installed: {INSTALL_HINT}")
        self._binary = path
        self._voice = voice
        self._wpm = words_per_minute
        self._long_chars = long_chars

    @property
    def sample_rate(self) -> int:
        return ESPEAK_RATE

    async def warmup(self) -> None:
        await self.synthesize_clause("Hello.")

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        """Yield each clause of ``text`` as soon as espeak-ng has spoken it."""
        for clause in split_clauses(text, long_chars=self._long_chars):
            pcm = await self.synthesize_clause(clause)
            if pcm.size:
                yield SpeechChunk(pcm=pcm, sample_rate=ESPEAK_RATE, text=clause)

    async def synthesize_clause(self, clause: str) -> PCM16:
        """Normalize and speak one clause; PCM16 at 22050 Hz."""
        spoken = normalize_for_speech(clause)
        if not any(c.isalnum() for c in spoken):
            return np.zeros(0, dtype=np.int16)
        try:
            proc = await asyncio.create_subprocess_exec(
                self._binary, "-v", self._voice, "-s", str(self._wpm), "--stdout", "--stdin",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise MissingSpeechDependency(
                f"the {self._binary} program is not installed: {INSTALL_HINT}"
            ) from None
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(spoken.encode("utf-8")), TIMEOUT_S
            )
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            # it ended before it read the text: asyncio swallows the broken pipe, uvloop
            # raises RuntimeError on the closed stdin; either way it is the program's failure
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await asyncio.wait_for(proc.wait(), TIMEOUT_S)
            raise EspeakError(f"espeak-ng exited {code} before it read the text") from None
        except BaseException:  # timeout or cancellation (barge-in): never leave it running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0:
            raise EspeakError(
                f"espeak-ng exited {proc.returncode}: {err.decode(errors='replace').strip()}"
            )
        pcm, rate = parse_wav(out)
        if rate != ESPEAK_RATE and pcm.size:
            import soxr

            resampled = soxr.resample(pcm, rate, ESPEAK_RATE, quality="HQ")
            pcm = np.asarray(resampled, dtype=np.int16)
        return pcm
