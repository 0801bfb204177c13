"""The SIP caller of bench_ear.py: a Python user agent and RTP endpoint on loopback.

It sends a plain INVITE (PCMU, 20 ms), ACKs the 200, then sends the caller's timeline as RTP
in real time (each packet's send time kept) and stamps every RTP packet it receives on
arrival: what a phone without a jitter buffer would play at that moment (a real phone adds
its jitter buffer, typically 20-60 ms, on top). It answers the server's requests (BYE,
OPTIONS, UPDATE) with 200 and hangs up with BYE when the timeline is over.
"""

from __future__ import annotations

import asyncio
import random
import re
import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from callport.audio.g711 import ulaw_decode, ulaw_encode
from ear_common import Heard, Requests, Span, Track, converse

FRAME = 160  # 20 ms of 8 kHz PCMU


class _Sip(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.responses: asyncio.Queue[str] = asyncio.Queue()
        self.bye = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode(errors="replace")
        if text.startswith("SIP/2.0"):
            self.responses.put_nowait(text)
            return
        method = text.split(" ", 1)[0]
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [h for h in head[1:] if h.split(":", 1)[0].strip().lower()
                in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
        reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
        self.transport.sendto(reply.encode(), addr)
        if method == "BYE":
            self.bye.set()


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, heard: Heard) -> None:
        self.heard = heard
        self.transport: Any = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2 or data[1] & 0x7F != 0:
            return  # not PCMU RTP (RTCP, DTMF events)
        cc = data[0] & 0x0F
        self.heard.add(self.loop.time(), ulaw_decode(data[12 + 4 * cc:]))


def _header(text: str, name: str) -> str:
    m = re.search(rf"^{name}\s*:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
    return m.group(1).strip() if m else ""


async def sip_call(sip_port: int, requests: Requests, *, caller: str = "+15550009999"
                   ) -> tuple[list[Span], Heard]:  # fmt: skip
    """One call into callport's SIP port; the requests' spans and what the caller heard."""
    assert requests.rate == 8000
    loop = asyncio.get_running_loop()
    heard = Heard()
    sip_t, sip = await loop.create_datagram_endpoint(_Sip, local_addr=("127.0.0.1", 0))
    rtp_t, _ = await loop.create_datagram_endpoint(lambda: _Rtp(heard),
                                                   local_addr=("127.0.0.1", 0))
    lport, rport = sip_t.get_extra_info("sockname")[1], rtp_t.get_extra_info("sockname")[1]
    server = ("127.0.0.1", sip_port)
    call_id = f"ear-{random.getrandbits(48):x}@127.0.0.1"
    tag = f"{random.getrandbits(32):x}"
    uri = f"sip:callport@127.0.0.1:{sip_port}"

    def request(method: str, ruri: str, cseq: int, to: str, body: str = "") -> None:
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{random.getrandbits(40):x}"
                 ";rport",
                 "Max-Forwards: 70", f"From: <sip:{caller}@127.0.0.1>;tag={tag}", f"To: {to}",
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
                 f"Contact: <sip:{caller}@127.0.0.1:{lport}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        sip_t.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), server)

    sdp = ("v=0\r\no=ear 1 1 IN IP4 127.0.0.1\r\ns=ear\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {rport} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")
    try:
        request("INVITE", uri, 1, f"<{uri}>", sdp)
        while True:
            resp = await asyncio.wait_for(sip.responses.get(), 30)
            code = int(resp.split(" ", 2)[1])
            if code >= 300:
                raise RuntimeError(f"INVITE refused: {resp.splitlines()[0]}")
            if code == 200 and "INVITE" in _header(resp, "CSeq"):
                break
        to = _header(resp, "To")
        contact = _header(resp, "Contact").strip("<>").split(">")[0]
        body = resp.split("\r\n\r\n", 1)[1]
        host = re.search(r"^c=IN IP4 (\S+)", body, re.MULTILINE)
        port = re.search(r"^m=audio (\d+)", body, re.MULTILINE)
        assert host and port, body
        media = (host.group(1), int(port.group(1)))
        request("ACK", contact, 1, to)
        track = Track(ulaw_encode(np.zeros(FRAME, np.int16)), 8000)
        sender = asyncio.create_task(_send_rtp(rtp_t, media, track))

        async def say(pcm: NDArray[np.int16]) -> Span:
            return await track.said(ulaw_encode(pcm), len(pcm) / 8000)

        async def audible() -> bool:
            return heard.audible(loop.time())

        try:
            spans = await converse(requests, say, audible)
        finally:
            sender.cancel()
        if not sip.bye.is_set():
            request("BYE", contact, 2, to)
            await asyncio.wait_for(sip.responses.get(), 10)
    finally:
        sip_t.close()
        rtp_t.close()
    return spans, heard


async def _send_rtp(rtp_t: Any, media: tuple[str, int], track: Track) -> None:
    """20 ms PCMU packets on a fixed schedule (a late one goes out at once)."""
    loop = asyncio.get_running_loop()
    ssrc = random.getrandbits(32)
    start = loop.time()
    n = 0
    while True:
        header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0x00, n & 0xFFFF,
                             (n * FRAME) & 0xFFFFFFFF, ssrc)
        rtp_t.sendto(header + track.next_frame(loop.time()), media)
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
