"""``HoldingLeg``: an agent's answered leg that can put the caller on hold from the agent's side.

The queue bridges the caller to the agent's session; whatever the agent's leg yields as audio
is what the caller hears. Wrapped in a ``HoldingLeg``, ``hold()`` from the agent (the
``/agent`` page's Hold button) replaces the agent's outgoing audio, frame by frame, with the
queue's hold music, so the caller hears music, never silence, for as long as the hold lasts,
paced by the agent's own media clock; the agent hears silence instead of the caller (the
caller is not listening in on the agent either). ``resume()`` switches back on the next
frame. Everything else goes straight to the wrapped leg.

The agent's own phone can hold too (its re-INVITE ``a=sendonly`` / ``a=inactive``: the SIP leg
reports ``HeldByPeer``): then its audio stops arriving, so the music is made here, one frame
every ``frame_ms``, until the phone resumes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from callport.audio.frame import frame_samples
from callport.call.controls import Accepted, Capability, ControlResult
from callport.call.events import PCM16, AudioIn, HeldByPeer, LegEvent
from callport.call.leg import Leg
from callport.call.sources import AudioSource
from callport.queues.prompts import RATE, ResumingMusic, builtin_loop

log = logging.getLogger(__name__)

__all__ = ["HoldingLeg"]


class HoldingLeg:
    def __init__(self, *, leg: Leg, music: AudioSource | None = None) -> None:
        self.inner = leg
        self._music = music or ResumingMusic(pcm=builtin_loop(), sample_rate=RATE,
                                             label="agent-hold")
        self._music.open(leg.sample_rate)
        self.holding = False  # the agent pressed Hold on the page
        self.peer_held = False  # the agent's phone holds (HeldByPeer)
        self._at = 0.0  # media time of the last frame given
        self.music_frames = 0  # frames of music the caller got (tests, logs)
        self.first_audio = asyncio.Event()  # the agent's first audio frame arrived

    # ---- the Leg contract, mostly the inner leg's --------------------------------------
    @property
    def call_id(self) -> str:
        return self.inner.call_id

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    @property
    def frame_ms(self) -> int:
        return self.inner.frame_ms

    @property
    def lead_ms(self) -> float:
        return self.inner.lead_ms

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.inner.capabilities | {Capability.HOLD}

    async def recv(self) -> LegEvent:
        if self.peer_held:  # the phone's audio does not come: a frame of music per frame_ms
            try:
                event = await asyncio.wait_for(self.inner.recv(), self.frame_ms / 1000)
            except TimeoutError:
                self._at += self.frame_ms / 1000
                self.music_frames += 1
                return AudioIn(self._music_frame(frame_samples(self.sample_rate, self.frame_ms)),
                               self._at)
        else:
            event = await self.inner.recv()
        if isinstance(event, HeldByPeer):
            self.peer_held = event.held
            log.info("call %s: the agent's phone %s", self.call_id,
                     "holds the caller" if event.held else "resumed")
        if isinstance(event, AudioIn):
            self.first_audio.set()
            self._at = event.at
            if self.holding or self.peer_held:
                self.music_frames += 1
                return AudioIn(self._music_frame(len(event.pcm)), event.at)
        return event

    def _music_frame(self, samples: int) -> PCM16:
        pcm = self._music.read(samples)
        if pcm is None or len(pcm) < samples:
            got = np.zeros(0, np.int16) if pcm is None else pcm
            pcm = np.concatenate([got, np.zeros(samples - len(got), np.int16)])
        return pcm

    async def send_audio(self, pcm: PCM16) -> None:
        await self.inner.send_audio(np.zeros_like(pcm) if self.holding or self.peer_held
                                    else pcm)

    async def mark(self, name: str) -> None:
        await self.inner.mark(name)

    async def clear(self) -> None:
        await self.inner.clear()

    async def hangup(self, reason: str = "normal") -> None:
        await self.inner.hangup(reason)

    async def transfer(self, target: str) -> ControlResult:
        return await self.inner.transfer(target)

    async def send_dtmf(self, digits: str) -> ControlResult:
        return await self.inner.send_dtmf(digits)

    async def hold(self) -> ControlResult:
        """The caller hears hold music from now on (the agent hears silence)."""
        if not self.holding:
            self.holding = True
            log.info("call %s: the agent put the caller on hold", self.call_id)
        return Accepted()

    async def resume(self) -> ControlResult:
        if self.holding:
            self.holding = False
            log.info("call %s: the agent took the caller off hold", self.call_id)
        return Accepted()

    def __getattr__(self, name: str) -> Any:  # notify, rtp_port, ... of the wrapped leg
        return getattr(self.inner, name)
