"""EventInbox: the queue half of a Leg, shared by every channel driver."""

from __future__ import annotations

import asyncio

from callport.call.events import HungUp, LegEvent


class EventInbox:
    """Drivers ``put`` events; the session ``get``s them. ``close`` ends the stream with HungUp."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[LegEvent] = asyncio.Queue()
        self._closed: HungUp | None = None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def put(self, event: LegEvent) -> None:
        if self._closed is not None:
            return
        if isinstance(event, HungUp):
            self._closed = event
        self._queue.put_nowait(event)

    def close(self, reason: str = "normal") -> None:
        self.put(HungUp(reason))

    async def get(self) -> LegEvent:
        if self._closed is not None and self._queue.empty():
            return self._closed
        return await self._queue.get()
