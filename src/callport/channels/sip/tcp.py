"""asyncio SIP over TCP (RFC 3261 §18): a listener, one framer per connection, replies on
the connection a request came in on.

Connections are keyed by the peer's (ip, port); ``send`` writes to the live connection for
that address, or opens one for a *request* we originate (to a trunk, a registrar, a dialog
peer). A *response* never opens a connection: it goes back on the connection its request
came in on or is dropped (counted ``responses_dropped``). RFC 3261 §18.2.2 would have a
server connect to the Via's sent-by when that connection is gone; for an unauthenticated
source that is exactly the reflection an attacker wants (any host named in Via), and the
client retransmits its request over a connection of its own anyway.
A bad frame closes only that connection; a connection we fail to open is reported to
``on_unreachable(addr)`` (the UA then fails over, RFC 3263 §4.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from callport.channels.sip.framing import FrameError, StreamFramer
from callport.logs import safe

log = logging.getLogger(__name__)

Addr = tuple[str, int]


class SipTcpTransport:
    def __init__(self, *, on_message: Callable[[bytes, Addr], None],
                 on_unreachable: Callable[[Addr], None] | None = None,
                 idle_timeout: float = 300.0, max_connections: int = 1024,
                 admission_timeout: float = 10.0) -> None:
        self.on_message = on_message
        self.on_unreachable = on_unreachable
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections  # more accepted ones are closed at once
        # A connection must deliver its first whole SIP message within this (else closed):
        # idle or half-sent connections cannot hold the listener's slots.
        self.admission_timeout = admission_timeout
        self.connections: dict[Addr, asyncio.StreamWriter] = {}
        self.stats = {"accepted": 0, "bad_frames": 0, "responses_dropped": 0}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connecting: dict[Addr, list[bytes]] = {}  # queued while the connect runs

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accepted, host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self.connections.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)

    def send(self, data: bytes, addr: Addr) -> None:
        writer = self.connections.get(addr)
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        if addr in self._connecting:
            self._connecting[addr].append(data)
            return
        if data.startswith(b"SIP/2.0 "):  # a response: only on the request's connection
            self.stats["responses_dropped"] += 1
            return
        self._connecting[addr] = [data]
        self._spawn(self._connect_and_send(addr))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_send(self, addr: Addr) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), 5.0)
        except (OSError, TimeoutError) as exc:
            self._connecting.pop(addr, None)
            log.info("SIP TCP connect to %s failed: %s", addr, exc)
            if self.on_unreachable is not None:
                self.on_unreachable(addr)
            return
        for data in self._connecting.pop(addr, []):
            writer.write(data)
        await self._serve(reader, writer, addr, admitted=True)  # ours: no admission deadline

    async def _accepted(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        addr = (str(peer[0]), int(peer[1]))
        if len(self.connections) >= self.max_connections:
            self.stats["refused"] = self.stats.get("refused", 0) + 1
            writer.close()
            return
        self.stats["accepted"] += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self._serve(reader, writer, addr)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     addr: Addr, *, admitted: bool = False) -> None:
        self.connections[addr] = writer
        framer = StreamFramer()
        try:
            while True:
                wait = self.idle_timeout if admitted else self.admission_timeout
                data = await asyncio.wait_for(reader.read(65536), wait)
                if not data:
                    return
                for frame in framer.feed(data):
                    if isinstance(frame, FrameError):
                        self.stats["bad_frames"] += 1  # junk: counted, one DEBUG line
                        log.debug("SIP TCP %s: %s, closing", addr, safe(frame.reason))
                        return
                    admitted = True
                    try:
                        self.on_message(frame, addr)
                    except Exception:  # a handler bug must not kill the connection loop
                        log.exception("SIP TCP handler failed on a message from %s", addr)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            if self.connections.get(addr) is writer:
                del self.connections[addr]
            writer.close()
