"""SIP over TCP on the channel (RFC 3261 §18): framing on the socket, replies on the same
connection, a bad frame closes only that connection; sipp ``-t t1`` calls end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sip_fixtures import SDP_OFFER, invite, request
from sip_support import RecordingRuntime, free_udp_port, needs_sipp, run_sipp

from callport.channels.sip.channel import SipChannel
from callport.channels.sip.framing import StreamFramer
from callport.channels.sip.message import SipResponse, parse_message


def _tcp(data: bytes) -> bytes:
    return data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")


async def _responses(reader: asyncio.StreamReader, count: int) -> list[SipResponse]:
    framer = StreamFramer()
    out: list[SipResponse] = []
    while len(out) < count:
        data = await asyncio.wait_for(reader.read(65536), 5.0)
        assert data, "connection closed early"
        for frame in framer.feed(data):
            assert isinstance(frame, bytes)
            msg = parse_message(frame)
            assert isinstance(msg, SipResponse)
            out.append(msg)
    return out


async def test_options_split_and_merged_on_one_connection(channel: SipChannel) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", channel.port)
    one = _tcp(request("OPTIONS", branch="z9hG4bK-o1", to_tag="", cseq=1))
    two = _tcp(request("OPTIONS", branch="z9hG4bK-o2", to_tag="", cseq=2))
    writer.write(one[:7])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(one[7:] + b"\r\n\r\n" + two)  # rest of one, a keep-alive, all of two
    [r1, r2] = await _responses(reader, 2)
    assert (r1.status, r1.cseq, r2.status, r2.cseq) == (200, (1, "OPTIONS"), 200, (2, "OPTIONS"))
    assert r1.top_via.transport == "TCP"
    writer.close()


async def test_invite_over_tcp_answers_on_the_connection_and_says_tcp(
        channel: SipChannel, runtime: RecordingRuntime) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", channel.port)
    # The media address is the source's own (an unauthenticated peer may not name another).
    writer.write(_tcp(invite(sdp=SDP_OFFER.replace("10.0.0.9", "127.0.0.1"))))
    final = [r for r in await _responses(reader, 2) if r.status >= 200]
    assert final and final[0].status == 200
    contact = final[0].get("Contact") or ""
    assert "transport=tcp" in contact
    assert channel.tcp_ua is not None and channel.tcp_ua.active_calls() == 1
    assert channel.ua is not None and channel.ua.active_calls() == 0
    to_tag = final[0].to_tag
    writer.write(_tcp(request("ACK", branch="z9hG4bK-a", to_tag=to_tag, cseq=1)))
    writer.write(_tcp(request("BYE", branch="z9hG4bK-b", to_tag=to_tag, cseq=2)))
    [bye_ok] = await _responses(reader, 1)
    assert (bye_ok.status, bye_ok.cseq) == (200, (2, "BYE"))
    await asyncio.sleep(0.1)
    assert channel.calls == {} and channel.tcp_ua.active_calls() == 0
    writer.close()


async def test_bad_frame_closes_only_that_connection(channel: SipChannel) -> None:
    bad_r, bad_w = await asyncio.open_connection("127.0.0.1", channel.port)
    good_r, good_w = await asyncio.open_connection("127.0.0.1", channel.port)
    bad_w.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")  # no Content-Length
    assert await asyncio.wait_for(bad_r.read(100), 5.0) == b""  # closed by the channel
    good_w.write(_tcp(request("OPTIONS", branch="z9hG4bK-g", to_tag="", cseq=1)))
    [ok] = await _responses(good_r, 1)
    assert ok.status == 200
    assert channel.tcp is not None and channel.tcp.stats["bad_frames"] == 1
    good_w.close()


@pytest.mark.slow
@pytest.mark.interop
@needs_sipp
async def test_sipp_uac_over_tcp(channel: SipChannel, runtime: RecordingRuntime,
                                 tmp_path: Path) -> None:
    rc, out = await run_sipp("-sn", "uac", "-t", "t1", f"127.0.0.1:{channel.port}",
                             "-i", "127.0.0.1", "-p", str(free_udp_port()),
                             "-m", "3", "-r", "3", "-l", "3", cwd=tmp_path)
    assert rc == 0, out[-2000:]
    await asyncio.sleep(0.2)
    assert len(runtime.calls) == 3
    assert all(c.hangup == "remote-bye" for c in runtime.calls)
    assert channel.calls == {} and channel.pool.in_use == set()
    assert channel.tcp is not None and channel.tcp.stats["accepted"] >= 1
