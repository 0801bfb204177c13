"""The SIP adapter: INVITE with an SDP offer (PCMU/8000, ptime 20) over UDP, ACK of the 200,
RTP from the port the offer named, BYE; requests callport sends (BYE, OPTIONS) are answered
200. One ``SipUa`` socket per generator process; calls are told apart by Call-ID."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import uuid

from loadgen.channels import OnFrame


def _parse(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers: dict[str, str] = {}
    compact = {"i": "call-id", "v": "via", "f": "from", "t": "to", "l": "content-length"}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.setdefault(compact.get(key, key), value.strip())
    return lines[0], headers, body


class SipUa(asyncio.DatagramProtocol):
    """One UDP SIP socket per generator process; calls are told apart by Call-ID."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[tuple[str, str], asyncio.Future[tuple[str, dict[str, str], bytes]]]
        self.waiting = {}
        self.port = 0

    @classmethod
    async def open(cls) -> SipUa:
        loop = asyncio.get_running_loop()
        transport, ua = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        ua.port = transport.get_extra_info("sockname")[1]
        return ua

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        first, headers, _ = _parse(data)
        cseq = headers.get("cseq", "0 X").split()
        if first.startswith("SIP/2.0"):
            code = int(first.split()[1])
            future = self.waiting.get((headers.get("call-id", ""), cseq[-1]))
            if code >= 200 and future is not None and not future.done():
                future.set_result((first, headers, data.partition(b"\r\n\r\n")[2]))
            return
        reply = "".join(f"{name}: {headers[name.lower()]}\r\n"
                        for name in ("Via", "From", "To", "Call-ID", "CSeq")
                        if name.lower() in headers)
        assert self.transport is not None
        self.transport.sendto(f"SIP/2.0 200 OK\r\n{reply}Content-Length: 0\r\n\r\n".encode(),
                              addr)

    def send(self, text: str, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), addr)


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, on_frame: OnFrame) -> None:
        self.on_frame = on_frame

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:
            self.on_frame(data[12:], time.monotonic())


class SipCall:
    def __init__(self, ua: SipUa, server: tuple[str, int], on_frame: OnFrame) -> None:
        self.ua, self.server, self.on_frame = ua, server, on_frame
        self.call_id = uuid.uuid4().hex + "@127.0.0.1"
        self.tag = uuid.uuid4().hex[:10]
        self.to = "<sip:echo@127.0.0.1>"
        self.rtp: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] = ("127.0.0.1", 0)
        self._seq = 0
        self._ssrc = uuid.uuid4().int & 0xFFFFFFFF

    def _request(self, method: str, cseq: int, body: str = "", to: str = "") -> str:
        ua = self.ua.port
        extra = "Content-Type: application/sdp\r\n" if body else ""
        return (f"{method} sip:echo@{self.server[0]}:{self.server[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{ua};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:load@127.0.0.1>;tag={self.tag}\r\n"
                f"To: {to or '<sip:echo@127.0.0.1>'}\r\nCall-ID: {self.call_id}\r\n"
                f"CSeq: {cseq} {method}\r\nContact: <sip:load@127.0.0.1:{ua}>\r\n"
                f"{extra}Content-Length: {len(body)}\r\n\r\n{body}")

    async def _transact(self, method: str, cseq: int, text: str) -> tuple[str, dict[str, str],
                                                                           bytes]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.ua.waiting[(self.call_id, method)] = future
        try:
            for wait in (0.5, 1.0, 2.0, 4.0, 8.0):  # RFC 3261 timer A doubling
                self.ua.send(text, self.server)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    continue
            raise TimeoutError(f"no final answer to {method}")
        finally:
            self.ua.waiting.pop((self.call_id, method), None)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Rtp(self.on_frame), local_addr=("127.0.0.1", 0))
        port = self.rtp.get_extra_info("sockname")[1]
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n")
        first, headers, body = await self._transact("INVITE", 1, self._request("INVITE", 1, sdp))
        if not first.startswith("SIP/2.0 200"):
            raise RuntimeError(f"INVITE refused: {first}")
        self.to = headers["to"]
        host, media = "127.0.0.1", 0
        for line in body.decode().splitlines():
            if line.startswith("c=IN IP4 "):
                host = line.split()[-1]
            elif line.startswith("m=audio "):
                media = int(line.split()[1])
        self.remote = (host, media)
        ack = self._request("ACK", 1, to=self.to)
        self.ua.send(ack, self.server)

    async def send(self, payload: bytes) -> None:
        assert self.rtp is not None
        header = struct.pack("!BBHII", 0x80, 0, self._seq & 0xFFFF, (160 * self._seq) & 0xFFFFFFFF,
                             self._ssrc)
        self._seq += 1
        self.rtp.sendto(header + payload, self.remote)

    async def hangup(self) -> None:
        with contextlib.suppress(TimeoutError, RuntimeError):
            await asyncio.wait_for(self._transact("BYE", 2, self._request("BYE", 2, to=self.to)),
                                   5)
        if self.rtp is not None:
            self.rtp.close()
