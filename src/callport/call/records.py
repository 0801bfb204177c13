"""What a call keeps about its turns: ``TurnRecord`` (one caller turn and the answer, with a
timing breakdown), ``SayResult``, and the apologies a refused action is met with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from callport.call.controls import Capability, Refusal

# What the caller hears when a leg refuses an action the agent asked for (Call._refused).
APOLOGIES: dict[tuple[Capability, Refusal], str] = {
    (Capability.TRANSFER, Refusal.UNSUPPORTED): "Sorry, I can't transfer calls on this line.",
    (Capability.TRANSFER, Refusal.BAD_TARGET): "Sorry, I can't transfer you to that number.",
    (Capability.TRANSFER, Refusal.FAILED): "Sorry, the transfer didn't go through.",
}
APOLOGY = "Sorry, I can't do that on this call."


@dataclass(frozen=True, slots=True)
class SayResult:
    heard: str
    interrupted: bool


@dataclass(slots=True)
class TurnRecord:
    """One caller turn and the agent's answer, with a timing breakdown (milliseconds)."""

    index: int
    transcript: str = ""
    digits: str = ""
    intent: str | None = None
    score: float = 0.0
    slots: Mapping[str, str] = field(default_factory=dict)
    reply: str = ""
    heard: str = ""
    interrupted: bool = False
    endpoint_ms: float = 0.0
    stt_ms: float = 0.0
    stt_early: bool = False  # STT started at the caller's first pause (speculatively)
    stt_confidence: float | None = None  # 0..1 when the STT engine scores (speech.Transcript)
    agent_ms: float = 0.0
    tts_ms: float = 0.0
    first_audio_ms: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "transcript": self.transcript,
            "digits": self.digits,
            "intent": self.intent,
            "score": round(self.score, 3),
            "slots": dict(self.slots),
            "reply": self.reply,
            "heard": self.heard,
            "interrupted": self.interrupted,
            "stt_confidence": self.stt_confidence,
            "timing_ms": {
                "endpoint": round(self.endpoint_ms, 1),
                "stt": round(self.stt_ms, 1),
                "stt_started_early": self.stt_early,
                "agent": round(self.agent_ms, 1),
                "tts_first_clause": round(self.tts_ms, 1),
                "end_of_speech_to_first_audio": (
                    None if self.first_audio_ms is None else round(self.first_audio_ms, 1)
                ),
            },
        }


TurnListener = Callable[[TurnRecord], None]


class RecordingControl(Protocol):
    """A call's recording as the call sees it (``callport.recording.run.ActiveRecording``)."""

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...
