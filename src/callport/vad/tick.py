"""TickSchedule: the sans-IO half of the shared-tick VAD batcher (``vad.batcher``).

Every stream with a full window waiting is scored on the next tick of a shared clock (the
32 ms Silero window boundary of the event loop's clock), all in one inference, so a batch holds
every call that has a window ready, not just the calls whose audio happened to arrive in the
same loop iteration. Nothing here reads a clock or awaits: the shell passes ``now`` and arms a
timer for the time returned, so schedules replay exactly in simulated time::

    schedule = TickSchedule(tick_s=0.032)
    at = schedule.ready(stream, waiter, now=0.010)   # 0.032: arm a timer for then
    batch = schedule.due(now=0.032)                  # every (stream, waiters) ready by now
    at = schedule.done(now=0.036)                    # None, or the next tick if more waited

One batch is in flight at a time: windows that become ready meanwhile wait for its end (a
stream's recurrent state is only known once its previous window is scored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

S = TypeVar("S")
W = TypeVar("W")

TICK_S = 0.032  # one Silero window (256 samples at 8 kHz, 512 at 16 kHz)


@dataclass(slots=True)
class TickSchedule(Generic[S, W]):
    """Which streams to score at which tick; ``W`` is whatever a waiter is (a callback)."""

    tick_s: float = TICK_S
    _waiting: dict[S, list[W]] = field(default_factory=dict)
    _armed: float | None = None  # the tick a timer is set for
    _busy: bool = False  # a batch is being scored
    batches: list[int] = field(default_factory=list)  # sizes of the last batches (bounded)

    def __post_init__(self) -> None:
        if not self.tick_s > 0:
            raise ValueError(f"tick_s must be positive, not {self.tick_s}")

    @property
    def waiting(self) -> int:
        """Streams with a window ready for the next batch."""
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._busy

    def next_tick(self, now: float) -> float:
        """The first tick boundary at or after ``now`` (ticks are multiples of ``tick_s``)."""
        return math.ceil(now / self.tick_s - 1e-9) * self.tick_s

    def ready(self, stream: S, waiter: W, now: float) -> float | None:
        """``stream`` has a window ready; returns the time to arm a timer for, or None when
        one is armed already (or a batch is in flight: its ``done`` arms the next)."""
        self._waiting.setdefault(stream, []).append(waiter)
        if self._armed is not None or self._busy:
            return None
        self._armed = self.next_tick(now)
        return self._armed

    def due(self, now: float) -> list[tuple[S, list[W]]]:
        """The timer fired: every stream waiting forms one batch, now in flight (empty when
        fired early or while a batch is in flight)."""
        if self._busy or self._armed is None or now < self._armed - 1e-9:
            return []
        self._armed = None
        batch = list(self._waiting.items())
        self._waiting = {}
        if batch:
            self._busy = True
            self.batches.append(len(batch))
            if len(self.batches) > 1024:
                del self.batches[:512]
        return batch

    def done(self, now: float) -> float | None:
        """The batch in flight was scored; returns the next tick to arm for if streams
        wait (those that became ready meanwhile form that tick's batch)."""
        self._busy = False
        if not self._waiting or self._armed is not None:
            return None
        self._armed = self.next_tick(now)
        return self._armed

    def forget(self, stream: S) -> list[W]:
        """Drop a stream (its call ended); returns its waiters, which will never be served."""
        return self._waiting.pop(stream, [])
