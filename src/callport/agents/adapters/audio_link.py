"""AudioLink: an audio-native agent's ends of a live call (the caller's audio, the agent's voice).

Every speech-to-speech adapter (a Media Streams bot, OpenAI Realtime, Gemini Live) talks to the
call through one of these, never around it:

- ``caller()`` gives the caller's audio at the agent's input rate, 20 ms at a time, from an
  inbound tap on the call's session (the recording and other taps still see it);
- ``play(pcm, rate)`` queues the agent's audio on the call's pacer as one marked segment and
  returns its position: the leg's marks then say when it was heard (``played``), so a bot's
  ``mark`` is answered when the caller has heard what came before it, and ``heard_ms`` says how
  much of a reply the caller heard (OpenAI's ``conversation.item.truncate``);
- ``clear()`` drops the agent's queued audio and the leg's buffer at once (a bot's ``clear``,
  a model's barge-in);
- while the link is open callport's own turn detection and barge-in are off (the agent does
  its own); digits and the end of the call come from ``next_event()``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from callport.audio.frame import Reframer, frame_samples
from callport.audio.resample import StreamResampler
from callport.call.results import HungUp
from callport.call.session import CallerDigit
from callport.call.taps import Direction, TapFrame
from callport.types import PCM16

if TYPE_CHECKING:
    from callport.call.call import Call

log = logging.getLogger(__name__)

__all__ = ["AudioLink", "Digit", "Ended", "Spot"]

MAX_QUEUED_S = 2.0  # caller audio waiting for a slow agent connection: older audio is dropped


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a piece of agent audio sits: its ledger ``generation`` and segment ``index``, and
    ``start``, the frames of agent audio queued before it on this call."""

    generation: int
    index: int
    start: int


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class Ended:
    reason: str


class _CallerTap:
    def __init__(self, link: AudioLink) -> None:
        self._link = link

    def on_frame(self, frame: TapFrame) -> None:
        self._link._caller_frame(frame.pcm)


class AudioLink:
    """One call's audio, both ways, for an agent that hears and speaks (see the module doc)."""

    def __init__(self, *, call: Call, in_rate: int, label: str = "agent") -> None:
        self._call = call
        self._session = call.session
        leg = call.session.leg
        self.leg_rate = leg.sample_rate
        self.frame_ms = leg.frame_ms
        self.in_rate = in_rate
        self._label = label
        self._in_frame = frame_samples(in_rate, 20)
        self._in_resampler = (StreamResampler(in_rate=leg.sample_rate, out_rate=in_rate)
                              if leg.sample_rate != in_rate else None)
        self._in_framer = Reframer(frame_samples=self._in_frame)
        self._caller: asyncio.Queue[PCM16] = asyncio.Queue()
        self._out_frame = frame_samples(leg.sample_rate, leg.frame_ms)
        self._out_resamplers: dict[int, StreamResampler] = {}
        self._out_framer = Reframer(frame_samples=self._out_frame)
        self._generation = 0
        self._segments = 0  # agent segments queued in this generation (ledger)
        self._gen_frames = 0  # frames queued in this generation
        self._gen_start = 0  # frames queued in the generations before
        self._tap = _CallerTap(self)
        self._open = False
        self.frames_to_agent = 0
        self.frames_from_agent = 0

    # ---- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Take the call over: turns and barge-in off (the agent listens for itself; digits
        still arrive), the caller's audio tapped. The VAD keeps scoring, so whatever the
        call does after the agent (a fallback taking a voicemail) finds it working."""
        session = self._session
        session.set_turns(False)
        session.set_barge_in(False)
        session.add_tap(self._tap, Direction.IN)
        self._call.listening.set()  # an audio agent listens all the time (callport talk)
        self._open = True

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._call.listening.clear()
        self._session.remove_tap(self._tap, Direction.IN)
        self._session.set_barge_in(True)
        self._session.set_turns(True)

    @property
    def ended(self) -> bool:
        return self._session.ended

    async def next_event(self) -> Digit | Ended:
        """The caller's next key press, or the end of the call."""
        while True:
            turn = await self._session.next_turn()
            if isinstance(turn, CallerDigit):
                return Digit(turn.digit)
            if isinstance(turn, HungUp):
                return Ended(turn.reason)

    async def wait_ended(self) -> None:
        await self._session.wait_ended()

    async def hangup(self, reason: str) -> None:
        if not self._session.ended:
            await self._call.hangup(reason)

    # ---- the caller's audio ------------------------------------------------------------

    def _caller_frame(self, pcm: PCM16) -> None:
        if self._in_resampler is not None:
            pcm = self._in_resampler.process(pcm)
        for frame in self._in_framer.push(pcm):
            if self._caller.qsize() * 0.02 > MAX_QUEUED_S:
                self._caller.get_nowait()  # the agent fell behind: keep the newest audio
            self._caller.put_nowait(frame)

    async def caller(self) -> PCM16:
        """The next 20 ms of the caller's audio at ``in_rate``."""
        frame = await self._caller.get()
        self.frames_to_agent += 1
        return frame

    # ---- the agent's audio -------------------------------------------------------------

    def play(self, pcm: PCM16, sample_rate: int) -> Spot | None:
        """Queue the agent's ``pcm``; its ``Spot``, or None while less than a frame is held
        back (it goes out with the next audio, or with ``flush``)."""
        if self._session.ended:
            return None
        if sample_rate != self.leg_rate:
            resampler = self._out_resamplers.get(sample_rate)
            if resampler is None:
                resampler = self._out_resamplers[sample_rate] = StreamResampler(
                    in_rate=sample_rate, out_rate=self.leg_rate)
            pcm = resampler.process(pcm)
        return self._queue_frames(self._out_framer.push(pcm))

    def _queue_frames(self, frames: list[PCM16]) -> Spot | None:
        if not frames:
            return None
        return self._queue(frames[0] if len(frames) == 1 else np.concatenate(frames))

    def flush(self) -> Spot | None:
        """Queue what ``play`` held back (the resamplers' tails, the last frame padded): the
        end of an utterance."""
        if self._session.ended:
            return None
        spot: Spot | None = None
        for resampler in self._out_resamplers.values():
            tail = resampler.flush()
            if len(tail):
                spot = self._queue_frames(self._out_framer.push(tail)) or spot
        last = self._out_framer.flush(pad=True)
        return self._queue(last) if last is not None else spot

    def _queue(self, pcm: PCM16) -> Spot:
        if not self._session.agent_audible:  # all heard (or cleared): a fresh ledger
            self._gen_start += self._gen_frames
            self._session.new_reply()
            self._generation += 1
            self._segments = self._gen_frames = 0
        self._session.enqueue_audio(pcm, self.leg_rate, label=self._label)
        frames = len(pcm) // self._out_frame
        spot = Spot(self._generation, self._segments, self._gen_start + self._gen_frames)
        self._segments += 1
        self._gen_frames += frames
        self.frames_from_agent += frames
        return spot

    @property
    def position(self) -> int:
        """Frames of agent audio queued so far on this call (where the next audio starts)."""
        return self._gen_start + self._gen_frames

    def played(self, spot: Spot) -> bool:
        """True once the caller has heard ``spot`` (and so everything before it)."""
        if spot.generation != self._generation:
            return True  # a new ledger starts only once nothing of the old one is pending
        segments = self._session.heard()
        return spot.index >= len(segments) or segments[spot.index].done

    def heard_position(self) -> int:
        """How far (in frames, on the ``position`` scale) the caller has heard the agent."""
        frames = 0
        for seg in self._session.heard():
            frames += seg.frames if seg.done else seg.played_frames
            if not seg.done:
                break
        return self._gen_start + frames

    def heard_ms(self, start: int) -> int:
        """Milliseconds the caller heard of the agent's audio from ``start`` (a ``position``)."""
        return max(0, self.heard_position() - start) * self.frame_ms

    async def clear(self) -> None:
        """Drop the agent's queued audio now, here and in the leg's buffer."""
        self._out_framer = Reframer(frame_samples=self._out_frame)
        for resampler in self._out_resamplers.values():
            resampler.reset()
        if not self._session.ended:
            await self._session.stop_audio()

    async def wait_heard(self, timeout: float) -> None:
        """Until the agent's queued audio has played (or ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            while self._session.agent_audible and not self._session.ended:
                await asyncio.sleep(0.02)
