"""Speaker: the agent's side of one call's media, queued audio out to the leg.

Clauses, raw frames and sources go into a ``Playout``; the ``Pacer`` sends them to the leg at
its pace; the marks the leg reports back say what the caller heard (``heard``). A barge-in
(``cut``) drops what is interruptible at once; ``wait_played`` tells a reply's end from its
interruption. ``CallSession`` owns one and decides when to cut (it sees the caller's side);
the speaker never reads caller audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callport.audio.frame import frame_samples
from callport.call.leg import Leg
from callport.call.pacer import Pacer, Sleep
from callport.call.playout import HeardSegment, Playout, to_frames
from callport.call.sources import AudioSource
from callport.call.taps import TapList
from callport.types import PCM16

__all__ = ["HEARD_WAIT_S", "Speaker"]

HEARD_WAIT_S = 1.5  # longest wait for a cleared far end's mark answers (a page's CLEAR_ACK_S)


class Speaker:
    """Queued audio -> playout -> pacer -> leg, with the heard ledger and barge-in cuts."""

    def __init__(self, *, leg: Leg, clock: Callable[[], float], sleep: Sleep,
                 on_sent: Callable[[], None]) -> None:
        self._leg = leg
        self._rate = leg.sample_rate
        self._frame = frame_samples(leg.sample_rate, leg.frame_ms)
        self._playout = Playout()
        self.pacer = Pacer(leg=leg, playout=self._playout, clock=clock, sleep=sleep,
                           on_idle=self._check_idle, on_sent=on_sent)
        self._idle = asyncio.Event()
        self._idle.set()
        self._barged = asyncio.Event()
        self._marked = asyncio.Event()  # set by every mark answer (wait_heard)
        self._interrupted = False
        self._closed = False  # the call ended: nothing more is queued
        self._reply_serial = 0

    # ---- state -----------------------------------------------------------------------

    @property
    def taps(self) -> TapList:  # what the leg was given, frame by frame (outbound taps)
        return self.pacer.taps

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    @property
    def reply_serial(self) -> int:
        return self._reply_serial

    @property
    def holding(self) -> bool:  # hold music (an endless source) is queued
        return self._playout.endless

    @property
    def interruptible(self) -> bool:
        """True while interruptible audio is queued here or not yet confirmed played."""
        return self._playout.interruptible

    # ---- queueing ----------------------------------------------------------------------

    def new_reply(self) -> None:
        """New audio begins: reset the heard ledger and the interrupted flag."""
        self._playout.reset_ledger()
        self._reply_serial += 1
        self._interrupted = False
        self._barged.clear()
        self.pacer.first_audio_wall = None

    def _queued(self) -> None:
        self._idle.clear()
        self.pacer.wake()

    def enqueue_clause(self, text: str, pcm: PCM16, sample_rate: int) -> None:
        """Queue one spoken clause (with marks) unless the reply was interrupted."""
        if self._interrupted or self._closed:
            return
        self._playout.add_clause(text, to_frames(pcm, sample_rate, self._rate, self._frame))
        self._queued()

    def enqueue_audio(self, pcm: PCM16, sample_rate: int, *, label: str = "audio") -> None:
        """Queue raw audio; it carries marks like speech (``heard()`` says how much played)."""
        if self._closed:
            return
        self._playout.add_frames(to_frames(pcm, sample_rate, self._rate, self._frame),
                                 label=label)
        self._queued()

    def play(self, source: AudioSource, *, interruptible: bool = True) -> None:
        """Queue ``source`` (opened here at the leg's rate); the pacer pulls it frame by frame.
        A source that is not ``interruptible`` survives barge-in (a bridged party)."""
        if self._closed:
            return
        source.open(self._rate)
        self._playout.add_source(source, interruptible=interruptible)
        self._queued()

    async def stop_audio(self) -> None:
        """Drop everything queued (hold music included) and clear the leg's buffer."""
        self._playout.clear()
        self.pacer.cleared()
        self._check_idle()
        if not self._closed:
            await self._leg.clear()

    # ---- cuts --------------------------------------------------------------------------

    def cut(self) -> None:
        """Barge-in: drop what is interruptible now (sources queued as not interruptible,
        such as a bridged party, keep playing); the caller clears the leg's buffer."""
        self._playout.clear(keep_fixed=True)
        self.pacer.cleared()
        self._interrupted = True
        self._idle.set()
        self._barged.set()

    def close(self) -> None:
        """The call ended: drop everything and wake every waiter."""
        self._closed = True
        self._playout.clear()
        self._interrupted = True
        self._idle.set()
        self._barged.set()
        self.pacer.cleared()

    async def wait_barge_in(self) -> None:
        """Return once the current audio was interrupted (barge-in) or the call ended."""
        while not (self._interrupted or self._closed):
            await self._barged.wait()
            self._barged.clear()

    # ---- what was heard ----------------------------------------------------------------

    def marked(self, name: str, played: bool) -> None:
        """The leg answered mark ``name`` (``played``: the audio before it was heard)."""
        self._playout.marked(name, played)
        self._marked.set()
        self._check_idle()

    def heard_text(self) -> str:
        return self._playout.heard_text()

    def heard(self) -> list[HeardSegment]:
        return self._playout.heard()

    async def wait_heard(self, timeout: float = HEARD_WAIT_S) -> None:
        """After a barge-in, until every mark of the cut audio still in flight is answered
        (or ``timeout``): the far end may have played some of it before the clear reached
        it (a page's player confirms its clear), so ``heard()`` is exact only then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._playout.interruptible and not self._closed:
            self._marked.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._marked.wait(), remaining)
            except TimeoutError:
                return

    async def wait_played(self) -> bool:
        """Wait until queued audio has played (True) or was interrupted (False)."""
        await self._idle.wait()
        return not self._interrupted

    def _check_idle(self) -> None:
        if len(self._playout) == 0 and self._playout.pending_marks == 0:
            self._idle.set()
