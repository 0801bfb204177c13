"""Bridge: two parties (any channels) talking through callport, each direction tapped.

    result = await Bridge(a=caller.session, b=agent.session,
                          taps_a_to_b=[recorder.caller_side], taps_b_to_a=[...]).run()
    match result:
        case PartyLeft(side="a", reason=reason): ...

Each session keeps its own leg, reader and pacer: A's inbound audio is pushed into a
``LiveSource`` that B's pacer plays (resampled to B's rate, at B's pace, with marks), and
vice versa. A tap on the A->B direction sees A's audio at the moment B's pacer sent it, so a
recording or a supervisor hears what B actually heard. DTMF pressed on one side is sent to
the other (``Leg.send_dtmf``; a leg that refuses is logged, the bridge goes on). Either
party hanging up ends the bridge with ``PartyLeft``; ``stop()`` ends it with ``Stopped``
(warm transfer, unbridge), leaving both calls up; ``handover`` ends it with
``HandedOver`` (an attended transfer from a phone joined the parties elsewhere:
``follow_handovers`` is what the owner does next, and ``bridge_of(call_id)`` finds the bridge
a leg is in). While bridged, neither session runs turn detection (digits still arrive); both
are restored when the bridge ends. This is the seam
queues, warm transfer, supervisor listen-in and recording build on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from callport.call.controls import Refused
from callport.call.results import HungUp
from callport.call.session import CallerDigit, CallSession
from callport.call.sources import LiveSource
from callport.call.taps import Direction, MediaTap, TapFrame
from callport.types import PCM16

log = logging.getLogger(__name__)

Side = Literal["a", "b"]


@dataclass(frozen=True, slots=True)
class BridgeResult:
    """Base of how a bridge ended."""


@dataclass(frozen=True, slots=True)
class PartyLeft(BridgeResult):
    """``side`` hung up (or its leg ended: transferred, error) with ``reason``."""

    side: Side
    reason: str


@dataclass(frozen=True, slots=True)
class Stopped(BridgeResult):
    """``Bridge.stop()`` was called; both parties are still on their calls."""


@dataclass(frozen=True, slots=True, eq=False)
class HandedOver(BridgeResult):
    """``handover`` ended the bridge (an attended transfer joined its party elsewhere): the
    owner's party (``keep``) now talks to ``to``, once ``after`` (the bridge ``to`` came
    from) has let go of it; ``to`` None: the party belongs to another bridge now, so the
    owner only waits for its call to end. ``follow_handovers`` does both."""

    keep: Side
    kept: CallSession
    to: CallSession | None = None
    after: Bridge | None = None


_LIVE: dict[str, Bridge] = {}  # leg call_id -> the bridge it is in (attended transfer joins)
_MOVED: weakref.WeakSet[CallSession] = weakref.WeakSet()  # parties another owner took over


def bridge_of(call_id: str) -> Bridge | None:
    """The running bridge the leg ``call_id`` is in, if any."""
    return _LIVE.get(call_id)


def moved(session: CallSession) -> bool:
    """True once a handover gave ``session`` to another bridge's owner: its old owner must
    neither hang it up nor close it (the new owner does, ``follow_handovers``)."""
    return session in _MOVED


async def follow_handovers(result: BridgeResult) -> BridgeResult:
    """What a bridge's owner does with its result: while it is ``HandedOver``, bridge the
    kept party to the new one (or wait for its call to end); the last result."""
    while isinstance(result, HandedOver):
        kept = result.kept
        if result.to is None:
            await kept.wait_ended()
            return PartyLeft(result.keep, kept.hangup_reason or "handed-over")
        if result.after is not None:
            await result.after.done.wait()
        other = result.to
        try:
            result = await Bridge(a=kept, b=other).run()
        finally:  # ours now: its old owner left it to us
            if not (isinstance(result, HandedOver) and result.kept is other):
                _MOVED.discard(other)
                if not other.ended:
                    await other.hangup("bridge-ended")
                with contextlib.suppress(TimeoutError):  # its old owner may wait for the end
                    await asyncio.wait_for(other.wait_ended(), 2.0)
                await other.close()
    return result


class _Feed:
    """Inbound tap of one side: its audio goes into the other side's source, with any
    injected audio (a supervisor's whisper) mixed in; injected audio that finds no frame to
    ride on (the party is silent and sends nothing) goes on alone past ``lag`` samples."""

    def __init__(self, source: LiveSource, *, lag: int = 1600, max_extra: int = 16000) -> None:
        self._source = source
        self._lag = lag
        self._max_extra = max_extra
        self._extra: list[PCM16] = []
        self._queued = 0
        self._last_seen = 0

    def on_frame(self, frame: TapFrame) -> None:
        pcm = frame.pcm
        if self._queued:
            extra = np.concatenate(self._extra)
            n = min(len(extra), len(pcm))
            pcm = pcm.copy()
            pcm[:n] = np.clip(pcm[:n].astype(np.int32) + extra[:n], -32768, 32767)
            rest = extra[n:]
            self._extra = [rest] if len(rest) else []
            self._queued = len(rest)
        self._source.push(pcm)

    def inject(self, pcm: PCM16) -> None:
        self._extra.append(pcm)
        self._queued += len(pcm)
        if self._queued > self._lag:
            self._flush()

    def tick(self) -> None:
        """Injected audio that waited a whole tick for a frame (the party is silent) goes on."""
        if self._queued and self._queued == self._last_seen:
            self._flush()
        self._last_seen = self._queued

    def _flush(self) -> None:
        extra = np.concatenate(self._extra)[-self._max_extra:]
        self._extra, self._queued, self._last_seen = [], 0, 0
        self._source.push(extra)


class _Only:
    """An outbound tap that passes on only the frames of one source (the bridged party)."""

    def __init__(self, tap: MediaTap, label: str) -> None:
        self._tap = tap
        self._label = label

    def on_frame(self, frame: TapFrame) -> None:
        if frame.source == self._label:
            self._tap.on_frame(frame)


class Bridge:
    def __init__(
        self, *, a: CallSession, b: CallSession, taps_a_to_b: Sequence[MediaTap] = (),
        taps_b_to_a: Sequence[MediaTap] = (), hang_up_other: bool = True,
        max_delay_s: float = 1.0,
    ) -> None:
        self._a = a
        self._b = b
        self._hang_up_other = hang_up_other
        self._label_ab = f"bridge:{a.leg.call_id}->{b.leg.call_id}"
        self._label_ba = f"bridge:{b.leg.call_id}->{a.leg.call_id}"
        # a bridged party may send faster than real time (a bot's speech, a memory leg): the
        # jitter bound is as wide as the hard bound, so only ``max_delay_s`` of backlog is cut
        self._src_ab = LiveSource(sample_rate=a.leg.sample_rate, label=self._label_ab,
                                  max_s=max_delay_s, depth_s=max_delay_s, window_s=max_delay_s)
        self._src_ba = LiveSource(sample_rate=b.leg.sample_rate, label=self._label_ba,
                                  max_s=max_delay_s, depth_s=max_delay_s, window_s=max_delay_s)
        self._taps_ab = [_Only(t, self._label_ab) for t in taps_a_to_b]
        self._taps_ba = [_Only(t, self._label_ba) for t in taps_b_to_a]
        self._stop = asyncio.Event()
        self._handover: HandedOver | None = None
        self.done = asyncio.Event()  # set once run() has ended and undone its taps
        lag_a, lag_b = (int(0.2 * x.leg.sample_rate) for x in (a, b))
        self._feeds = (_Feed(self._src_ab, lag=lag_a), _Feed(self._src_ba, lag=lag_b))
        self.digits_relayed: list[tuple[Side, str]] = []

    def stop(self) -> None:
        self._stop.set()

    def side_of(self, call_id: str) -> Side | None:
        return "a" if self._a.leg.call_id == call_id else (
            "b" if self._b.leg.call_id == call_id else None)

    def session(self, side: Side) -> CallSession:
        return self._a if side == "a" else self._b

    def feed_rate(self, to: Side) -> int:
        """The sample rate ``inject(to, ...)`` takes: that of the party talking to ``to``."""
        return (self._a if to == "b" else self._b).leg.sample_rate

    def inject(self, to: Side, pcm: PCM16) -> None:
        """Mix ``pcm`` (at ``feed_rate(to)``) into what ``to`` hears, and only ``to`` (a
        supervisor's whisper): the other party's direction is untouched."""
        self._feeds[0 if to == "b" else 1].inject(pcm)

    def tick_injected(self, to: Side) -> None:
        """Call every ~0.2 s while injecting: the rest of an injection goes on when the
        party it would ride on stays silent."""
        self._feeds[0 if to == "b" else 1].tick()

    def handover(self, keep: Side, to: CallSession | None = None,
                 after: Bridge | None = None) -> None:
        """End the bridge with ``HandedOver`` (neither party is hung up, whatever happens to
        the other one from now on): ``keep``'s owner bridges it to ``to`` next."""
        self._handover = HandedOver(keep=keep, kept=self.session(keep), to=to, after=after)
        if to is None:  # the kept party goes to another owner
            _MOVED.add(self.session(keep))
        self._stop.set()

    async def run(self) -> BridgeResult:
        a, b = self._a, self._b
        feed_a, feed_b = self._feeds
        for session in (a, b):  # hold music or a prompt still queued would block the party
            session.set_turns(False)
            await session.stop_audio()
            session.new_reply()
        a.add_tap(feed_a, Direction.IN)
        b.add_tap(feed_b, Direction.IN)
        for tap in self._taps_ab:
            b.add_tap(tap, Direction.OUT)
        for tap in self._taps_ba:
            a.add_tap(tap, Direction.OUT)
        b.play(self._src_ab, interruptible=False)
        a.play(self._src_ba, interruptible=False)
        sides = {
            asyncio.create_task(self._side(a, b, "a")),
            asyncio.create_task(self._side(b, a, "b")),
        }
        stopped = asyncio.create_task(self._stop.wait())
        for session in (a, b):
            _LIVE[session.leg.call_id] = self
        try:
            done, _ = await asyncio.wait({*sides, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finished = [t for t in sides if t in done]
            result: BridgeResult = finished[0].result() if finished else Stopped()
            if self._handover is not None:  # a join wins over a party leaving meanwhile
                result = self._handover
        finally:
            for session in (a, b):
                if _LIVE.get(session.leg.call_id) is self:
                    del _LIVE[session.leg.call_id]
            for task in (*sides, stopped):
                task.cancel()
            try:
                await asyncio.gather(*sides, stopped, return_exceptions=True)
                await self._undo(feed_a, feed_b)
            finally:  # even when our owner is cancelled meanwhile (its call ended)
                self.done.set()
        if isinstance(result, PartyLeft) and self._hang_up_other:
            other = b if result.side == "a" else a
            if not other.ended:
                await other.hangup(result.reason if result.reason == "error" else "bridge-ended")
        log.info("bridge %s <-> %s ended: %r", a.leg.call_id, b.leg.call_id, result)
        return result

    async def _side(self, mine: CallSession, other: CallSession, side: Side) -> PartyLeft:
        while True:
            turn = await mine.next_turn()
            match turn:
                case HungUp(reason=reason):
                    return PartyLeft(side, reason)
                case CallerDigit(digit=digit):
                    self.digits_relayed.append((side, digit))
                    result = await other.leg.send_dtmf(digit)
                    if isinstance(result, Refused):
                        log.info("bridge: %s refused DTMF %s (%s)", other.leg.call_id, digit,
                                 result.refusal.value)
                case _:
                    pass  # speech is not turned into turns while bridged

    async def _undo(self, feed_a: _Feed, feed_b: _Feed) -> None:
        a, b = self._a, self._b
        a.remove_tap(feed_a, Direction.IN)
        b.remove_tap(feed_b, Direction.IN)
        for tap in self._taps_ab:
            b.remove_tap(tap, Direction.OUT)
        for tap in self._taps_ba:
            a.remove_tap(tap, Direction.OUT)
        self._src_ab.close()
        self._src_ba.close()
        for session in (a, b):
            session.set_turns(True)
            if not session.ended:
                await session.stop_audio()
