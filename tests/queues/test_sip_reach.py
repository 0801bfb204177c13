"""``SipAgentReach``: an agent's registered SIP phone rings with the caller's identity; answered
(baresip, audio both ways), busy (486), declined (603), no answer (CANCEL), offline, cancelled,
and a forked ring over two phones."""

from __future__ import annotations

import asyncio
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))
from sip_support import (
    BARESIP,
    Peer,
    RecordingRuntime,
    free_udp_port,
    open_channel,
    stop_baresip,
    write_baresip_config,
)

from callport.call.dial import DialCause
from callport.call.taps import Direction, FrameCollector
from callport.channels.sip.agent_reach import SipAgentReach, caller_display
from callport.channels.sip.channel import SipChannel
from callport.channels.sip.message import NameAddr, SipRequest
from callport.channels.sip.registrar_bindings import Binding
from callport.queues.reach import OFFLINE, NotReached, Offer, Reached
from callport.store.memory_users import MemoryUserStore
from callport.types import CallInfo, User

pytestmark = [pytest.mark.slow, pytest.mark.interop]

OFFER = Offer(call_id="c-1", queue="support",
              caller=CallInfo(call_id="c-1", channel="sip", caller="+15551234567",
                              user=User(name="jane", display_name="Jane Doe")),
              summary="wants a refund", transcript=(("caller", "I want a refund"),))


class AgentsRuntime(RecordingRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.users = MemoryUserStore()


async def start_peer(status: int | None) -> tuple[Peer, asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(lambda: Peer(status),
                                                          local_addr=("127.0.0.1", 0))
    return peer, transport, int(transport.get_extra_info("sockname")[1])


def bind(ch: SipChannel, agent: str, port: int) -> None:
    """A binding as the registrar would make it (REGISTER itself is tested elsewhere)."""
    assert ch.agents is not None
    now = ch.now()
    ch.agents.registrar.location.put(Binding(
        agent=agent, contact=f"sip:{agent}@127.0.0.1:{port}", source=("127.0.0.1", port),
        transport="UDP", expires_at=now + 600, call_id=f"r{port}", cseq=1, registered_at=now))


def invites(peer: Peer) -> list[SipRequest]:
    return [r for r in peer.requests if r.method == "INVITE"]


def test_caller_display_is_who_and_queue_without_quotes() -> None:
    assert caller_display(OFFER) == "Jane Doe · support"
    evil = Offer(call_id="x", queue="q", caller=CallInfo(call_id="x", channel="sip",
                                                          caller='"+1555\\"\r\n'))
    assert caller_display(evil) == "+1555 · q"


@pytest.mark.parametrize(("status", "cause"), [(486, DialCause.BUSY),
                                               (603, DialCause.REJECTED),
                                               (480, DialCause.NO_ANSWER)])
async def test_phone_answers_with_a_refusal(status: int, cause: DialCause) -> None:
    async with open_channel(AgentsRuntime()) as ch:
        peer, transport, port = await start_peer(status)
        try:
            bind(ch, "alice", port)
            reach = SipAgentReach(host=ch)
            assert reach.online("alice") and not reach.online("bob")
            result = await reach.ring("alice", OFFER, timeout_s=5.0)
            assert isinstance(result, NotReached) and result.cause is cause
            [invite] = invites(peer)
            sender = NameAddr.parse(invite.get("From") or "")
            assert sender.display == "Jane Doe · support"
            assert sender.uri.startswith("sip:+15551234567@")
            assert invite.uri == f"sip:alice@127.0.0.1:{port}"
            assert ch.calls == {}  # nothing left behind
        finally:
            transport.close()


async def test_no_answer_cancels_and_offline() -> None:
    async with open_channel(AgentsRuntime()) as ch:
        reach = SipAgentReach(host=ch)
        offline = await reach.ring("alice", OFFER, timeout_s=1.0)
        assert isinstance(offline, NotReached) and offline.cause is OFFLINE
        peer, transport, port = await start_peer(None)  # rings for ever
        try:
            bind(ch, "alice", port)
            result = await reach.ring("alice", OFFER, timeout_s=0.5)
            assert isinstance(result, NotReached) and result.cause is DialCause.NO_ANSWER
            await asyncio.sleep(0.2)
            assert any(r.method == "CANCEL" for r in peer.requests)
        finally:
            transport.close()


async def test_cancelled_ring_cancels_the_invite() -> None:
    async with open_channel(AgentsRuntime()) as ch:
        peer, transport, port = await start_peer(None)
        try:
            bind(ch, "alice", port)
            task = asyncio.create_task(SipAgentReach(host=ch).ring("alice", OFFER,
                                                                   timeout_s=10.0))
            for _ in range(100):
                if invites(peer):
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.2)
            assert any(r.method == "CANCEL" for r in peer.requests)
        finally:
            transport.close()


def tone(path: Path, seconds: float, freq: float = 440.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((9000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes())


@pytest.mark.skipif(BARESIP is None, reason="baresip not installed")
async def test_registered_baresip_answers_and_audio_flows_both_ways(tmp_path: Path) -> None:
    runtime = AgentsRuntime()
    await runtime.users.add("alice", password="alice-pass-1", roles=["agent"])
    async with open_channel(runtime) as ch:
        assert ch.agents is not None
        busy, transport, busy_port = await start_peer(486)  # a second phone, busy: forked
        tone(tmp_path / "tone.wav", 30.0)
        sip_port, ctrl = free_udp_port(), free_udp_port()
        conf = write_baresip_config(
            tmp_path, source_wav=tmp_path / "tone.wav", sip_port=sip_port, ctrl_port=ctrl,
            rtp_low=43000 + (sip_port % 100) * 50,
            account=(f"<sip:alice@127.0.0.1:{ch.port}>;auth_pass=alice-pass-1;regint=600;"
                     "answermode=auto;audio_codecs=PCMU,PCMA"))
        assert BARESIP is not None
        proc = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(conf), "-t", "30",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(200):
                if ch.agents.online("alice"):
                    break
                await asyncio.sleep(0.05)
            assert ch.agents.online("alice")
            bind(ch, "alice", busy_port)
            result = await SipAgentReach(host=ch).ring("alice", OFFER, timeout_s=10.0)
            assert isinstance(result, Reached), result
            session = result.session
            heard = FrameCollector()
            session.add_tap(heard, Direction.IN)
            t = np.arange(16000 * 3) / 16000
            session.enqueue_audio((8000 * np.sin(2 * np.pi * 600 * t)).astype(np.int16), 16000)
            assert await session.wait_played()
            await session.leg.hangup("test-done")
            await asyncio.wait_for(session.wait_ended(), 5)
            pcm = np.concatenate([f.pcm for f in heard.frames])
            assert pcm.size > 16000 and np.sqrt(np.mean(pcm.astype(float) ** 2)) > 1000
        finally:
            await stop_baresip(proc, ctrl)
            transport.close()
        assert len(invites(busy)) == 1  # both phones were rung
        recorded = sorted((tmp_path / "rec").glob("*-dec.wav"))
        assert recorded
        with wave.open(str(recorded[-1])) as w:
            got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
        assert got.size and np.sqrt(np.mean(got ** 2)) > 1000  # the phone heard our tone
        for _ in range(50):
            if not ch.calls:
                break
            await asyncio.sleep(0.05)
        assert ch.calls == {}
