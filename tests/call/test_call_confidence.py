"""The STT engine's confidence reaches the turn record (what the console charts)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from call_fakes import EchoTextAgent, EnergyVad, ToneTTS, tone
from test_call_media import RATE, SimClock, until

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.call.results import Heard
from callport.call.session import CallSession
from callport.metrics import Metrics
from callport.speech.base import Transcript
from callport.types import PCM16, CallInfo
from callport.vad.turn import TurnDetector


class ScoredSTT:
    def __init__(self, answers: list[tuple[str, float | None]]) -> None:
        self.answers = answers

    async def transcribe(self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
                         ) -> Transcript:
        text, score = self.answers.pop(0)
        return Transcript(text=text, seconds=0.001, confidence=score)


async def test_turn_records_keep_the_stt_confidence() -> None:
    leg = MemoryLeg(call_id="c1", sample_rate=RATE)
    clock = SimClock()
    session = CallSession(leg=leg, vad=EnergyVad(),  # type: ignore[arg-type]
                          turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300,
                                            barge_in_ms=100),
                          metrics=Metrics(), clock=clock, sleep=clock.sleep)
    call = Call(session=session, info=CallInfo(call_id="c1", channel="test"),
                stt=ScoredSTT([("buy milk", 0.83), ("and eggs", None)]), tts=ToneTTS(),
                agent_factory=lambda info: EchoTextAgent(), clock=clock)
    session.start()
    for expected in ("buy milk", "and eggs"):
        task = asyncio.create_task(call.listen())
        await until(call.listening.is_set)
        await leg.speak(tone(0.4, RATE), RATE, trailing_silence_s=0.5)
        heard = await asyncio.wait_for(task, 5)
        assert isinstance(heard, Heard) and heard.text == expected
    assert [t.stt_confidence for t in call.turns] == [0.83, None]
    assert call.turns[0].as_dict()["stt_confidence"] == 0.83
    await session.close()
