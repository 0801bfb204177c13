"""CallSession: the media engine of one call.

leg audio -> VAD -> turn detector -> caller turns (for the flow) ; flow audio -> playout ->
paced frames -> leg. Barge-in: when the caller speaks over queued agent audio, the playout
is cleared at once (in the same event the VAD reported it), the leg is told to ``clear``
its remote buffer, and waiters learn the reply was interrupted; what the caller heard comes
from the marks the leg reports back.

The session is an asyncio driver; the decisions it drives (turn detection, playout
bookkeeping, heard text) live in pure modules. The flow-facing API is ``callport.call.call``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from callport.audio.frame import Reframer, frame_samples
from callport.audio.resample import resample
from callport.audio.tones import DtmfDetector
from callport.call.events import PCM16, AudioIn, Dtmf, HungUp, Marked, TransferStarted
from callport.call.leg import Leg
from callport.call.notes import AgentState, NotifiableLeg, SessionNote
from callport.call.playout import FrameItem, MarkItem, Playout
from callport.metrics import Metrics
from callport.vad.base import VadScore, VadStream
from callport.vad.turn import BargeIn, SpeechStarted, TurnDetector, TurnEnded, TurnState

log = logging.getLogger(__name__)

PRE_ROLL_S = 0.25  # caller audio kept before the detected start of speech
HISTORY_S = 30.0  # longest caller turn kept for STT
EARLY_CUT_S = 0.25  # a pause this long hands the flow a speculative utterance (early STT)


class VadScorer(Protocol):
    def new_stream(self, sample_rate: int) -> VadStream: ...

    async def score(self, stream: VadStream, pcm: PCM16) -> list[VadScore]: ...


@dataclass(frozen=True, slots=True, eq=False)
class Utterance:
    """One caller turn, ready for STT."""

    pcm: PCM16
    sample_rate: int
    started_at: float  # media seconds
    ended_at: float
    detected_at: float  # media time the end of turn was decided
    detected_wall: float  # session clock at that moment

    @property
    def endpoint_delay(self) -> float:
        return self.detected_at - self.ended_at


@dataclass(frozen=True, slots=True)
class CallerDigit:
    digit: str


CallerTurn = Utterance | CallerDigit


@dataclass(slots=True)
class SessionStats:
    frames_in: int = 0
    frames_out: int = 0
    barge_ins: int = 0
    first_audio_wall: float | None = None
    history: deque[tuple[float, PCM16]] = field(default_factory=deque)


AudioTap = Callable[[AudioIn], None]


class CallSession:
    """Runs one call's media: turns in, paced audio out, barge-in."""

    def __init__(
        self,
        *,
        leg: Leg,
        vad: VadScorer | None,
        turn: TurnDetector,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        inband_dtmf: bool = False,
    ) -> None:
        self.leg = leg
        self.metrics = metrics
        self._clock = clock
        self._vad = vad
        self._vad_stream = vad.new_stream(leg.sample_rate) if vad is not None else None
        self._turn = turn
        self._dtmf = DtmfDetector(sample_rate=leg.sample_rate) if inband_dtmf else None
        self._frame = frame_samples(leg.sample_rate, leg.frame_ms)
        self._frame_s = leg.frame_ms / 1000.0
        self._playout = Playout()
        self._wake = asyncio.Event()
        self._turns: asyncio.Queue[CallerTurn | None] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._interrupted = False
        self._speech_started_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.hung_up = asyncio.Event()
        self.hangup_reason = ""
        self.transferred_to: str | None = None
        self.barge_in_enabled = True
        self.stats = SessionStats()
        self.taps: list[AudioTap] = []
        # Speculative end of turn: called with the utterance so far once the caller has paused
        # EARLY_CUT_S, so STT can run while the end-of-turn timer is still counting.
        self.on_pause: Callable[[Utterance], None] | None = None
        self._early_cut: float | None = None
        self._media_now = 0.0
        self.turns_produced = 0  # caller turns (speech or digits) handed to the flow
        self.barged = asyncio.Event()
        self._generation = 0  # bumped by every barge-in, so a frame popped before it is dropped

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"leg-reader:{self.leg.call_id}"),
            asyncio.create_task(self._pace_loop(), name=f"pacer:{self.leg.call_id}"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # pragma: no cover - logged, never raised out of a call
                log.exception("call %s: media task failed", self.leg.call_id)
        self._tasks = []

    # ---- inbound ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            await self._read_events()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Our own bug or a service failure must not leave the caller in a silent call.
            log.exception("call %s: media loop failed; hanging up", self.leg.call_id)
            self._end("error")
            await self.leg.hangup("error")

    async def _read_events(self) -> None:
        while True:
            event = await self.leg.recv()
            match event:
                case AudioIn():
                    await self._on_audio(event)
                case Dtmf(digit=digit):
                    self._on_digit(digit)
                case Marked(name=name, played=played):
                    self._playout.marked(name, played)
                    self._check_idle()
                case TransferStarted(target=target):
                    self.transferred_to = target
                    self._end("transferred")
                    return
                case HungUp(reason=reason):
                    self._end(reason)
                    return
                case _:
                    log.warning("call %s: unexpected leg event %r", self.leg.call_id, event)

    def _end(self, reason: str) -> None:
        self.hangup_reason = reason
        self.hung_up.set()
        self._playout.clear()
        self._interrupted = True
        self._idle.set()
        self.barged.set()
        self._wake.set()
        self._turns.put_nowait(None)

    async def _on_audio(self, event: AudioIn) -> None:
        self.stats.frames_in += 1
        self.metrics.frames_in.inc()
        self._media_now = event.at
        for tap in self.taps:
            tap(event)
        history = self.stats.history
        history.append((event.at, event.pcm))
        while history and event.at - history[0][0] > HISTORY_S:
            history.popleft()
        if self._dtmf is not None:
            for hit in self._dtmf.feed(event.pcm, event.at):
                self._on_digit(hit.digit)
        if self._vad is None or self._vad_stream is None:
            return
        started = self._clock()
        scores = await self._vad.score(self._vad_stream, event.pcm)
        if scores:
            self.metrics.vad_seconds.observe(self._clock() - started)
        for score in scores:
            for turn_event in self._turn.feed(score):
                self._on_turn_event(turn_event)
            if self.on_pause is not None and self._turn.state is TurnState.PAUSING:
                since = self._turn.pause_started_at
                if since != self._early_cut and score.at - since >= EARLY_CUT_S - 1e-9:
                    self._early_cut = since
                    self.on_pause(self._cut_utterance(self._turn.speech_started_at, since))

    def _on_turn_event(self, event: object) -> None:
        match event:
            case SpeechStarted(at=at):
                self._speech_started_at = at
            case BargeIn():
                if self.agent_audible and self.barge_in_enabled:
                    self.barge_in()
            case TurnEnded(started_at=start, ended_at=end):
                self.turns_produced += 1
                self._turns.put_nowait(self._cut_utterance(start, end))
            case _:
                pass

    def _cut_utterance(self, start: float, end: float) -> Utterance:
        lo = start - PRE_ROLL_S
        chunks = [pcm for at, pcm in self.stats.history if lo < at <= end + self._frame_s]
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Utterance(
            pcm=pcm,
            sample_rate=self.leg.sample_rate,
            started_at=start,
            ended_at=end,
            detected_at=self._media_now,
            detected_wall=self._clock(),
        )

    def _on_digit(self, digit: str) -> None:
        if self.agent_audible and self.barge_in_enabled:
            self.barge_in()
        self.turns_produced += 1
        self._turns.put_nowait(CallerDigit(digit))

    # ---- barge-in --------------------------------------------------------------------

    @property
    def agent_audible(self) -> bool:
        """True while agent audio is queued here or not yet confirmed played by the leg."""
        return len(self._playout) > 0 or self._playout.pending_marks > 0

    def barge_in(self) -> None:
        """Caller spoke over the agent: drop queued audio now and clear the leg's buffer."""
        self.stats.barge_ins += 1
        self.metrics.barge_ins.inc()
        self._playout.clear()
        self._generation += 1
        self._interrupted = True
        self._idle.set()
        self.barged.set()
        task = asyncio.get_running_loop().create_task(self.leg.clear())
        task.add_done_callback(_log_failure)

    # ---- outbound --------------------------------------------------------------------

    def new_reply(self) -> None:
        """A new agent reply begins: reset the heard-text ledger and the interrupted flag."""
        self._playout.reset_ledger()
        self._interrupted = False
        self.barged.clear()
        self.stats.first_audio_wall = None

    def _frames(self, pcm: PCM16, sample_rate: int) -> list[PCM16]:
        if sample_rate == self.leg.sample_rate and len(pcm) == self._frame:
            return [pcm]  # the echo / pass-through fast path: already one frame
        if sample_rate != self.leg.sample_rate:
            pcm = resample(pcm, sample_rate, self.leg.sample_rate)
        framer = Reframer(frame_samples=self._frame)
        frames = framer.push(pcm)
        last = framer.flush(pad=True)
        if last is not None:
            frames.append(last)
        return frames

    def enqueue_clause(self, text: str, pcm: PCM16, sample_rate: int) -> None:
        """Queue one spoken clause (with marks) unless the reply was interrupted."""
        if self._interrupted or self.hung_up.is_set():
            return
        self._playout.add_clause(text, self._frames(pcm, sample_rate))
        self._idle.clear()
        self._wake.set()

    def enqueue_audio(self, pcm: PCM16, sample_rate: int) -> None:
        """Queue raw audio (echo, music); not tracked as text."""
        if self.hung_up.is_set():
            return
        self._playout.add_frames(self._frames(pcm, sample_rate))
        self._idle.clear()
        self._wake.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def heard_text(self) -> str:
        return self._playout.heard_text()

    async def wait_played(self) -> bool:
        """Wait until queued audio has played (True) or was interrupted (False)."""
        await self._idle.wait()
        return not self._interrupted

    def _check_idle(self) -> None:
        if not self.agent_audible:
            self._idle.set()

    async def _pace_loop(self) -> None:
        """Hand frames to the leg in real time, running at most ``lead_ms`` ahead."""
        lead = self.leg.lead_ms / 1000.0
        due = 0.0  # session clock time at which the next frame is due to be heard
        while True:
            item = self._playout.pop()
            if item is None:
                self._check_idle()
                self._wake.clear()
                await self._wake.wait()
                continue
            if isinstance(item, MarkItem):
                await self.leg.mark(item.name)
                continue
            assert isinstance(item, FrameItem)
            now = self._clock()
            due = max(due, now)
            if not math.isinf(lead):
                wait = due - lead - now
                if wait > 0:
                    generation = self._generation
                    await asyncio.sleep(wait)
                    if generation != self._generation:
                        continue  # barge-in while we waited: this frame was cleared too
            if self.stats.first_audio_wall is None:
                self.stats.first_audio_wall = self._clock()
            await self.leg.send_audio(item.pcm)
            self.stats.frames_out += 1
            self.metrics.frames_out.inc()
            due += self._frame_s

    # ---- caller turns ----------------------------------------------------------------

    async def next_turn(self, timeout: float | None = None) -> CallerTurn | None:
        """Next caller turn; None when the call ended or on timeout."""
        if self.hung_up.is_set() and self._turns.empty():
            return None
        try:
            return await asyncio.wait_for(self._turns.get(), timeout)
        except TimeoutError:
            return None

    def notify(self, note: SessionNote) -> None:
        if isinstance(self.leg, NotifiableLeg):
            self.leg.notify(note)

    def set_state(self, state: AgentState) -> None:
        self.notify(state)

    async def hangup(self, reason: str = "normal") -> None:
        await self.leg.hangup(reason)

    def watch(self, aw: Awaitable[None]) -> None:  # pragma: no cover - convenience
        task = asyncio.ensure_future(aw)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background call task failed", exc_info=task.exception())
