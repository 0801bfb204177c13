"""Supervisor listen-in and whisper on a running bridge (contact-centre "monitor/coach").

    sup = Supervision(bridge=bridge, agent="b", supervisor=console_session)
    sup.whisper = True        # from now on only the agent hears the supervisor
    await sup.run()           # until the supervisor's call or the bridge ends

Listen: ``BridgeMix`` taps both parties' inbound audio (``Direction.IN``: what each said, as
its leg delivered it), resamples both to the supervisor's rate and mixes them into one
``LiveSource`` the supervisor's session plays. When one party is silent (a leg that sends
nothing while quiet), the other's audio is passed on alone once ``lag_s`` of it waits, or
when no more of it came for about ``lag_s`` (``tick``, run by ``Supervision``).

Whisper: the supervisor's inbound audio (an ``IN`` tap on its session) is resampled to the
rate of the party that feeds the agent and mixed into the bridge's agent-bound direction
only (``Bridge.inject``): the agent hears the supervisor over the caller, the caller's
direction is untouched, and the supervisor never hears itself (the mix taps the parties'
legs, not what the bridge sends). With ``whisper`` off the supervisor's audio is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import numpy as np

from callport.audio.resample import StreamResampler
from callport.call.bridge import Bridge, Side
from callport.call.session import CallSession
from callport.call.sources import LiveSource
from callport.call.taps import Direction, TapFrame
from callport.types import PCM16

log = logging.getLogger(__name__)


def mix(x: PCM16, y: PCM16) -> PCM16:
    """Sum two equally long int16 frames, clipped (no wrap-around)."""
    total = x.astype(np.int32) + y.astype(np.int32)
    return np.clip(total, -32768, 32767).astype(np.int16)


class _Party:
    """One party's inbound tap for the mix: resampled into a pending buffer."""

    def __init__(self, owner: BridgeMix, in_rate: int) -> None:
        self._owner = owner
        self._resampler = (StreamResampler(in_rate=in_rate, out_rate=owner.sample_rate)
                           if in_rate != owner.sample_rate else None)
        self.pending = np.zeros(0, np.int16)
        self.last_seen = 0

    def on_frame(self, frame: TapFrame) -> None:
        pcm = frame.pcm if self._resampler is None else self._resampler.process(frame.pcm)
        if len(pcm):
            self.pending = np.concatenate([self.pending, pcm])
            self._owner.drain()


class BridgeMix:
    """Both parties of a bridge mixed into ``source`` (a ``LiveSource`` at ``sample_rate``)."""

    def __init__(self, *, bridge: Bridge, sample_rate: int, lag_s: float = 0.2,
                 max_s: float = 1.0) -> None:
        self.sample_rate = sample_rate
        self._sessions = (bridge.session("a"), bridge.session("b"))
        self._parties = tuple(_Party(self, s.leg.sample_rate) for s in self._sessions)
        self._lag = int(lag_s * sample_rate)
        self.source = LiveSource(sample_rate=sample_rate, label="supervisor-listen", max_s=max_s)
        self.mixed_samples = 0

    def attach(self) -> None:
        for session, party in zip(self._sessions, self._parties, strict=True):
            session.add_tap(party, Direction.IN)

    def detach(self) -> None:
        for session, party in zip(self._sessions, self._parties, strict=True):
            session.remove_tap(party, Direction.IN)
        self.source.close()

    def drain(self) -> None:
        """Mix what both parties have; pass one on alone once ``lag`` of it waits."""
        one, two = self._parties
        both = min(len(one.pending), len(two.pending))
        if both:
            out = mix(one.pending[:both], two.pending[:both])
            one.pending, two.pending = one.pending[both:], two.pending[both:]
            self._push(out)
        for party in self._parties:  # the other one is silent (sends nothing)
            if len(party.pending) > self._lag:
                self._push(party.pending)
                party.pending = np.zeros(0, np.int16)

    def tick(self) -> None:
        """Called every ``lag_s`` or so: a party whose audio stopped coming (its last words
        wait for a partner that stays silent) is passed on alone."""
        for party in self._parties:
            if len(party.pending) and len(party.pending) == party.last_seen:
                self._push(party.pending)
                party.pending = np.zeros(0, np.int16)
            party.last_seen = len(party.pending)


    def _push(self, pcm: PCM16) -> None:
        self.mixed_samples += len(pcm)
        self.source.push(pcm)


class _Whisper:
    """The supervisor's inbound tap: into the agent-bound direction while whispering."""

    def __init__(self, owner: Supervision, in_rate: int, out_rate: int) -> None:
        self._owner = owner
        self._resampler = (StreamResampler(in_rate=in_rate, out_rate=out_rate)
                           if in_rate != out_rate else None)

    def on_frame(self, frame: TapFrame) -> None:
        if not self._owner.whisper:
            return
        pcm = frame.pcm if self._resampler is None else self._resampler.process(frame.pcm)
        if len(pcm):
            self._owner.bridge.inject(self._owner.agent, pcm)


class Supervision:
    """A supervisor's session on a running bridge: listens to both parties; with ``whisper``
    set, speaks to the ``agent`` side only."""

    def __init__(self, *, bridge: Bridge, agent: Side, supervisor: CallSession,
                 whisper: bool = False) -> None:
        self.bridge = bridge
        self.agent: Side = agent
        self.whisper = whisper
        self._supervisor = supervisor
        self.mix = BridgeMix(bridge=bridge, sample_rate=supervisor.leg.sample_rate)
        self._whisper = _Whisper(self, supervisor.leg.sample_rate,
                                 bridge.feed_rate(agent))

    async def _ticking(self, every_s: float = 0.1) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.mix.tick()
            self.bridge.tick_injected(self.agent)

    async def run(self) -> None:
        """Until the supervisor hangs up or the bridge ends; the taps are undone after."""
        sup = self._supervisor
        sup.set_turns(False)
        await sup.stop_audio()
        self.mix.attach()
        sup.add_tap(self._whisper, Direction.IN)
        sup.play(self.mix.source, interruptible=False)
        ended = asyncio.create_task(sup.wait_ended())
        bridged = asyncio.create_task(self.bridge.done.wait())
        ticking = asyncio.create_task(self._ticking())
        try:
            await asyncio.wait({ended, bridged}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ended, bridged, ticking):
                task.cancel()
            sup.remove_tap(self._whisper, Direction.IN)
            self.mix.detach()
            if not sup.ended:
                with contextlib.suppress(Exception):
                    await sup.stop_audio()
        log.info("supervision of %s ended (%d samples heard)",
                 self.bridge.session(self.agent).leg.call_id, self.mix.mixed_samples)
