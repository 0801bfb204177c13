"""CallSession + Call: turns, replies, DTMF, hang-up, barge-in ordering, in simulated media time."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.agents.base import CallInfo, UserSaid
from callport.call.call import Call
from callport.call.events import PCM16, AudioIn, HungUp, LegEvent, Marked
from callport.call.inbox import EventInbox
from callport.call.leg import Capability
from callport.call.memory import MemoryLeg
from callport.call.session import CallSession
from callport.server.metrics import Metrics
from callport.vad.turn import TurnDetector


def make_call(leg: object, stt: ScriptedSTT, agent: EchoTextAgent,
              tts: ToneTTS | None = None) -> Call:
    session = CallSession(
        leg=leg,  # type: ignore[arg-type]
        vad=EnergyVad(),  # type: ignore[arg-type]
        turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300, barge_in_ms=100),
        metrics=Metrics(),
    )
    return Call(
        session=session,
        info=CallInfo(call_id="t1", channel="test"),
        stt=stt,
        tts=tts or ToneTTS(),
        agent_factory=lambda info: agent,
        clock=lambda: 0.0,
    )


async def run_flow(call: Call) -> asyncio.Task[None]:
    call.session.start()

    async def flow() -> None:
        await call.say("Hello. I am an automated assistant.")
        await call.connect(call.new_agent())

    return asyncio.create_task(flow())


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_conversation_turns_replies_and_hangup() -> None:
    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    stt = ScriptedSTT(["buy milk", "bye now"])
    agent = EchoTextAgent()
    call = make_call(leg, stt, agent)
    task = await run_flow(call)
    await until(call.listening.is_set)
    greeting_frames = len(leg.sent)
    assert greeting_frames == 5 + 25  # "Hello." 1 word, "I am an automated assistant." 5
    await leg.speak(tone(0.6, 8000), 8000, trailing_silence_s=0.6)
    await until(lambda: len(call.turns) == 1 and call.listening.is_set())
    turn = call.turns[0]
    assert (turn.transcript, turn.intent, turn.slots) == ("buy milk", "echo", {"text": "buy milk"})
    assert turn.reply == "You said buy milk. That is all. Anything else."
    assert not turn.interrupted and turn.heard == turn.reply
    # the utterance handed to STT covers the speech (0.6 s) plus pre-roll, not the whole call
    assert 0.6 <= len(stt.heard[0]) / 8000 <= 0.6 + 0.25 + 0.1
    assert turn.endpoint_ms == pytest.approx(300, abs=25)
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.6)
    await asyncio.wait_for(task, 5)
    assert leg.hung_up_reason == "agent"
    assert [t.intent for t in call.turns] == ["echo", "goodbye"]
    assert all(name in leg.marks for name in leg.marks)  # every mark was placed on the leg
    await call.session.close()


async def test_dtmf_reaches_agent() -> None:
    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    agent = EchoTextAgent()
    call = make_call(leg, ScriptedSTT([]), agent)
    task = await run_flow(call)
    await until(call.listening.is_set)
    leg.press("5")
    await until(lambda: len(call.turns) == 1 and call.listening.is_set())
    assert call.turns[0].digits == "5" and call.turns[0].reply == "You pressed 5."
    leg.caller_hangup()
    await asyncio.wait_for(task, 5)
    assert call.ended and call.session.hangup_reason == "caller"
    await call.session.close()


class RemoteBufferLeg:
    """A leg with a remote playout buffer (like Twilio's): the test plays it frame by frame."""

    def __init__(self) -> None:
        self.inbox = EventInbox()
        self.buffer: list[PCM16 | str] = []
        self.log: list[str] = []
        self.media = 0.0

    call_id = "rb"
    sample_rate = 8000
    frame_ms = 20
    lead_ms = math.inf
    capabilities: frozenset[Capability] = frozenset()

    async def recv(self) -> LegEvent:
        return await self.inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        self.buffer.append(pcm)
        self.log.append("frame")

    async def mark(self, name: str) -> None:
        self.buffer.append(name)

    async def clear(self) -> None:
        self.log.append("clear")
        for item in self.buffer:
            if isinstance(item, str):
                self.inbox.put(Marked(item, played=False))
        self.buffer.clear()

    async def hangup(self, reason: str = "normal") -> None:
        self.inbox.put(HungUp(reason))

    async def transfer(self, target: str) -> None:
        raise NotImplementedError

    async def send_dtmf(self, digits: str) -> None:
        raise NotImplementedError

    def play(self, frames: int) -> None:
        """The remote end plays ``frames`` frames, echoing marks it passes."""
        while self.buffer and (frames > 0 or isinstance(self.buffer[0], str)):
            item = self.buffer.pop(0)
            if isinstance(item, str):
                self.inbox.put(Marked(item, played=True))
            else:
                frames -= 1

    async def speak(self, pcm: PCM16) -> None:
        for i in range(0, len(pcm), 160):
            self.media += 0.02
            self.inbox.put(AudioIn(pcm[i : i + 160], at=self.media))
            await asyncio.sleep(0)


async def test_barge_in_clears_within_one_frame_and_reports_heard_text() -> None:
    leg = RemoteBufferLeg()
    stt = ScriptedSTT(["read me the list", "stop"])
    agent = EchoTextAgent()
    call = make_call(leg, stt, agent)
    task = await run_flow(call)
    await until(lambda: len(leg.buffer) > 0)
    leg.play(1000)  # greeting plays out entirely
    await until(call.listening.is_set)
    await leg.speak(np.concatenate([tone(0.5, 8000), np.zeros(4000, np.int16)]))
    # reply: "You said read me the list." (6 words, 0.6 s = 30 frames) + 2 more sentences
    await until(lambda: sum(not isinstance(x, str) for x in leg.buffer) >= 30 + 15 + 10)
    leg.play(45)  # first sentence (30 frames) and half of "That is all." (15 frames -> 7)
    await asyncio.sleep(0.01)
    frames_before = leg.log.count("frame")
    await leg.speak(tone(0.3, 8000))  # caller talks over the agent
    await until(lambda: "clear" in leg.log)
    # once the barge-in was detected the session sent no further agent frame before clearing
    assert leg.log.count("frame") == frames_before
    assert leg.log[-1] == "clear" or "frame" not in leg.log[leg.log.index("clear") :]
    await until(lambda: len(agent.heard) == 1)
    assert agent.heard[0].startswith("You said read me the list.")
    assert "Anything else" not in agent.heard[0]
    record = call.turns[0]
    assert record.interrupted and record.heard == agent.heard[0]
    assert call.session.stats.barge_ins == 1
    await leg.speak(np.zeros(4000, np.int16))
    await until(lambda: len(call.turns) == 2)
    assert call.turns[1].transcript == "stop"
    await leg.hangup("caller")
    await asyncio.wait_for(task, 5)
    await call.session.close()


async def test_stt_starts_at_the_first_pause_and_is_reused_at_end_of_turn() -> None:
    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    stt = ScriptedSTT(["first part", "whole sentence"])
    agent = EchoTextAgent()
    call = make_call(leg, stt, agent)
    task = await run_flow(call)
    await until(call.listening.is_set)
    # a 0.26 s pause (past the 0.25 s early cut, short of the 0.3 s end of turn), more speech
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.26)
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.6)
    await until(lambda: len(call.turns) == 1 and call.listening.is_set())
    # two speculative transcriptions: the first pause (dropped: speech resumed) and the final
    # pause, which became the end of turn and was reused rather than transcribed again
    assert len(stt.heard) == 2
    assert len(stt.heard[0]) < len(stt.heard[1])
    record = call.turns[0]
    assert record.stt_early and record.transcript == "whole sentence"
    leg.caller_hangup()
    await asyncio.wait_for(task, 5)
    await call.session.close()


async def test_a_failing_service_hangs_up_instead_of_leaving_silence() -> None:
    class BrokenVad(EnergyVad):
        async def score(self, stream: object, pcm: PCM16) -> list[object]:
            raise RuntimeError("boom")

    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    session = CallSession(leg=leg, vad=BrokenVad(),  # type: ignore[arg-type]
                          turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300),
                          metrics=Metrics())
    call = Call(session=session, info=CallInfo(call_id="t1", channel="test"),
                stt=ScriptedSTT([]), tts=ToneTTS(), agent_factory=lambda info: EchoTextAgent(),
                clock=lambda: 0.0)
    task = await run_flow(call)
    await until(call.listening.is_set)
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.4)
    await asyncio.wait_for(task, 5)
    assert call.ended and leg.hung_up_reason == "error"
    await call.session.close()


class VocabularyAgent(EchoTextAgent):
    """Echoes, and names what it heard last as the vocabulary of the next turn."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    async def vocabulary(self) -> list[str]:
        if self.fail:
            raise RuntimeError("store is down")
        said = [e.text for e in self.inputs if isinstance(e, UserSaid)]
        return ["buy milk", *said[-1:]]


async def test_agent_vocabulary_reaches_stt_as_hints_each_turn() -> None:
    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    stt = ScriptedSTT(["call mom", "bye now"])
    call = make_call(leg, stt, VocabularyAgent())
    task = await run_flow(call)
    await until(call.listening.is_set)
    await leg.speak(tone(0.5, 8000), 8000, trailing_silence_s=0.6)
    await until(lambda: len(call.turns) == 1 and call.listening.is_set())
    await leg.speak(tone(0.5, 8000), 8000, trailing_silence_s=0.6)
    await asyncio.wait_for(task, 5)
    # early (speculative) and final STT both carry the hints of their turn
    assert stt.hints[0] == ("buy milk",) and stt.hints[-1] == ("buy milk", "call mom")
    await call.session.close()


async def test_failing_vocabulary_does_not_end_the_call() -> None:
    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    stt = ScriptedSTT(["bye now"])
    call = make_call(leg, stt, VocabularyAgent(fail=True))
    task = await run_flow(call)
    await until(call.listening.is_set)
    await leg.speak(tone(0.5, 8000), 8000, trailing_silence_s=0.6)
    await asyncio.wait_for(task, 5)
    assert stt.hints == [()] * len(stt.hints) and [t.intent for t in call.turns] == ["goodbye"]
    await call.session.close()


class GreetingAgent(EchoTextAgent):
    greeting = "Hi, I am an automated assistant for the bakery."


@pytest.mark.parametrize(
    ("agent", "first_words"),
    [(GreetingAgent(), "Hi, I am an automated assistant for the bakery."),
     (EchoTextAgent(), "Hi, I'm an automated assistant. How can I help?")],
)
async def test_default_flow_says_the_agents_greeting_or_a_plain_one(
    agent: EchoTextAgent, first_words: str
) -> None:
    from callport.flows.default import default_flow

    leg = MemoryLeg(call_id="t1", sample_rate=8000)
    tts = ToneTTS()
    call = make_call(leg, ScriptedSTT(["bye"]), agent, tts)
    call.session.start()
    task = asyncio.create_task(default_flow(call))
    await until(call.listening.is_set)
    assert tts.spoken == [s.strip() for s in first_words.split(".") if s.strip()]
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.6)
    await asyncio.wait_for(task, 5)
    await call.session.close()
