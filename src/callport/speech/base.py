"""Speech service protocols: STT and TTS behind small interfaces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from callport.errors import MissingSpeechDependency
from callport.types import PCM16

# MissingSpeechDependency lives on the ground floor (callport.errors); re-exported here.
__all__ = ["STT", "TTS", "MissingSpeechDependency", "SpeechChunk", "Transcript"]


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    seconds: float  # wall time the engine spent
    # 0..1 when the engine scores its text (Whisper: the mean token probability of the kept
    # segments, ``exp(avg_logprob)``, times ``1 - no_speech_prob``), else None
    confidence: float | None = None


class STT(Protocol):
    async def transcribe(
        self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
    ) -> Transcript:
        """Transcribe one whole utterance (called after end of turn).

        ``hints`` are phrases the caller is likely to say on this call (the titles of their
        tasks, names on a menu); an engine biases its decoding toward them where it can.
        """
        ...


@dataclass(frozen=True, slots=True, eq=False)
class SpeechChunk:
    """One synthesized clause or sentence: PCM16 mono at ``sample_rate``, and its text."""

    pcm: PCM16
    sample_rate: int
    text: str


class TTS(Protocol):
    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        """Yield audio clause by clause (or sentence by sentence) as soon as each is ready."""
        ...
