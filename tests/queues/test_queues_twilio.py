"""A Twilio caller in a queue, end to end on the simulator: Twilio media stream -> uvicorn ->
TwilioChannel -> MediaStreamLeg -> a Call entering `support`: what Twilio played to the caller
before the agent answered is hold music (non-silent), then the two hear each other."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone
from queue_support import queue, rms, service, until
from twilio_support import Server
from twilio_support import server as server  # the fixture

from callport.call.call import Call
from callport.call.leg import Leg
from callport.call.queueing import AgentAnswered, QueueOutcome
from callport.call.session import CallSession
from callport.metrics import Metrics
from callport.types import CallInfo
from callport.vad.turn import TurnDetector

pytestmark = pytest.mark.slow  # real time: a media stream over uvicorn


async def test_a_twilio_caller_waits_on_music_then_is_bridged(server: Server) -> None:
    svc, reach = service(queue(), agents={"alice": ("support",)})
    reach.agent("alice").delay_s = 2.0
    outcomes: list[QueueOutcome] = []

    async def flow(leg: Leg, info: CallInfo) -> None:
        session = CallSession(leg=leg, vad=EnergyVad(),  # type: ignore[arg-type]
                              turn=TurnDetector(), metrics=Metrics())
        call = Call(session=session, info=info, stt=ScriptedSTT([]), tts=ToneTTS(),
                    agent_factory=lambda i: EchoTextAgent(), clock=time.monotonic)
        call.queues = svc
        session.start()
        try:
            outcomes.append(await call.enqueue("support"))
        finally:
            await session.close()

    server.runtime.flow = flow
    sim = await server.call()
    _person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 15)
    assert offer.caller.channel == "twilio" and offer.caller.caller == "+15550001111"
    before = sim.heard.pcm()
    assert len(before) >= 8000, "Twilio played nothing while the caller waited"
    tail = before[-8000:]  # the last second before the answer
    frames = tail[: len(tail) // 160 * 160].reshape(-1, 160)
    assert rms(tail) > 300 and sum(1 for f in frames if rms(f) < 50) <= 2
    await asyncio.sleep(0.3)
    played = len(sim.heard.pcm())
    voice = tone(1.0, 16000, 1000.0, amp=9000)
    await agent_leg.speak(voice, 16000)  # alice speaks: the caller hears her
    caller_voice = tone(1.0, 8000, 600.0, amp=9000)
    sim.say(caller_voice)  # the caller speaks: alice hears them
    await until(lambda: len(sim.heard.pcm()) - played >= 6400  # 0.8 s of alice at least
                and sum(1 for f in agent_leg.sent if rms(f) > 2000) >= 40, timeout=15)
    heard = sim.heard.pcm()[played:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(heard))
    freqs = np.fft.rfftfreq(len(heard), 1 / 8000)
    assert spectrum[(freqs > 990) & (freqs < 1010)].max() > 5 * np.median(spectrum)
    await sim.stop()  # the caller hangs up
    await until(lambda: bool(outcomes))
    [outcome] = outcomes
    assert isinstance(outcome, AgentAnswered) and outcome.agent == "alice"
    assert outcome.ended_by == "caller" and agent_leg.hung_up_reason == "bridge-ended"
    await svc.close()
