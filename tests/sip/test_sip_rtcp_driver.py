"""RTCP on the channel: compound SR+SDES goes out on RTP port + 1, the peer's SR is recorded,
and the figures (jitter, loss, the peer's view, round-trip time) show in the metrics text."""

from __future__ import annotations

import asyncio
import re
import socket
import struct

import pytest
from sip_fixtures import SDP_OFFER, invite, request
from sip_support import RecordingRuntime

from callport.channels.sip import mediawatch
from callport.channels.sip.channel import SipChannel
from callport.channels.sip.message import SipResponse, parse_message
from callport.channels.sip.rtcp import (
    ReportBlock,
    SenderReport,
    build_rr,
    build_sdes,
    build_sr,
    parse_compound,
)


def _even_pair() -> tuple[socket.socket, socket.socket]:
    for _ in range(50):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        port = rtp.getsockname()[1]
        if port % 2:
            rtp.close()
            continue
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtcp.bind(("127.0.0.1", port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            continue
        return rtp, rtcp
    raise RuntimeError("no even port pair")


@pytest.mark.slow
async def test_rtcp_reports_both_ways(channel: SipChannel, runtime: RecordingRuntime,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mediawatch, "RTCP_INTERVAL_S", 0.5)
    rtp, rtcp = _even_pair()
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sig.bind(("127.0.0.1", 0))
    for s in (rtp, rtcp, sig):
        s.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        port = rtp.getsockname()[1]
        sdp = SDP_OFFER.replace("10.0.0.9", "127.0.0.1").replace("40000", str(port))
        offer = invite(sdp=sdp).replace(b"Record-Route: <sip:proxy.example;lr>\r\n", b"")
        offer = offer.replace(b"10.0.0.9:5062", b"127.0.0.1:%d" % sig.getsockname()[1])
        sig.sendto(offer, ("127.0.0.1", channel.port))
        ok: SipResponse | None = None
        while ok is None:
            msg = parse_message(await asyncio.wait_for(loop.sock_recv(sig, 65536), 5.0))
            if isinstance(msg, SipResponse) and msg.status == 200:
                ok = msg
        match = re.search(rb"m=audio (\d+)", ok.body)
        assert match is not None
        media_port = int(match.group(1))
        sig.sendto(request("ACK", branch="z9hG4bK-ack", to_tag=ok.to_tag, cseq=1),
                   ("127.0.0.1", channel.port))
        for seq in range(20):
            if seq == 10:
                continue  # one packet lost on the way to us
            packet = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0xABCDEF01) + b"\xff" * 160
            rtp.sendto(packet, ("127.0.0.1", media_port))
            await asyncio.sleep(0.005)
        peer_sr = build_sr(ssrc=0xABCDEF01, ntp=0x83AA7E81_80000000, rtp_timestamp=3200,
                           packets=20, octets=3200)
        rtcp.sendto(peer_sr + build_sdes(ssrc=0xABCDEF01, cname="tester"),
                    ("127.0.0.1", media_port + 1))
        rtcp.sendto(b"\x00garbage", ("127.0.0.1", media_port + 1))
        data = await asyncio.wait_for(loop.sock_recv(rtcp, 65536), 5.0)
        events = parse_compound(data)
        assert events and isinstance(events[0], SenderReport), events
        ours = events[0]
        assert ours.packets > 0 and ours.octets == 160 * ours.packets
        [block] = ours.reports
        assert block.ssrc == 0xABCDEF01 and block.highest_seq == 19
        assert block.cumulative_lost == 1 and block.fraction_lost == 256 // 20
        assert block.lsr == 0x7E818000
        [call] = channel.calls.values()
        assert call.leg.peer_reports[0] == parse_compound(peer_sr)[0]
        assert call.leg.rtcp_errors == 1
        # The peer's RR on our stream echoes our SR: jitter 80 ts units, ~10% lost, RTT.
        echo = ReportBlock(ssrc=ours.ssrc, fraction_lost=26, cumulative_lost=2,
                           highest_seq=ours.packets, jitter=80, lsr=(ours.ntp >> 16) & 0xFFFFFFFF,
                           dlsr=0)
        rtcp.sendto(build_rr(ssrc=0xABCDEF01, reports=[echo]), ("127.0.0.1", media_port + 1))
        text = ""
        for _ in range(100):
            text = channel.metrics.render()
            if "callport_sip_rtt_seconds_count 1" in text:
                break
            await asyncio.sleep(0.02)
        figures = dict(line.rsplit(" ", 1) for line in text.splitlines()
                       if line.startswith("callport_sip_"))
        assert figures["callport_sip_rtt_seconds_count"] == "1"
        assert float(figures["callport_sip_rtt_seconds_sum"]) >= 0
        assert figures["callport_sip_rtcp_remote_jitter_seconds_count"] == "1"
        assert float(figures["callport_sip_rtcp_remote_jitter_seconds_sum"]) == 0.01
        assert figures['callport_sip_rtcp_remote_fraction_lost_bucket{le="0.05"}'] == "0"
        assert figures['callport_sip_rtcp_remote_fraction_lost_bucket{le="0.2"}'] == "1"
        assert int(figures["callport_sip_rtcp_jitter_seconds_count"]) >= 1
        assert int(figures["callport_sip_rtcp_fraction_lost_count"]) >= 1
        assert figures["callport_sip_rtp_lost_total"] == "1"
    finally:
        for s in (rtp, rtcp, sig):
            s.close()
