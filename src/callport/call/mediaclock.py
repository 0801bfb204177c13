"""MediaClock: one shared tick for every call's paced frames, instead of a timer per frame.

Each pacer that has to wait for a frame's time (a clip, speech, hold music on a leg with no
playout buffer of its own) asks the clock of its event loop: ``await clock.sleep(delay)``.
The wake-up is put on the first tick at or after its due time (ticks are multiples of
``tick_s`` on the loop's clock), and the clock keeps one loop timer per tick that has
waiters: every pacer due by that tick is woken in the same loop turn. So N calls cost at
most ``1 / tick_s`` timers a second, not 50 N, and since a call's 20 ms grid is a multiple
of the tick, each frame of a call goes out on the same phase of the tick: send spacing
stays uniform (a frame is at most one tick late, the same for all of a call's frames).

``TickWaits`` is the sans-IO half (which waiters are released at which tick, tested in
simulated time); ``MediaClock`` the asyncio driver, one per event loop (``for_loop``).
"""

from __future__ import annotations

import asyncio
import math
import weakref
from dataclasses import dataclass, field
from typing import Generic, TypeVar

W = TypeVar("W")

TICK_S = 0.004  # a fifth of a 20 ms frame: a paced frame is at most 4 ms late


@dataclass(slots=True)
class TickWaits(Generic[W]):
    """Waiters grouped by the tick that releases them."""

    tick_s: float = TICK_S
    _ticks: dict[int, list[W]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tick_s > 0:
            raise ValueError(f"tick_s must be positive, not {self.tick_s}")

    def tick_of(self, due: float) -> int:
        """The first tick at or after ``due`` (tolerant of float error at a boundary)."""
        return math.ceil(due / self.tick_s - 1e-6)

    def add(self, due: float, waiter: W) -> float | None:
        """Wait for ``due``; returns the time of the tick to arm a timer for when it is the
        first waiter of its tick, else None (that tick's timer is armed already)."""
        tick = self.tick_of(due)
        waiting = self._ticks.get(tick)
        if waiting is not None:
            waiting.append(waiter)
            return None
        self._ticks[tick] = [waiter]
        return tick * self.tick_s

    def fire(self, at: float) -> list[W]:
        """The timer for the tick at ``at`` fired: its waiters, and those of any tick before
        it still waiting (a timer that fired late or out of order), in due order."""
        last = self.tick_of(at)
        ready = sorted(t for t in self._ticks if t <= last)
        out: list[W] = []
        for tick in ready:
            out += self._ticks.pop(tick)
        return out

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._ticks.values())

    @property
    def ticks(self) -> int:
        """Ticks with a timer armed."""
        return len(self._ticks)


class MediaClock:
    """The asyncio driver of ``TickWaits``: ``sleep`` resolves on the shared tick."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, tick_s: float = TICK_S) -> None:
        self._loop = loop
        self._waits: TickWaits[asyncio.Future[None]] = TickWaits(tick_s=tick_s)
        self.timers = 0  # loop timers armed so far (one per tick with waiters)
        self.woken = 0  # sleeps resolved so far

    @property
    def tick_s(self) -> float:
        return self._waits.tick_s

    async def sleep(self, delay: float) -> None:
        """Return on the first tick at or after ``delay`` from now (at once if not ahead)."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        loop = self._loop
        future: asyncio.Future[None] = loop.create_future()
        at = self._waits.add(loop.time() + delay, future)
        if at is not None:
            self.timers += 1
            loop.call_at(at, self._fire, at)
        await future  # a cancelled sleep leaves a done future: _fire skips it

    def _fire(self, at: float) -> None:
        for future in self._waits.fire(at):
            if not future.done():
                self.woken += 1
                future.set_result(None)


_CLOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock] = (
    weakref.WeakKeyDictionary()
)


def for_loop(loop: asyncio.AbstractEventLoop | None = None) -> MediaClock:
    """The media clock of ``loop`` (the running loop by default), made on first use."""
    loop = loop or asyncio.get_running_loop()
    clock = _CLOCKS.get(loop)
    if clock is None:
        clock = _CLOCKS[loop] = MediaClock(loop)
    return clock


async def shared_sleep(delay: float) -> None:
    """``asyncio.sleep``'s signature, on the running loop's shared media clock."""
    await for_loop().sleep(delay)
