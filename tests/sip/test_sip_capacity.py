"""Admission by capacity on SIP: past ``server.max_conversations`` a new INVITE gets
``503 Service Unavailable`` with ``Retry-After`` before anything is answered (the caller's
side tries again later or elsewhere, never an answered line in silence); nothing runs."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable

from callport.call.leg import Leg
from callport.config import Settings, SipSettings
from callport.server.admission import Admission, Load, Verdict
from callport.types import CallInfo

INVITE = (
    "INVITE sip:bot@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKbusy1\r\n"
    "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bot@127.0.0.1>\r\n"
    "Call-ID: busy-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:{me}>\r\n"
    "Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {length}\r\n\r\n{sdp}"
)
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class FullRuntime:
    """A runner whose real Admission (one conversation) is full: one call is talking."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.draining = False
        self.admission = Admission(max_conversations=1, backlog_age_s=0.0, retry_after_s=42)
        self.ran: list[str] = []

    def refusal(self) -> Verdict | None:
        verdict = self.admission.decide(Load(active=1), now=0.0)
        return None if verdict.admit else verdict

    def run_call(self, leg: Leg, info: CallInfo) -> Awaitable[None]:
        self.ran.append(info.call_id)
        return asyncio.sleep(0)


async def test_sip_answers_503_with_retry_after_past_capacity() -> None:
    from callport.channels.sip.channel import SipChannel

    low = random.randrange(30000, 60000, 200)
    settings = Settings(sip=SipSettings(enabled=True, host="127.0.0.1", port=0,
                                        rtp_port_min=low, rtp_port_max=low + 198))
    runtime = FullRuntime(settings)
    channel = SipChannel(runtime)
    await channel.start()
    try:
        final = await first_final(channel.port)
        assert final.startswith(b"SIP/2.0 503"), final[:80]
        assert b"\r\nRetry-After: 42\r\n" in final
        assert runtime.ran == [] and channel.calls == {} and runtime.admission.refused == 1
    finally:
        await channel.stop()


async def first_final(port: int) -> bytes:
    """Send one INVITE to the SIP channel on ``port``; its first final response."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        me = sock.getsockname()[1]
        invite = INVITE.format(port=port, me=me, length=len(SDP), sdp=SDP)
        sock.sendto(invite.encode(), ("127.0.0.1", port))
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):
            while True:
                data = await loop.sock_recv(sock, 65535)
                if not data.startswith(b"SIP/2.0 1"):
                    return data
    finally:
        sock.close()
