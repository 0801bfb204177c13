"""Hold from the agent's side (``HoldingLeg``): while held, the caller gets hold music in place
of every agent frame (never silence) and the agent hears silence; resume switches back."""

from __future__ import annotations

import numpy as np

from callport.call.controls import Capability
from callport.call.events import AudioIn
from callport.call.memory import MemoryLeg
from callport.channels.agent_hold import HoldingLeg


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


async def test_hold_replaces_the_agents_audio_with_music_and_mutes_the_caller() -> None:
    inner = MemoryLeg(call_id="agent-1", sample_rate=16000)
    leg = HoldingLeg(leg=inner)
    assert Capability.HOLD in leg.capabilities and leg.call_id == "agent-1"
    voice = (3000 * np.sin(2 * np.pi * 300 * np.arange(320) / 16000)).astype(np.int16)

    await inner.speak(np.tile(voice, 5), 16000)
    before = [await leg.recv() for _ in range(5)]
    assert all(isinstance(e, AudioIn) and np.array_equal(e.pcm, voice) for e in before)

    await leg.hold()
    await inner.speak(np.tile(voice, 100), 16000)  # 2 s of the agent talking while on hold
    held = [await leg.recv() for _ in range(100)]
    assert all(isinstance(e, AudioIn) for e in held)
    pcm = [e.pcm for e in held if isinstance(e, AudioIn)]
    assert all(len(p) == 320 and not np.array_equal(p, voice) for p in pcm)
    assert min(rms(p) for p in pcm) > 50  # music in every frame: never silence on hold
    assert leg.music_frames == 100
    await leg.send_audio(voice)  # the caller's audio on its way to the agent: silenced
    assert rms(inner.sent[-1]) == 0.0

    await leg.resume()
    await inner.speak(voice, 16000)
    after = await leg.recv()
    assert isinstance(after, AudioIn) and np.array_equal(after.pcm, voice)
    await leg.send_audio(voice)
    assert np.array_equal(inner.sent[-1], voice)
    await leg.hangup("done")
    assert inner.hung_up_reason == "done"


async def test_transfer_from_the_agent_page_goes_out_on_the_callers_line() -> None:
    from queue_support import make_call

    from callport.server.agent_page import DeskCalls, transfer_uri

    class Service:
        def __init__(self) -> None:
            self.away: list[tuple[str, bool]] = []

        def set_away(self, name: str, away: bool) -> None:
            self.away.append((name, away))

    call, caller = make_call("c-9")
    service = Service()
    calls = DeskCalls(service=service, active={"c-9": call})
    assert transfer_uri("+1 (555) 123-4567") == "tel:+15551234567"
    assert transfer_uri("sip:bob@pbx.example.com") == "sip:bob@pbx.example.com"
    assert transfer_uri("bob") is None
    assert "number" in await calls.transfer("alice", "c-9", "bob")
    assert "not available" in await calls.transfer("alice", "c-9", "queue:billing")
    assert "not on this server" in await calls.transfer("alice", "c-404", "+15551234567")
    assert await calls.transfer("alice", "c-9", "+1 555 123 4567") == ""
    assert caller.transfers == ["tel:+15551234567"]  # the caller's line was handed over
    calls.set_away("alice", True)
    assert service.away == [("alice", True)]
    await call.session.close()


async def test_the_agents_phone_holding_makes_music_while_its_audio_stops() -> None:
    from callport.call.events import HeldByPeer

    inner = MemoryLeg(call_id="agent-2", sample_rate=8000)
    leg = HoldingLeg(leg=inner)
    inner._inbox.put(HeldByPeer(True))  # the phone's re-INVITE a=inactive: no RTP comes
    assert await leg.recv() == HeldByPeer(True)
    made = [await leg.recv() for _ in range(25)]  # 0.5 s with nothing from the phone
    assert all(isinstance(e, AudioIn) and len(e.pcm) == 160 and rms(e.pcm) > 50 for e in made)
    assert [e.at for e in made if isinstance(e, AudioIn)] == sorted(
        e.at for e in made if isinstance(e, AudioIn))
    await leg.send_audio(np.full(160, 5000, np.int16))
    assert rms(inner.sent[-1]) == 0.0  # the holding phone hears nothing of the caller
    inner._inbox.put(HeldByPeer(False))
    voice = np.full(160, 1234, np.int16)
    await inner.speak(voice, 8000)
    events = [await leg.recv() for _ in range(2)]
    assert HeldByPeer(False) in events
    assert any(isinstance(e, AudioIn) and np.array_equal(e.pcm, voice) for e in events)
