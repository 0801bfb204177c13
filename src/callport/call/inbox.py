"""EventInbox: the queue half of a Leg, shared by every channel driver, with its marks.

The inbox holds the leg's ``MarkBook`` (``callport.call.marks``), so the mark rules hold on every
leg and on every way a leg can end: ``mark`` / ``mark_played`` / ``clear_marks`` queue the
answers, and closing (``close`` or ``put(HungUp)``, whoever does it) answers every pending mark
``played=False`` before the ``HungUp``. ``HungUp`` is always the last event: once the inbox is
closed only answers to marks may still be queued, and only until the ``HungUp`` has been taken;
after that every ``get`` returns the same ``HungUp`` and ``put`` drops what it is given.
While ``muted`` (a callport-side hold) caller audio (``AudioIn``) is dropped at the door.
"""

from __future__ import annotations

import asyncio
from collections import deque

from callport.call.events import AudioIn, HungUp, LegEvent, Marked
from callport.call.marks import MarkBook


class EventInbox:
    """Drivers ``put`` events; the session ``get``s them. ``close`` ends the stream with HungUp."""

    def __init__(self) -> None:
        self._events: deque[LegEvent] = deque()
        self._ready = asyncio.Event()
        self._closed: HungUp | None = None
        self._delivered = False  # the HungUp has been taken
        self._marks = MarkBook()
        self.muted = False  # on hold: caller audio does not reach the session

    # ---- marks (see MarkBook) --------------------------------------------------------------

    def mark(self, name: str) -> str | None:
        """Place a mark; the token to send to the far end, or None (answered unplayed) if closed."""
        token = self._marks.place(name)
        self._answer()
        return token

    def mark_played(self, token: str) -> bool:
        """The far end played up to ``token`` (False: not pending, e.g. cleared)."""
        known = self._marks.played(token)
        self._answer()
        return known

    def clear_marks(self) -> tuple[str, ...]:
        """Audio dropped: every pending mark is answered ``played=False``; their tokens."""
        tokens = self._marks.clear()
        self._answer()
        return tokens

    def drop_marks(self, tokens: tuple[str, ...]) -> None:
        """The far end dropped the audio of these marks: each still pending is answered
        ``played=False`` (``MarkBook.drop``)."""
        self._marks.drop(tokens)
        self._answer()

    @property
    def pending_marks(self) -> tuple[str, ...]:
        return self._marks.pending

    def _answer(self) -> None:
        for answer in self._marks.take():
            self.put(answer)

    # ---- events ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def pending(self) -> int:
        return len(self._events)

    def put(self, event: LegEvent) -> None:
        if self.muted and isinstance(event, AudioIn):
            return
        if self._closed is not None:
            if isinstance(event, Marked) and not self._delivered:
                self._events.append(event)  # an answer to a mark still precedes the HungUp
                self._ready.set()
            return
        if isinstance(event, HungUp):
            self._marks.close()
            self._answer()
            self._closed = event
        else:
            self._events.append(event)
        self._ready.set()

    def close(self, reason: str = "normal") -> None:
        self.put(HungUp(reason))

    async def get(self) -> LegEvent:
        while True:
            if self._events:
                return self._events.popleft()
            if self._closed is not None:
                self._delivered = True
                return self._closed
            self._ready.clear()
            await self._ready.wait()
