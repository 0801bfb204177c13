"""The SIP sockets of the channel (RFC 3261 §18): one UDP endpoint and one TCP listener on
the same host:port, and a ``send`` that picks the right one by transport name.

What arrives is handed to ``on_message(transport, data, addr)`` ("UDP" or "TCP"); the
channel feeds it to that transport's ``UserAgent``. A TCP connection we could not open
(refused, unreachable) is reported through ``on_unreachable(addr)`` so pending requests to
it fail over at once instead of waiting for Timer B/F.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from callport.channels.sip.tcp import SipTcpTransport

log = logging.getLogger(__name__)

Addr = tuple[str, int]


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Addr], None]) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self.on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)


class SipTransports:
    def __init__(self, *, on_message: Callable[[str, bytes, Addr], None],
                 on_unreachable: Callable[[Addr], None] | None = None) -> None:
        self.on_message = on_message
        self.on_unreachable = on_unreachable
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: SipTcpTransport | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Bind UDP (required) and TCP (best effort) on host:port; returns the bound port."""
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(lambda d, a: self.on_message("UDP", d, a)),
            local_addr=(host, port))
        self.udp = udp
        self.port = int(udp.get_extra_info("sockname")[1])
        tcp = SipTcpTransport(on_message=lambda d, a: self.on_message("TCP", d, a),
                              on_unreachable=self._unreachable)
        try:
            await tcp.start(host, self.port)
        except OSError as exc:
            log.warning("SIP TCP listener on %s:%d failed: %s", host, self.port, exc)
        else:
            self.tcp = tcp
        return self.port

    def _unreachable(self, addr: Addr) -> None:
        if self.on_unreachable is not None:
            self.on_unreachable(addr)

    def send(self, transport: str, data: bytes, addr: Addr) -> None:
        if transport == "TCP":
            if self.tcp is not None:
                self.tcp.send(data, addr)
        elif self.udp is not None:
            self.udp.sendto(data, addr)

    async def stop(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            await self.tcp.stop()
