"""callport holds a real SIP peer (sipp) and resumes it, on 127.0.0.1.

sipp calls in; the flow puts the caller on hold (``Call.put_on_hold``: hold music at once,
then a re-INVITE ``a=sendonly`` that sipp answers ``a=recvonly``) and takes it off hold a
second later (re-INVITE ``a=sendrecv``). sipp's scenario checks both offers and their CSeqs
(2, then 3, in callport's own CSeq space); the test's RTP socket, named in sipp's SDP, is the
held party's ear: every frame it gets while the call is held is hold music, none silence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sip_support import free_udp_port, needs_sipp, open_channel, run_sipp

from callport.agents.base import CallInfo
from callport.audio.g711 import ulaw_decode
from callport.call.call import Call
from callport.call.controls import Accepted, ControlResult
from callport.call.leg import Leg
from callport.call.session import CallSession
from callport.metrics import Metrics
from callport.speech.base import SpeechChunk, Transcript
from callport.vad.turn import TurnDetector

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]

SCENARIOS = Path(__file__).parent / "scenarios"
HELD_S = 1.0


class _Silent:
    async def transcribe(self, pcm: object, sample_rate: int, *, hints: object = ()) -> Transcript:
        return Transcript(text="", seconds=0.0)

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        return
        yield  # pragma: no cover


class HoldingRuntime:
    """Runs each call through a real CallSession + Call: hold, wait, resume, until BYE."""

    settings = None

    def __init__(self) -> None:
        self.results: list[ControlResult] = []
        self.held_at = 0.0  # hold confirmed (the re-INVITE answered)
        self.resume_at = 0.0  # resume asked
        self.ended = asyncio.Event()
        self.peer_held: list[bool] = []

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        session = CallSession(leg=leg, vad=None, turn=TurnDetector(), metrics=Metrics())
        silent = _Silent()
        call = Call(session=session, info=info, stt=silent, tts=silent,  # type: ignore[arg-type]
                    agent_factory=lambda _info: None, clock=time.monotonic)  # type: ignore[arg-type,return-value]
        session.start()
        try:
            await asyncio.sleep(0.3)
            self.results.append(await call.put_on_hold())
            self.held_at = time.monotonic()
            await asyncio.sleep(HELD_S)
            self.resume_at = time.monotonic()
            self.results.append(await call.take_off_hold())
            self.peer_held.append(session.peer_held)
            await asyncio.wait_for(session.wait_ended(), 10)
        finally:
            await session.close()
            self.ended.set()


class Ear(asyncio.DatagramProtocol):
    """The held party's RTP port: what callport sends it, with arrival times."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, bytes]] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:  # PCMU
            self.packets.append((time.monotonic(), data[12:]))


async def test_callport_holds_sipp_with_music_and_resumes(tmp_path: Path) -> None:
    runtime = HoldingRuntime()
    sink = free_udp_port()
    loop = asyncio.get_running_loop()
    transport, ear = await loop.create_datagram_endpoint(Ear, local_addr=("127.0.0.1", sink))
    try:
        async with open_channel(runtime) as channel:
            rc, out = await run_sipp(
                "-sf", str(SCENARIOS / "uac_held_by_callport.xml"), f"127.0.0.1:{channel.port}",
                "-i", "127.0.0.1", "-p", str(free_udp_port()), "-key", "sink", str(sink),
                "-m", "1", cwd=tmp_path, timeout=20)
            assert rc == 0, out[-3000:]
            await asyncio.wait_for(runtime.ended.wait(), 5)
    finally:
        transport.close()
    assert runtime.results == [Accepted(), Accepted()]
    assert runtime.peer_held == [False]  # sipp never held us
    held = [np.asarray(ulaw_decode(p), np.float64) for t, p in ear.packets
            if runtime.held_at <= t <= runtime.resume_at]
    # ~50 frames a second while held; bounded low so a loaded machine does not fail it.
    assert len(held) >= 20, len(ear.packets)
    rms = [float(np.sqrt(np.mean(frame ** 2))) for frame in held]
    assert min(rms) > 200, sorted(rms)[:5]  # music in every frame: never silence
