"""A call's record and the process's life: calls recorded on every channel, crash-left
records closed at start-up, SIGTERM draining (hang up, refuse new calls), SIP 503 meanwhile."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS
from starlette.testclient import TestClient

from callport.agents.base import CallInfo
from callport.call.call import Call
from callport.call.leg import Leg
from callport.call.memory import MemoryLeg
from callport.config import Settings, SipSettings
from callport.server.app import create_app
from callport.server.lifecycle import close_crashed_calls, drain
from callport.server.runtime import Runtime, build_runtime
from callport.store.calls import CallRecord, MemoryCallStore
from callport.store.sqlite_calls import SqliteCallStore
from callport.types import User

OWNER = User(name="owner")


def make_runtime(tmp_path: Path, calls: MemoryCallStore | None = None) -> Runtime:
    settings = Settings()
    settings = replace(settings, server=replace(settings.server, db=str(tmp_path / "cp.db")))
    return build_runtime(settings, calls=calls or MemoryCallStore(), stt=ScriptedSTT([]),
                         tts=ToneTTS(), vad=EnergyVad(),  # type: ignore[arg-type]
                         agent_factory=lambda info: EchoTextAgent())


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def stay_on_line(call: Call) -> None:
    await call.session.wait_ended()


async def test_a_call_no_channel_recorded_is_recorded_and_ended_with_its_cause(
        tmp_path: Path) -> None:
    calls = MemoryCallStore()
    runtime = make_runtime(tmp_path, calls)
    leg = MemoryLeg(call_id="m1")
    info = CallInfo(call_id="m1", channel="memory", caller="+15550001", user=OWNER)
    task = asyncio.create_task(runtime.run_call(leg, info, flow=stay_on_line))
    await wait_for(lambda: "m1" in runtime.active)
    live = await calls.get("m1")
    assert live is not None and live.status == "in-progress" and live.ended_at is None
    assert (live.channel, live.caller, live.direction) == ("memory", "+15550001", "inbound")
    await leg.hangup("caller-left")
    await asyncio.wait_for(task, 5)
    ended = await calls.get("m1")
    assert ended is not None and ended.status == "ended" and ended.ended_at is not None
    assert [(e.kind, e.detail) for e in await calls.events("m1")] == [("ended", "caller-left")]


async def test_a_provider_call_keeps_its_channels_record_only(tmp_path: Path) -> None:
    calls = MemoryCallStore()
    runtime = make_runtime(tmp_path, calls)
    await calls.create(CallRecord(call_id="tw1", channel="twilio", provider_call_id="CA1",
                                  status="in-progress", started_at=datetime(2026, 1, 1, 9)))
    leg = MemoryLeg(call_id="tw1")
    task = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id="tw1", channel="twilio", user=OWNER), flow=stay_on_line))
    await wait_for(lambda: "tw1" in runtime.active)
    await leg.hangup("stream-stopped")
    await asyncio.wait_for(task, 5)
    # The provider's status callback is the truth for its calls: the runtime neither makes a
    # second record nor ends this one (it only adds details: who it was, why the leg ended).
    after = await calls.get("tw1")
    assert after is not None and (after.status, after.ended_at) == ("in-progress", None)
    assert (after.channel, after.provider_call_id) == ("twilio", "CA1")
    assert await calls.events("tw1") == [] and len(await calls.list_recent()) == 1
    await calls.update_status("tw1", "completed", at=datetime(2026, 1, 1, 9, 5))  # its callback


async def test_drain_hangs_up_every_live_call_and_stops_admitting(tmp_path: Path) -> None:
    calls = MemoryCallStore()
    runtime = make_runtime(tmp_path, calls)
    legs = [MemoryLeg(call_id=f"d{i}") for i in range(3)]
    tasks = [asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id=leg.call_id, channel="memory", user=OWNER), flow=stay_on_line))
        for leg in legs]
    await wait_for(lambda: len(runtime.active) == 3)
    assert runtime.draining is False
    assert await drain(runtime, grace_s=10) == 0
    assert runtime.draining is True and runtime.active == {}
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [leg.hung_up_reason for leg in legs] == ["shutdown"] * 3
    for leg in legs:
        record = await calls.get(leg.call_id)
        assert record is not None and record.status == "ended"
        assert [(e.kind, e.detail) for e in await calls.events(leg.call_id)] == [
            ("ended", "shutdown")]


class StuckLeg(MemoryLeg):
    """A leg whose hang-up never completes (a provider REST call that hangs)."""

    async def hangup(self, reason: str = "normal") -> None:
        await asyncio.Event().wait()


async def test_drain_gives_up_after_the_grace_period(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    leg = StuckLeg(call_id="s1")
    task = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id="s1", channel="memory", user=OWNER), flow=stay_on_line))
    await wait_for(lambda: "s1" in runtime.active)
    assert await drain(runtime, grace_s=0.2) == 1  # reported, not waited for forever
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_start_up_closes_the_calls_a_killed_process_left_live(tmp_path: Path) -> None:
    db = tmp_path / "cp.db"

    async def leave_live() -> None:
        store = SqliteCallStore(db)
        for call_id, status in (("a", "in-progress"), ("b", "ringing"), ("c", "completed")):
            await store.create(CallRecord(call_id=call_id, channel="sip", status=status,
                                          started_at=datetime(2026, 1, 1, 9)))
        store.close()

    asyncio.run(leave_live())
    settings = Settings()
    runtime = build_runtime(replace(settings, server=replace(settings.server, db=str(db))))
    with TestClient(create_app(runtime, channels=[])):
        pass

    async def check() -> None:
        for call_id in ("a", "b"):
            record = await runtime.calls.get(call_id)
            assert record is not None and record.status == "ended" and record.ended_at
            assert [(e.kind, e.detail) for e in await runtime.calls.events(call_id)] == [
                ("ended", "crash")]
        done = await runtime.calls.get("c")
        assert done is not None and done.status == "completed"
        assert await close_crashed_calls(runtime.calls) == 0

    asyncio.run(check())


class DrainingRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.draining = True
        self.ran: list[str] = []

    def run_call(self, leg: Leg, info: CallInfo) -> Awaitable[None]:
        self.ran.append(info.call_id)
        return asyncio.sleep(0)


INVITE = (
    "INVITE sip:bot@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKdrain1\r\n"
    "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bot@127.0.0.1>\r\n"
    "Call-ID: drain-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:{me}>\r\n"
    "Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {length}\r\n\r\n{sdp}"
)
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


async def test_sip_answers_503_to_a_new_invite_while_draining() -> None:
    from callport.channels.sip.channel import SipChannel

    low = random.randrange(30000, 60000, 200)
    settings = Settings(sip=SipSettings(enabled=True, host="127.0.0.1", port=0,
                                        rtp_port_min=low, rtp_port_max=low + 198))
    runtime = DrainingRuntime(settings)
    channel = SipChannel(runtime)
    await channel.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        me = sock.getsockname()[1]
        invite = INVITE.format(port=channel.port, me=me, length=len(SDP), sdp=SDP)
        sock.sendto(invite.encode(), ("127.0.0.1", channel.port))
        loop = asyncio.get_running_loop()
        finals: list[bytes] = []
        async with asyncio.timeout(5):
            while not finals:
                data = await loop.sock_recv(sock, 65535)
                if not data.startswith(b"SIP/2.0 1"):
                    finals.append(data)
        assert finals[0].startswith(b"SIP/2.0 503"), finals[0][:80]
        assert runtime.ran == [] and channel.calls == {}
    finally:
        sock.close()
        await channel.stop()


class ProviderControl:
    """The REST call control of a provider channel (what ``MediaStreamLeg`` hangs up with)."""

    sends_dtmf = False

    def __init__(self) -> None:
        self.hung_up: list[str] = []

    async def hangup(self, provider_call_id: str) -> None:
        self.hung_up.append(provider_call_id)

    async def transfer(self, provider_call_id: str, target: str) -> None:
        raise AssertionError("no transfer here")


async def test_drain_hangs_up_a_provider_call_through_its_rest_control(tmp_path: Path) -> None:
    import json

    from callport.channels.media_leg import MediaStreamLeg
    from callport.channels.twilio.media import TwilioMediaCore

    core = TwilioMediaCore()
    core.receive_text('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    core.receive_text(json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1",
                  "tracks": ["inbound"], "customParameters": {},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                  "channels": 1}}}))
    assert core.started is not None
    closed: list[int] = []

    async def send_text(text: str) -> None:
        pass

    async def close_socket(code: int) -> None:
        closed.append(code)

    control = ProviderControl()
    leg = MediaStreamLeg(call_id="tw2", start=core.started, core=core, send_text=send_text,
                         close_socket=close_socket, control=control)  # type: ignore[arg-type]
    runtime = make_runtime(tmp_path)
    task = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id="tw2", channel="twilio", user=OWNER), flow=stay_on_line))
    await wait_for(lambda: "tw2" in runtime.active)
    assert await drain(runtime, grace_s=10) == 0
    await asyncio.wait_for(task, 5)
    assert control.hung_up == ["CA1"] and closed == [1000]
