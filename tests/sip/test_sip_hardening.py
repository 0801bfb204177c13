"""Issue 20, SIP/RTP half: one regression test per defect, each failing on the old code.

Sans-IO where the rule is the core's (RTP latching, bounds, routing, rate limits, safe ids)
and over real loopback sockets where it is the driver's (held calls ended, junk TCP, uvloop
timers, Call-ID collisions, responses never opening connections)."""

from __future__ import annotations

import asyncio
import logging
import socket

import numpy as np
import pytest
import uvloop
from sip_fixtures import SDP_OFFER, invite, request
from sip_support import RecordingRuntime, open_channel

from callport.channels.sip.events import IncomingCall, SipEvent, Transmit
from callport.channels.sip.ids import call_ref
from callport.channels.sip.leg import MAX_PENDING_AUDIO, SipLeg
from callport.channels.sip.media import MediaStream
from callport.channels.sip.mediawatch import MediaWatch
from callport.channels.sip.message import SipRequest, SipResponse, parse_message
from callport.channels.sip.ratelimit import SourceLimiter
from callport.channels.sip.rtp import RtpPacket
from callport.channels.sip.sdp import MediaPlan
from callport.channels.sip.tcp import SipTcpTransport
from callport.channels.sip.useragent import UaConfig, UserAgent
from callport.logs import LogBudget, safe
from callport.metrics import Metrics

PEER = ("10.0.0.9", 5062)
SDP_ADDR = ("10.0.0.9", 40000)
PLAN = MediaPlan(codec="PCMU", payload_type=0, dtmf_payload_type=101, remote_host="10.0.0.9",
                 remote_port=40000, ptime=20, direction="sendrecv")
LOCAL_SDP = SDP_OFFER.replace("10.0.0.9", "127.0.0.1")


def rtp(seq: int, payload: bytes = b"\xff" * 160, ssrc: int = 7) -> bytes:
    return bytes(RtpPacket(payload_type=0, sequence=seq, timestamp=seq * 160, ssrc=ssrc,
                           payload=payload))


def sent(events: list[SipEvent]) -> list[SipRequest | SipResponse]:
    return [parse_message(e.data) for e in events if isinstance(e, Transmit)]


class FakeTransport:
    """Stands in for the RTP socket: records what the leg sends where."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        pass


class NoControl:
    def hangup_call(self, key: str, reason: str) -> None:
        pass


def leg(plan: MediaPlan | None = PLAN, **kw: object) -> tuple[SipLeg, FakeTransport]:
    transport = FakeTransport()
    made = SipLeg(key="k", call_id="c", control=NoControl(),  # type: ignore[arg-type]
                  transport=transport, rtp_port=20000, plan=plan, now=0.0,  # type: ignore[arg-type]
                  **kw)  # type: ignore[arg-type]
    return made, transport


# ---- memory without bound / audio injection -----------------------------------------------------


def test_rtp_from_a_source_the_sdp_did_not_name_is_dropped_and_counted() -> None:
    stream = MediaStream(plan=PLAN)  # sip.rtp_latch = "sdp"
    assert stream.feed(rtp(1), ("198.51.100.66", 40000)) == []  # a stranger injecting audio
    assert stream.feed(rtp(2), ("10.0.0.9", 41000)) == []  # right host, wrong port
    assert stream.dropped["source"] == 2
    assert len(stream.feed(rtp(3), SDP_ADDR)) == 1
    assert stream.remote == SDP_ADDR


def test_first_latch_keeps_the_first_source_only() -> None:
    stream = MediaStream(plan=PLAN, latch="first")  # configured for NAT
    assert len(stream.feed(rtp(1), ("203.0.113.4", 3000))) == 1
    assert stream.feed(rtp(2), ("198.51.100.66", 40000)) == []  # a second source is not heard
    assert stream.remote == ("203.0.113.4", 3000) and stream.dropped["source"] == 1


def test_unadmitted_peer_gets_rtp_only_at_its_own_host() -> None:
    """Reflection: an unauthenticated INVITE naming a third host gets no RTP streamed there."""
    elsewhere = MediaPlan(codec="PCMU", payload_type=0, dtmf_payload_type=None,
                          remote_host="198.51.100.77", remote_port=4000, ptime=20,
                          direction="sendrecv")
    call, transport = leg(elsewhere, rtp_source="127.0.0.1")
    asyncio.run(call.send_audio(np.zeros(160, np.int16)))
    assert transport.sent == []  # nothing to 198.51.100.77
    call.on_rtp(rtp(1), ("198.51.100.77", 4000), 0.1)  # the named host is not the source
    asyncio.run(call.send_audio(np.zeros(160, np.int16)))
    assert transport.sent == []
    call.on_rtp(rtp(2), ("127.0.0.1", 5004), 0.2)  # the INVITE's own host: latched
    asyncio.run(call.send_audio(np.zeros(160, np.int16)))
    assert [addr for _, addr in transport.sent] == [("127.0.0.1", 5004)]


def test_oversized_rtp_is_dropped() -> None:
    stream = MediaStream(plan=PLAN)
    assert stream.feed(rtp(1, b"\xff" * 60000), SDP_ADDR) == []  # was 375 frames from one packet
    assert stream.dropped["size"] == 1


def test_inbound_audio_queue_is_bounded_with_a_drop_counter() -> None:
    call, _ = leg()
    for seq in range(1, MAX_PENDING_AUDIO + 501):  # more audio than the session ever takes
        call.on_rtp(rtp(seq), SDP_ADDR, seq * 0.02)
    assert call._inbox.pending <= MAX_PENDING_AUDIO
    assert call.media is not None and call.media.dropped["queue"] >= 500
    metrics = Metrics()
    watch = MediaWatch(metrics=metrics, media_timeout_s=30)
    watch.tick(call, ringing=False, now=MAX_PENDING_AUDIO * 0.02 + 11.0, wallclock=0.0)
    assert metrics.sip_rtp_dropped.value == call.media.total_dropped()
    assert "callport_sip_rtp_dropped_total" in metrics.render()


def test_rtcp_from_another_host_is_not_kept() -> None:
    call, _ = leg()
    from callport.channels.sip.rtcp import build_rr

    report = build_rr(ssrc=9, reports=[])
    assert call.on_rtcp(report, ("198.51.100.66", 9999), 1.0) == []
    assert len(call.peer_reports) == 0 and call.last_rx is None
    assert call.on_rtcp(report, ("10.0.0.9", 40001), 1.0) != []
    assert call.last_rx == 1.0  # RTCP from the peer counts as alive


# ---- calls that never end -----------------------------------------------------------------------


def test_held_call_without_any_media_is_hung_up() -> None:
    inactive = MediaPlan(codec="PCMU", payload_type=0, dtmf_payload_type=None,
                         remote_host="10.0.0.9", remote_port=40000, ptime=20,
                         direction="inactive")
    call, _ = leg(inactive)
    watch = MediaWatch(metrics=Metrics(), media_timeout_s=30, held_timeout_s=120)
    assert not watch.tick(call, ringing=False, now=100.0, wallclock=0.0)
    from callport.channels.sip.rtcp import build_rr

    call.on_rtcp(build_rr(ssrc=9, reports=[]), ("10.0.0.9", 40001), 100.0)  # alive: RTCP
    assert not watch.tick(call, ringing=False, now=200.0, wallclock=0.0)
    assert watch.tick(call, ringing=False, now=221.0, wallclock=0.0)  # silent 121 s: BYE


def test_a_call_we_hold_is_not_timed_out_for_the_peers_silence() -> None:
    sendonly = MediaPlan(codec="PCMU", payload_type=0, dtmf_payload_type=None,
                         remote_host="10.0.0.9", remote_port=40000, ptime=20,
                         direction="sendonly")
    call, _ = leg(sendonly)
    call._held = True  # our hold re-INVITE was answered: music for a queued caller
    watch = MediaWatch(metrics=Metrics(), media_timeout_s=30, held_timeout_s=120)
    assert not watch.tick(call, ringing=False, now=3600.0, wallclock=0.0)


async def test_inactive_invite_over_udp_ends_by_itself() -> None:
    """The issue's stuck calls: a=inactive, no RTP, no RTCP, no BYE: the call ends."""
    runtime = RecordingRuntime()
    async with open_channel(runtime, held_timeout_s=1.0) as ch:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sdp = LOCAL_SDP.replace("a=sendrecv", "a=inactive")
        sock.sendto(invite(sdp=sdp), ("127.0.0.1", ch.port))
        for _ in range(100):
            if ch.calls:
                break
            await asyncio.sleep(0.05)
        assert len(ch.calls) == 1
        await asyncio.wait_for(runtime.ended.wait(), 10)
        assert runtime.calls[0].hangup == "media-timeout"
        assert ch.calls == {}
        sock.close()


# ---- uvloop -------------------------------------------------------------------------------------


def test_channel_timer_is_rearmed_under_uvloop_with_a_past_deadline() -> None:
    """uvloop's call_at gives a plain Handle (no .when()) for a past deadline: 3,073
    tracebacks in the fuzz run, and a call answered whose agent never started."""

    async def main() -> None:
        async with open_channel(RecordingRuntime()) as ch:
            ua = ch.ua
            assert ua is not None
            loop = asyncio.get_running_loop()
            deadlines = iter([loop.time() - 1.0, loop.time() + 5.0, loop.time() + 6.0])
            ua.get_timer = lambda: next(deadlines)  # type: ignore[method-assign]
            ua.handle_timer = lambda now: []  # type: ignore[method-assign]
            ch._rearm(ua)
            ch._rearm(ua)  # the old code asked the first (plain) Handle for .when()
            ch._rearm(ua)

    uvloop.run(main())


# ---- log hygiene --------------------------------------------------------------------------------


def test_peer_call_ids_are_escaped_and_bounded_everywhere_we_use_them() -> None:
    assert call_ref("abc@10.0.0.9") == "abc@10.0.0.9"
    for hostile in ("a\x00b", "x" * 30000, "new\nline", "spa ce"):
        ref = call_ref(hostile)
        assert ref.startswith("sip-") and len(ref) <= 40 and ref.isprintable()
    agent = UserAgent(config=UaConfig(host="127.0.0.1", port=5060))
    events = agent.receive(invite(call_id="evil\x00" + "y" * 30000), PEER, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    assert incoming.key.startswith("sip-") and len(incoming.key) < 64
    assert safe("a\x00b\n" + "z" * 500).startswith("a\\x00b\\x0a") and len(safe("z" * 500)) < 150


def test_log_budget_bounds_junk_lines() -> None:
    budget = LogBudget(per_s=1.0, burst=5)
    allowed = sum(budget.allow(0.001 * i) for i in range(1000))
    assert allowed == 5 and budget.take_suppressed() == 995


async def test_junk_tcp_frames_cost_no_info_line(caplog: pytest.LogCaptureFixture) -> None:
    async with open_channel(RecordingRuntime()) as ch:
        caplog.set_level(logging.INFO, logger="callport.channels.sip")
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", ch.port)
            writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")  # no length
            await asyncio.wait_for(reader.read(100), 5.0)
            writer.close()
        assert ch.tcp is not None and ch.tcp.stats["bad_frames"] == 20
    assert [r for r in caplog.records if r.levelno >= logging.INFO
            and "closing" in r.getMessage()] == []


async def test_hostile_call_id_and_from_reach_the_runtime_escaped_and_bounded() -> None:
    runtime = RecordingRuntime()
    async with open_channel(runtime) as ch:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        data = invite(sdp=LOCAL_SDP, call_id="c\x00" + "L" * 30000).replace(
            b"sip:+15550001@10.0.0.9", b"sip:ev\x00il" + b"Q" * 3000 + b"@10.0.0.9")
        sock.sendto(data, ("127.0.0.1", ch.port))
        for _ in range(100):
            if runtime.calls:
                break
            await asyncio.sleep(0.05)
        [call] = runtime.calls
        info = call.info
        assert info.call_id.startswith("sip-") and len(info.call_id) < 64
        assert info.caller.isprintable() and len(info.caller) < 100, info.caller[:40]
        sock.close()


# ---- wrong books --------------------------------------------------------------------------------


async def test_two_dialogs_sharing_a_call_id_are_two_calls_with_their_own_ids() -> None:
    runtime = RecordingRuntime()
    async with open_channel(runtime) as ch:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        first = invite(sdp=LOCAL_SDP, branch="z9hG4bK-one")
        second = invite(sdp=LOCAL_SDP, branch="z9hG4bK-two").replace(b"tag=from1", b"tag=from2")
        for data in (first, second):
            sock.sendto(data, ("127.0.0.1", ch.port))
        for _ in range(100):
            if len(runtime.calls) == 2:
                break
            await asyncio.sleep(0.05)
        ids = {c.info.call_id for c in runtime.calls}
        assert len(ids) == 2, ids  # the old code gave both "call-1@10.0.0.9"
        assert "call-1@10.0.0.9" in ids
        sock.close()


# ---- reflection ---------------------------------------------------------------------------------


def test_bye_to_an_unadmitted_peer_goes_to_its_source_not_its_record_route() -> None:
    agent = UserAgent(config=UaConfig(host="127.0.0.1", port=5060))
    routed = invite().replace(b"<sip:proxy.example;lr>", b"<sip:198.51.100.7;lr>")
    events = agent.receive(routed, PEER, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    [ok] = sent(agent.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.0))
    assert isinstance(ok, SipResponse)
    agent.receive(request("ACK", branch="z9hG4bK-a", to_tag=ok.to_tag, cseq=1), PEER, 0.1)
    [bye] = [e for e in agent.hangup(incoming.key, 1.0) if isinstance(e, Transmit)]
    assert bye.addr == PEER  # the old code sent it (and opened TCP) to 198.51.100.7:5060
    trusted = UserAgent(config=UaConfig(host="127.0.0.1", port=5060, allow_from=("10.0.0.0/8",)))
    events = trusted.receive(routed, PEER, 0.0)
    [incoming] = [e for e in events if isinstance(e, IncomingCall)]
    [ok] = sent(trusted.answer(incoming.key, media_host="127.0.0.1", media_port=20000, now=0.0))
    assert isinstance(ok, SipResponse)
    [bye] = [e for e in trusted.hangup(incoming.key, 1.0) if isinstance(e, Transmit)]
    assert bye.addr == ("198.51.100.7", 5060)  # a trusted proxy's route set is followed


async def test_a_response_never_opens_a_tcp_connection() -> None:
    accepted = 0

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    victim = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = victim.sockets[0].getsockname()[1]
    tcp = SipTcpTransport(on_message=lambda d, a: None)
    tcp.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", port))
    await asyncio.sleep(0.3)
    assert accepted == 0 and tcp.stats["responses_dropped"] == 1
    tcp.send(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", port))
    for _ in range(40):  # a request we originate still connects
        if accepted:
            break
        await asyncio.sleep(0.05)
    assert accepted == 1
    await tcp.stop()
    victim.close()


def test_source_limiter_is_per_source_and_bounded() -> None:
    limiter = SourceLimiter(rate=10, burst=20, max_sources=100)
    assert sum(limiter.allow("10.0.0.1", 0.0) for _ in range(100)) == 20
    assert limiter.allow("10.0.0.2", 0.0)  # another source has its own bucket
    assert limiter.allow("10.0.0.1", 0.2)  # refilled: 10 per second
    for i in range(1000):
        limiter.allow(f"192.0.2.{i % 250}.{i}", 1.0)
    assert len(limiter) <= 100


async def test_channel_drops_a_flood_from_one_source_unanswered() -> None:
    async with open_channel(RecordingRuntime(), rate_per_s=5.0, rate_burst=10) as ch:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        for i in range(100):
            data = request("OPTIONS", branch=f"z9hG4bK-o{i}", to_tag="", cseq=i + 1)
            sock.sendto(data, ("127.0.0.1", ch.port))
        await asyncio.sleep(0.5)
        answers = 0
        while True:
            try:
                sock.recv(65536)
            except BlockingIOError:
                break
            answers += 1
        assert 10 <= answers <= 15, answers  # the burst, and what refilled meanwhile
        assert ch.metrics.sip_dropped_messages.value >= 85
        sock.close()


async def test_tcp_connections_that_say_nothing_are_closed_and_capped() -> None:
    tcp = SipTcpTransport(on_message=lambda d, a: None, admission_timeout=0.3,
                          max_connections=5)
    await tcp.start("127.0.0.1", 0)
    assert tcp._server is not None
    port = tcp._server.sockets[0].getsockname()[1]
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
    closed = 0
    for reader, _writer in conns:  # 3 refused at once, 5 closed at the admission deadline
        closed += await asyncio.wait_for(reader.read(100), 5.0) == b""
    assert closed == 8
    assert tcp.stats["refused"] == 3
    for _, writer in conns:
        writer.close()
    await tcp.stop()
