"""End to end on loopback: baresip calls callport's SIP channel, its flow enters `support`;
baresip hears hold music (non-silent audio, recorded on its side) until the agent answers,
then audio flows both ways through the bridge; the call record gets the queue events."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone
from queue_support import queue, rms, service
from sip_support import BARESIP, free_udp_port, open_channel, stop_baresip, write_baresip_config

from callport.call.call import Call
from callport.call.leg import Leg
from callport.call.queueing import AgentAnswered, QueueOutcome
from callport.call.session import CallSession
from callport.metrics import Metrics
from callport.types import CallInfo
from callport.vad.turn import TurnDetector

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]


class QueueRuntime:
    """Runs every SIP call into queue ``support``."""

    settings = None

    def __init__(self, queues: object) -> None:
        self.queues = queues
        self.outcomes: list[QueueOutcome] = []
        self.done = asyncio.Event()

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        session = CallSession(leg=leg, vad=EnergyVad(), turn=TurnDetector(),  # type: ignore[arg-type]
                              metrics=Metrics())
        call = Call(session=session, info=info, stt=ScriptedSTT([]), tts=ToneTTS(),
                    agent_factory=lambda i: EchoTextAgent(), clock=asyncio.get_running_loop().time)
        call.queues = self.queues  # type: ignore[assignment]
        session.start()
        try:
            self.outcomes.append(await call.enqueue("support"))
        finally:
            await call.hangup()
            await session.close()
            self.done.set()


def heard(rec: Path) -> np.ndarray:
    files = sorted(rec.glob("*-dec.wav"))
    assert files, list(rec.iterdir())
    with wave.open(str(files[-1])) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


async def test_a_sip_caller_hears_hold_music_then_talks_to_the_agent(tmp_path: Path) -> None:
    events: list[str] = []

    async def record(call_id: str, kind: str, detail: str) -> None:
        events.append(detail)

    svc, reach = service(queue(), agents={"alice": ("support",)}, events=record)
    reach.agent("alice").delay_s = 3.0  # the caller waits 3 s on music first
    t = np.arange(8000 * 30) / 8000
    source = tmp_path / "voice.wav"
    with wave.open(str(source), "wb") as w:  # baresip's microphone: a 440 Hz tone
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((9000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())
    sip_port, ctrl_port = free_udp_port(), free_udp_port()
    conf = write_baresip_config(
        tmp_path, source_wav=source, sip_port=sip_port, ctrl_port=ctrl_port,
        rtp_low=40000 + (sip_port % 200) * 100,
        account="<sip:caller@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU")
    runtime = QueueRuntime(svc)
    async with open_channel(runtime) as channel:
        assert BARESIP is not None
        proc = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(conf), "-t", "25", "-e",
            f"/dial sip:support@127.0.0.1:{channel.port}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 20)
            assert offer.queue == "support" and offer.caller.channel == "sip"
            await asyncio.sleep(0.5)
            await agent_leg.speak(tone(1.5, 16000, 1000.0, amp=9000), 16000)  # alice speaks
            await asyncio.sleep(1.0)
            loud_from_caller = sum(1 for f in agent_leg.sent if rms(f) > 2000)
            agent_leg.caller_hangup()  # alice hangs up: callport ends the caller's call
            await asyncio.wait_for(runtime.done.wait(), 10)
        finally:
            await asyncio.sleep(0.5)
            await stop_baresip(proc, ctrl_port)
    assert person.name == "alice"
    [outcome] = runtime.outcomes
    assert isinstance(outcome, AgentAnswered) and outcome.agent == "alice"
    assert outcome.ended_by == "agent"
    assert loud_from_caller >= 25  # baresip's tone reached alice through the bridge
    pcm = heard(tmp_path / "rec").astype(np.float64)
    wait = pcm[int(0.5 * 8000):int(2.5 * 8000)]  # on hold: before alice answered at 3 s
    frames = wait[: len(wait) // 160 * 160].reshape(-1, 160)
    quiet = int(np.sum(np.sqrt(np.mean(frames ** 2, axis=1)) < 50))
    assert rms(wait.astype(np.int16)) > 300 and quiet <= 5, "silence on hold"
    spectrum = np.abs(np.fft.rfft(pcm))
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    assert spectrum[(freqs > 990) & (freqs < 1010)].max() > 5 * np.median(spectrum)  # alice
    assert events[0] == "joined support" and events[1].startswith("answered support: alice")
    await svc.close()
