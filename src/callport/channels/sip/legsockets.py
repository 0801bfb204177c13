"""A SipLeg's sockets: an RTP port from the pool, RTCP on that port + 1, and the packets of
both wired into the leg once it exists (asyncio driver code, for inbound and outbound calls).

``LegSockets.open(pool)`` binds the ports first (the SDP needs the port before the dialog,
and so the leg, has a key); ``make_leg`` then builds the ``SipLeg`` on them. ``on_rtcp(leg,
events)``, when given, sees every RTCP packet the peer sends after the leg parsed it (the
channel turns the reports into metrics there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from callport.channels.sip.leg import CallControl, SipLeg
from callport.channels.sip.rtcp import RtcpEvent
from callport.channels.sip.rtpsocket import RtpPortPool, RtpProtocol, open_rtcp
from callport.channels.sip.sdp import MediaPlan

Addr = tuple[str, int]
RtcpHook = Callable[[SipLeg, list[RtcpEvent]], None]


@dataclass(slots=True, kw_only=True)
class LegSockets:
    pool: RtpPortPool
    port: int
    rtp: tuple[asyncio.DatagramTransport, RtpProtocol]
    rtcp: tuple[asyncio.DatagramTransport, RtpProtocol] | None

    @classmethod
    async def open(cls, pool: RtpPortPool) -> LegSockets:
        """Raises ``RuntimeError`` when the pool has no free port."""
        transport, proto, port = await pool.open(lambda d, a: None)
        rtcp = await open_rtcp(pool.host, port + 1)
        return cls(pool=pool, port=port, rtp=(transport, proto), rtcp=rtcp)

    def close(self) -> None:
        """Give the ports back unused (the call went away before it had a leg)."""
        self.rtp[0].close()
        if self.rtcp is not None:
            self.rtcp[0].close()
        self.pool.release(self.port)

    def make_leg(self, *, key: str, call_id: str, control: CallControl,
                 plan: MediaPlan | None, clock: Callable[[], float],
                 on_rtcp: RtcpHook | None = None, rtp_latch: str = "sdp",
                 rtp_source: str | None = None, rtp_peer: str | None = None) -> SipLeg:
        transport, proto = self.rtp
        leg = SipLeg(key=key, call_id=call_id, control=control, transport=transport,
                     rtp_port=self.port, plan=plan, now=clock(), rtp_latch=rtp_latch,
                     rtp_source=rtp_source, rtp_peer=rtp_peer)
        proto.on_packet = lambda data, addr: leg.on_rtp(data, addr, clock())
        if self.rtcp is not None:
            rtcp_transport, rtcp_proto = self.rtcp

            def on_packet(data: bytes, addr: Addr) -> None:
                events = leg.on_rtcp(data, addr, clock())
                if on_rtcp is not None and events:
                    on_rtcp(leg, events)

            rtcp_proto.on_packet = on_packet
            leg.rtcp_transport = rtcp_transport
        return leg
