"""Deterministic stand-ins for the speech services, for call-core tests."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Sequence

import numpy as np

from callport.agents.base import (
    AgentInput,
    AgentOutput,
    HangUpCall,
    Say,
    TurnInfo,
    UserPressed,
    UserSaid,
)
from callport.call.events import PCM16
from callport.speech.base import SpeechChunk, Transcript
from callport.vad.base import VadScore


def tone(seconds: float, rate: int, freq: float = 440.0, amp: int = 8000) -> PCM16:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * math.pi * freq * t)).astype(np.int16)


class EnergyStream:
    """A VadStream that scores 20 ms windows by energy: loud = speech."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._window = sample_rate // 50
        self._buf = np.zeros(0, dtype=np.int16)
        self._samples = 0

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def pending(self) -> int:
        return len(self._buf) // self._window

    def push(self, pcm: PCM16) -> None:
        self._buf = np.concatenate([self._buf, pcm])

    def drain(self) -> list[VadScore]:
        out = []
        while len(self._buf) >= self._window:
            w, self._buf = self._buf[: self._window], self._buf[self._window :]
            self._samples += self._window
            loud = float(np.sqrt(np.mean(w.astype(np.float64) ** 2))) > 500
            out.append(VadScore(prob=1.0 if loud else 0.0, at=self._samples / self._rate))
        return out


class EnergyVad:
    def new_stream(self, sample_rate: int) -> EnergyStream:
        return EnergyStream(sample_rate)

    async def score(self, stream: EnergyStream, pcm: PCM16) -> list[VadScore]:  # type: ignore[override]
        stream.push(pcm)
        return stream.drain()


class ScriptedSTT:
    """Returns the next scripted transcript for each utterance, and records the audio."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = deque(texts)
        self.heard: list[PCM16] = []
        self.hints: list[tuple[str, ...]] = []

    async def transcribe(
        self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
    ) -> Transcript:
        self.heard.append(pcm)
        self.hints.append(tuple(hints))
        return Transcript(text=self.texts.popleft() if self.texts else "", seconds=0.001)


class ToneTTS:
    """0.1 s of tone per word, one chunk per sentence, at 16 kHz."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.spoken: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        for sentence in [s.strip() for s in text.split(".") if s.strip()]:
            self.spoken.append(sentence)
            words = len(sentence.split())
            yield SpeechChunk(tone(0.1 * words, 16000, 300.0), 16000, sentence + ".")


class EchoTextAgent:
    """Repeats what it hears; 'bye' ends the call; records interruptions."""

    def __init__(self) -> None:
        self.inputs: list[AgentInput] = []
        self.heard: list[str] = []

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        self.inputs.append(event)
        match event:
            case UserSaid(text=text) if "bye" in text:
                yield TurnInfo("goodbye", 1.0)
                yield Say("Goodbye.")
                yield HangUpCall()
            case UserSaid(text=text):
                yield TurnInfo("echo", 0.9, {"text": text})
                yield Say(f"You said {text}. That is all. Anything else.")
            case UserPressed(digits=d):
                yield TurnInfo("digit", 1.0)
                yield Say(f"You pressed {d}.")
            case _:
                pass

    def interrupted(self, heard: str) -> None:
        self.heard.append(heard)
