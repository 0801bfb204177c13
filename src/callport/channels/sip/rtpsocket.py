"""asyncio RTP sockets and the RTP port pool (even ports within the configured range)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Addr = tuple[str, int]


class RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, Addr], None]) -> None:
        self.on_packet = on_packet
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            self.on_packet(data, (str(addr[0]), int(str(addr[1]))))
        except Exception:  # a bad packet must never kill the socket
            log.exception("RTP packet handler failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


async def open_rtcp(host: str, port: int) -> tuple[asyncio.DatagramTransport, RtpProtocol] | None:
    """The RTCP socket on ``port`` (RTP port + 1); ``None`` if that port is taken.

    Set ``on_packet`` on the returned protocol once the leg exists."""
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: RtpProtocol(lambda d, a: None), local_addr=(host, port))
    except OSError as exc:
        log.info("RTCP port %d unavailable: %s", port, exc)
        return None
    return transport, proto


class RtpPortPool:
    """Hands out even UDP ports in [low, high], round-robin, skipping ports in use."""

    def __init__(self, *, host: str, low: int, high: int) -> None:
        self.host = host
        self.low = low + (low % 2)
        self.high = high
        self._next = self.low
        self.in_use: set[int] = set()

    async def open(
        self, on_packet: Callable[[bytes, Addr], None]
    ) -> tuple[asyncio.DatagramTransport, RtpProtocol, int]:
        loop = asyncio.get_running_loop()
        span = (self.high - self.low) // 2 + 1
        for _ in range(span):
            port = self._next
            self._next = self._next + 2 if self._next + 2 <= self.high else self.low
            if port in self.in_use:
                continue
            try:
                transport, proto = await loop.create_datagram_endpoint(
                    lambda: RtpProtocol(on_packet), local_addr=(self.host, port))
            except OSError:
                continue
            self.in_use.add(port)
            return transport, proto, port
        raise RuntimeError(f"no free RTP port in {self.low}-{self.high}")

    def release(self, port: int) -> None:
        self.in_use.discard(port)
