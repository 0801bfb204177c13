"""uvicorn's HTTP protocol with a header deadline: a connection that does not finish a request's
line and headers within ``limits.header_timeout_s`` is closed.

uvicorn times out only an idle keep-alive connection *after* a response; a client that opens
a connection and sends its headers a byte at a time (or nothing at all) holds a socket and a
protocol object for as long as it likes. ``guarded_protocol`` returns a subclass of uvicorn's
httptools protocol (h11 where httptools is missing) that arms a deadline when the connection
opens and again after each response; the deadline closes the connection unless a request is
in progress by then. A WebSocket upgrade hands the socket to the WebSocket protocol, whose
own admission deadlines then apply (``limits.ws_admission_s``, the browser's start deadline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from callport.edgelog import EDGE

__all__ = ["guarded_protocol"]

log = logging.getLogger(__name__)


def _base() -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # no httptools: the pure-Python h11 protocol has the same hooks
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """The HTTP protocol class for ``uvicorn.Config(http=...)`` (see the module docstring)."""
    base = _base()

    class HeaderDeadlineProtocol(base):  # type: ignore[misc,valid-type]
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_deadline()

        def handle_websocket_upgrade(self, *args: Any) -> None:
            self._disarm_header_deadline()
            super().handle_websocket_upgrade(*args)

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._header_deadline = self.loop.call_later(header_timeout_s, self._header_late)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _header_late(self) -> None:
            self._header_deadline = None
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                return  # a request is being served: its body has its own deadline
            if not self.transport.is_closing():
                allowed, _ = EDGE.report("http", "header-timeout", now=time.monotonic())
                if allowed:
                    log.info("closed a connection from %s: no request within %g s",
                             (self.client or ("?",))[0], header_timeout_s)
                self.transport.close()

    return HeaderDeadlineProtocol
