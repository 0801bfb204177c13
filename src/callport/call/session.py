"""CallSession: the asyncio shell around one call's media.

leg events -> ``SessionCore`` (pure, ``call.turns``: history, DTMF, VAD scores -> turn events)
-> caller turns for the flow; queued audio (clauses, raw frames, sources) -> ``Speaker``
(``call.speaker``: playout, pacer, the heard ledger) -> leg. Barge-in: caller speech over
interruptible audio cuts the speaker at once and tells the leg to ``clear``; what the caller
heard comes from the marks the leg reports back. Nothing here is set from outside: ``Call``
(``callport.call.call``) holds a session and uses its methods; taps are added with
``add_tap``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from callport.call.events import (
    PCM16,
    AudioIn,
    Dtmf,
    HeldByPeer,
    HoldChanged,
    HungUp,
    Marked,
    TransferStarted,
)
from callport.call.leg import Leg
from callport.call.notes import AgentState, CallerSpeaking, NotifiableLeg, SessionNote
from callport.call.pacer import Sleep
from callport.call.playout import HeardSegment
from callport.call.results import HungUp as Ended
from callport.call.results import Timeout
from callport.call.sources import AudioSource
from callport.call.speaker import HEARD_WAIT_S, Speaker
from callport.call.taps import Direction, MediaTap, TapFrame, TapList
from callport.call.turns import (
    CallerBarged,
    CallerDigit,
    CoreEvent,
    DigitReady,
    PauseReady,
    SessionCore,
    SpeechBegan,
    TurnReady,
    Utterance,
    VadScorer,
)
from callport.call.vadfeed import VadFeed
from callport.metrics import Metrics
from callport.vad.base import VadScore
from callport.vad.turn import TurnDetector

log = logging.getLogger(__name__)

__all__ = ["CallSession", "CallerDigit", "CallerTurn", "PauseReady", "SessionStats", "Utterance",
           "VadScorer"]


CallerTurn = Utterance | CallerDigit


@dataclass(slots=True)
class SessionStats:
    frames_in: int = 0
    barge_ins: int = 0


class CallSession:
    """Runs one call's media: turns in, paced audio out, barge-in."""

    def __init__(
        self, *, leg: Leg, vad: VadScorer | None, turn: TurnDetector, metrics: Metrics,
        clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep,
        inband_dtmf: bool = False, early_cuts: bool = True,
    ) -> None:
        self.leg = leg
        self.metrics = metrics
        self._clock = clock
        self._vad = VadFeed(vad, sample_rate=leg.sample_rate, metrics=metrics, clock=clock,
                            on_scores=self._on_scores, on_error=self._on_vad_error)
        self._core = SessionCore(sample_rate=leg.sample_rate, frame_ms=leg.frame_ms, turn=turn,
                                 inband_dtmf=inband_dtmf, early_cuts=early_cuts)
        self._rate = leg.sample_rate
        self._out = Speaker(leg=leg, clock=clock, sleep=sleep, on_sent=metrics.frames_out.inc)
        self._taps_in = TapList()
        self.note_listeners: list[Callable[[SessionNote], None]] = []  # e.g. a recording
        self._turns: asyncio.Queue[CallerTurn | PauseReady | Ended] = asyncio.Queue()
        self._ended = asyncio.Event()
        self._barge_in = True
        self._turns_on = True
        self._tasks: list[asyncio.Task[None]] = []
        self._reason = ""
        self._transferred_to: str | None = None
        self._turns_produced = 0
        self._peer_held = False
        self.stats = SessionStats()

    # ---- read-only state -------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        await self._ended.wait()

    @property
    def hangup_reason(self) -> str:
        return self._reason

    @property
    def transferred_to(self) -> str | None:
        return self._transferred_to

    @property
    def turns_produced(self) -> int:  # caller turns (speech or digits) handed to the flow
        return self._turns_produced

    @property
    def frames_out(self) -> int:
        return self._out.pacer.frames_out

    @property
    def first_audio_wall(self) -> float | None:
        return self._out.pacer.first_audio_wall

    @property
    def interrupted(self) -> bool:
        return self._out.interrupted

    @property
    def reply_serial(self) -> int:  # bumped by every ``new_reply``: one reply's notes share it
        return self._out.reply_serial

    @property
    def peer_held(self) -> bool:  # the far end put us on hold (``HeldByPeer``)
        return self._peer_held

    @property
    def holding(self) -> bool:  # hold music (an endless source) is queued
        return self._out.holding

    @property
    def agent_audible(self) -> bool:
        """True while interruptible audio is queued here or not yet confirmed played."""
        return self._out.interruptible

    # ---- settings the flow changes through methods ----------------------------------

    def set_barge_in(self, enabled: bool) -> None:
        self._barge_in = enabled

    def set_early_cuts(self, enabled: bool) -> None:
        """Speculative utterances (``PauseReady``) from ``next_turn``: on for STT flows."""
        self._core.set_early_cuts(enabled)

    def set_turns(self, enabled: bool) -> None:
        """Off: caller speech neither barges in nor becomes turns (a bridge); digits still
        arrive. The VAD keeps scoring, so media time stays aligned; speech in progress when
        turns come back on is forgotten."""
        if enabled and not self._turns_on:
            self._core.reset()
        self._turns_on = enabled

    def disable_vad(self) -> None:
        """Stop scoring caller audio for the rest of the call (a media-only call: a
        benchmark of the media path); digits still arrive."""
        self._vad.disable()

    def add_tap(self, tap: MediaTap, direction: Direction) -> None:
        (self._taps_in if direction is Direction.IN else self._out.taps).add(tap)

    def remove_tap(self, tap: MediaTap, direction: Direction) -> None:
        (self._taps_in if direction is Direction.IN else self._out.taps).remove(tap)

    def tap_count(self, direction: Direction) -> int:
        """How many taps (a bridge, a recorder, a supervisor) this direction has now."""
        return len(self._taps_in if direction is Direction.IN else self._out.taps)

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"leg-reader:{self.leg.call_id}"),
            asyncio.create_task(self._out.pacer.run(), name=f"pacer:{self.leg.call_id}"),
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
                case Dtmf(digit=digit, at=at):
                    self._on_core(self._core.digit(digit, at))
                case Marked(name=name, played=played):
                    self._out.marked(name, played)
                case TransferStarted(target=target):
                    self._transferred_to = target
                    self._end("transferred")
                    return
                case HungUp(reason=reason):
                    self._end(reason)
                    return
                case HoldChanged(held=held):  # the flow asked the leg; caller audio pauses
                    log.debug("call %s: leg %s", self.leg.call_id, "held" if held else "resumed")
                case HeldByPeer(held=held):  # the far end held us: its audio pauses
                    self._peer_held = held
                    log.info("call %s: the far end %s", self.leg.call_id,
                             "put us on hold" if held else "took us off hold")
                case _:
                    log.warning("call %s: unexpected leg event %r", self.leg.call_id, event)

    def _end(self, reason: str) -> None:
        self._reason = reason
        self._ended.set()
        self._out.close()
        self._vad.stop()
        self._turns.put_nowait(Ended(reason))

    async def _on_audio(self, event: AudioIn) -> None:
        self.stats.frames_in += 1
        self.metrics.frames_in.inc()
        if self._taps_in.active:
            self._taps_in.emit(TapFrame(Direction.IN, event.pcm, self._rate, self._clock(),
                                        event.at))
        events = self._core.audio(event.pcm, event.at)
        if events:
            self._on_core(events)
        await self._vad.feed(event.pcm)

    def _on_scores(self, scores: list[VadScore], now: float) -> None:
        self._on_core(self._core.scores(scores, now))

    def _on_vad_error(self, exc: BaseException) -> None:
        log.error("call %s: VAD failed; hanging up", self.leg.call_id, exc_info=exc)
        self._end("error")
        task = asyncio.get_running_loop().create_task(self.leg.hangup("error"))
        task.add_done_callback(_log_failure)

    def _on_core(self, events: list[CoreEvent]) -> None:
        for event in events:
            match event:
                case SpeechBegan():
                    if self._turns_on:
                        self.notify(CallerSpeaking(True))
                case CallerBarged():
                    if self._turns_on and self._barge_in and self._out.interruptible:
                        self.barge_in()
                case TurnReady(utterance=utterance):
                    if self._turns_on:
                        self.notify(CallerSpeaking(False))
                        self._turns_produced += 1
                        self._turns.put_nowait(utterance)
                case PauseReady():
                    if self._turns_on:
                        self._turns.put_nowait(event)
                case DigitReady(digit=digit):
                    if self._barge_in and self._out.interruptible:
                        self.barge_in()
                    self._turns_produced += 1
                    self._turns.put_nowait(digit)
                case _:
                    pass

    # ---- barge-in --------------------------------------------------------------------

    def barge_in(self) -> None:
        """Caller spoke over interruptible audio: drop it now and clear the leg's buffer
        (sources queued as not interruptible, such as a bridged party, keep playing)."""
        self.stats.barge_ins += 1
        self.metrics.barge_ins.inc()
        self._out.cut()
        task = asyncio.get_running_loop().create_task(self.leg.clear())
        task.add_done_callback(_log_failure)

    async def wait_barge_in(self) -> None:
        """Return once the current audio was interrupted (barge-in) or the call ended."""
        await self._out.wait_barge_in()

    # ---- outbound (``call.speaker``) ---------------------------------------------------

    def new_reply(self) -> None:
        """New audio begins: reset the heard ledger and the interrupted flag."""
        self._out.new_reply()

    def enqueue_clause(self, text: str, pcm: PCM16, sample_rate: int) -> None:
        """Queue one spoken clause (with marks) unless the reply was interrupted."""
        self._out.enqueue_clause(text, pcm, sample_rate)

    def enqueue_audio(self, pcm: PCM16, sample_rate: int, *, label: str = "audio") -> None:
        """Queue raw audio; it carries marks like speech (``heard()`` says how much played)."""
        self._out.enqueue_audio(pcm, sample_rate, label=label)

    def play(self, source: AudioSource, *, interruptible: bool = True) -> None:
        """Queue ``source`` (opened at the leg's rate); a source that is not
        ``interruptible`` survives barge-in (a bridged party)."""
        self._out.play(source, interruptible=interruptible)

    async def stop_audio(self) -> None:
        """Drop everything queued (hold music included) and clear the leg's buffer."""
        await self._out.stop_audio()

    def heard_text(self) -> str:
        return self._out.heard_text()

    async def wait_heard(self, timeout: float = HEARD_WAIT_S) -> None:
        """After a barge-in, until the cut audio's marks still in flight are answered (or
        ``timeout``): ``heard()`` is exact only then (``Speaker.wait_heard``)."""
        await self._out.wait_heard(timeout)

    def heard(self) -> list[HeardSegment]:
        return self._out.heard()

    async def wait_played(self) -> bool:
        """Wait until queued audio has played (True) or was interrupted (False)."""
        return await self._out.wait_played()

    # ---- caller turns ----------------------------------------------------------------

    async def next_turn(
        self, timeout: float | None = None
    ) -> CallerTurn | PauseReady | Timeout | Ended:
        """Next caller turn, a speculative pause, ``Timeout()``, or ``HungUp`` once ended."""
        if self.ended and self._turns.empty():
            return Ended(self._reason)
        try:
            return await asyncio.wait_for(self._turns.get(), timeout)
        except TimeoutError:
            return Timeout()

    def notify(self, note: SessionNote) -> None:
        for listener in self.note_listeners:
            listener(note)
        if isinstance(self.leg, NotifiableLeg):
            self.leg.notify(note)

    def set_state(self, state: AgentState) -> None:
        self.notify(state)

    async def hangup(self, reason: str = "normal") -> None:
        await self.leg.hangup(reason)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background call task failed", exc_info=task.exception())

