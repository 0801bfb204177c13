"""Pacer: hands queued audio to a leg in real time, and taps it as it is sent.

The pacer pops the playout (frames, marks, sources read a frame at a time) and sends frames at
most ``leg.lead_ms`` ahead of real time; an endless source (hold music) on a leg with no
pacing of its own (``lead_ms`` infinite) is still paced, ``ENDLESS_LEAD_S`` ahead. Each frame
sent goes to the outbound taps at that moment, so a tap records what the leg was given, not
what was queued. ``clock`` and ``sleep`` are injected: tests run it in simulated time;
``asyncio.sleep`` (real time, the session's default) is replaced by the event loop's shared
media clock (``callport.call.mediaclock``): one timer per 4 ms tick for every call, not one
per frame per call.

A frame from a live source (``FrameItem.live``: a bridged party, an echo, audio that comes in
real time by itself) on a leg with no playout buffer (``lead_ms`` 0) is sent as soon as it is
read, never held back to a grid set by an earlier frame: a frame that came late moves the grid
later, and a grid that then kept the following, punctual frames waiting would keep that
lateness for the rest of the call. Its grid slews back by up to ``SLEW_S`` per frame instead
(consecutive sends stay at least 16 ms apart, so a burst is still paced); what a stall left
queued beyond the source's jitter bound is the source's to drop (``LiveSource``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from callport.call.leg import Leg
from callport.call.mediaclock import shared_sleep
from callport.call.playout import FrameItem, MarkItem, Playout, Starved
from callport.call.taps import Direction, TapFrame, TapList

ENDLESS_LEAD_S = 0.2
# A frame due less than this ahead is sent now: a sleep that short costs a timer and a loop
# turn per frame (live sources push each frame just before it is due) and buys no pacing.
SLACK_S = 0.002
# How much earlier than its grid a live frame may go (lead 0): the grid catches up with the
# arrivals by this much per frame; one media-clock tick, so the slewed time is on a tick.
SLEW_S = 0.004

Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    def __init__(
        self, *, leg: Leg, playout: Playout, clock: Callable[[], float],
        sleep: Sleep = asyncio.sleep, on_idle: Callable[[], None] = lambda: None,
        on_sent: Callable[[], None] = lambda: None,
    ) -> None:
        self._leg = leg
        self._playout = playout
        self._clock = clock
        self._sleep = shared_sleep if sleep is asyncio.sleep else sleep
        self._on_idle = on_idle
        self._on_sent = on_sent
        self._frame_s = leg.frame_ms / 1000.0
        self._samples = leg.sample_rate * leg.frame_ms // 1000
        self._wake = asyncio.Event()
        self._generation = 0
        self.taps = TapList()
        self.frames_out = 0
        self.sent_s = 0.0  # seconds of audio handed to the leg
        self.first_audio_wall: float | None = None

    def wake(self) -> None:
        self._wake.set()

    def cleared(self) -> None:
        """Queued audio was dropped (barge-in): a frame already popped is dropped too."""
        self._generation += 1
        self._wake.set()

    async def run(self) -> None:
        lead_leg = self.leg_lead()
        due = 0.0  # clock time at which the next frame is due to be heard
        while True:
            item = self._playout.pop(self._samples)
            if type(item) is not FrameItem:  # the common case first: one check per frame
                if item is None:
                    self._on_idle()
                    self._wake.clear()
                    await self._wake.wait()
                elif isinstance(item, Starved):
                    await self._starved(item)
                else:
                    assert isinstance(item, MarkItem)
                    await self._leg.mark(item.name)
                continue
            lead = ENDLESS_LEAD_S if item.endless and math.isinf(lead_leg) else lead_leg
            now = sent_at = self._clock()
            # a live frame is never held to a stale grid (lead 0): the grid slews back to it
            due = max(due - SLEW_S, now) if item.live and lead == 0.0 else max(due, now)
            if not math.isinf(lead):
                wait = due - lead - now
                if wait > SLACK_S:
                    generation = self._generation
                    await self._sleep(wait)
                    if generation != self._generation:
                        continue  # barge-in while we waited: this frame was cleared too
                    sent_at = self._clock()
            if self.first_audio_wall is None:
                self.first_audio_wall = sent_at
            await self._leg.send_audio(item.pcm)
            self.frames_out += 1
            self.sent_s += self._frame_s
            self._on_sent()
            if self.taps.active:
                self.taps.emit(TapFrame(Direction.OUT, item.pcm, self._leg.sample_rate,
                                        sent_at, self.sent_s, item.label))
            due += self._frame_s

    def leg_lead(self) -> float:
        return self._leg.lead_ms / 1000.0

    async def _starved(self, item: Starved) -> None:
        """Wait for the live source, or for a wake (barge-in, more queued, the end). A source
        that can set the pacer's own wake when it has audio (``notify_ready``, as
        ``LiveSource`` does) costs one event wait per frame, not two tasks."""
        self._wake.clear()
        notify = item.notify
        if notify is not None:
            notify(self._wake)
            await self._wake.wait()
            return
        ready = asyncio.ensure_future(item.source.ready())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({ready, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            woken.cancel()
