"""SessionCore: the pure half of a call session (caller audio -> turns), sans-IO.

The shell (``callport.call.session.CallSession``) feeds it what the leg delivered and what the
VAD scored, each with the media time ``at`` it happened, and acts on the typed events it
returns. Nothing here awaits, sleeps or reads a clock: the wall time an utterance was decided
is passed in (``wall``), so every turn outcome can be replayed in simulated time::

    core = SessionCore(sample_rate=8000, frame_ms=20, turn=detector)
    events = core.audio(pcm, at=0.02)          # history kept; in-band DTMF -> DigitReady
    events += core.scores(scores, wall=now)    # VAD -> SpeechBegan / CallerBarged / TurnReady

``PauseReady`` (the caller paused ``EARLY_CUT_S``: an utterance so far, for speculative STT)
is only emitted while ``early_cuts`` is on.

When a pause begins, the core moves its start back to where the caller audio's energy ended
(``vad.edge.energy_end``, within the detector's ``end_lookback``): the end of turn and the
early cut count from where the speech really ended, not from where the VAD's score fell. The
utterance handed to STT still runs to the VAD's end (a soft word end stays in).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from callport.audio.tones import DtmfDetector
from callport.types import PCM16
from callport.vad.base import VadScore, VadStream
from callport.vad.edge import REFERENCE_S, energy_end
from callport.vad.turn import BargeIn, SpeechStarted, TurnDetector, TurnEnded, TurnState

PRE_ROLL_S = 0.25  # caller audio kept before the detected start of speech
HISTORY_S = 30.0  # longest caller turn kept for STT
EARLY_CUT_S = 0.25  # a pause this long hands the flow a speculative utterance (early STT)


class VadScorer(Protocol):
    """What the session shell scores caller audio with (``vad.batcher.VadBatcher``)."""

    def new_stream(self, sample_rate: int) -> VadStream: ...

    async def score(self, stream: VadStream, pcm: PCM16) -> list[VadScore]: ...


@runtime_checkable
class VadSubmitter(Protocol):
    """A scorer that calls back instead of being awaited (``VadBatcher``): the session's
    reader never waits for the VAD tick, so frames flow on while windows are scored."""

    def submit(self, stream: VadStream, pcm: PCM16, on_scores: Callable[[list[VadScore]], None],
               on_error: Callable[[BaseException], None]) -> bool: ...


@dataclass(frozen=True, slots=True, eq=False)
class Utterance:
    """One caller turn (or, in ``PauseReady``, the turn so far), ready for STT."""

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
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class CoreEvent:
    """Base of what the session core reports."""


@dataclass(frozen=True, slots=True)
class SpeechBegan(CoreEvent):
    at: float


@dataclass(frozen=True, slots=True)
class CallerBarged(CoreEvent):
    """Caller speech lasted long enough to interrupt whatever is playing (the shell decides)."""

    at: float


@dataclass(frozen=True, slots=True, eq=False)
class TurnReady(CoreEvent):
    utterance: Utterance


@dataclass(frozen=True, slots=True, eq=False)
class PauseReady(CoreEvent):
    utterance: Utterance


@dataclass(frozen=True, slots=True)
class DigitReady(CoreEvent):
    digit: CallerDigit


class SessionCore:
    """Caller audio history, in-band DTMF and the turn detector of one call."""

    def __init__(
        self, *, sample_rate: int, frame_ms: int, turn: TurnDetector, inband_dtmf: bool = False,
        early_cuts: bool = True, early_cut_s: float = EARLY_CUT_S,
    ) -> None:
        self._rate = sample_rate
        self._frame_s = frame_ms / 1000.0
        self._turn = turn
        self._dtmf = DtmfDetector(sample_rate=sample_rate) if inband_dtmf else None
        self._history: deque[tuple[float, PCM16]] = deque()
        self._early_cuts = early_cuts
        self._early_cut_s = early_cut_s
        self._early_cut: float | None = None
        self._refined: float | None = None  # the VAD pause start last refined
        self.media_now = 0.0
        self.speech_started_at: float | None = None

    @property
    def early_cuts(self) -> bool:
        return self._early_cuts

    def set_early_cuts(self, enabled: bool) -> None:
        self._early_cuts = enabled

    def reset(self) -> None:
        """Forget speech in progress (turns resume after a bridge)."""
        self._turn.reset()
        self._early_cut = None
        self._refined = None

    def audio(self, pcm: PCM16, at: float) -> list[CoreEvent]:
        """Caller audio ending at media time ``at``: kept for STT, scanned for DTMF tones."""
        self.media_now = at
        history = self._history
        history.append((at, pcm))
        while history and at - history[0][0] > HISTORY_S:
            history.popleft()
        if self._dtmf is None:
            return []
        return [DigitReady(CallerDigit(hit.digit, at)) for hit in self._dtmf.feed(pcm, at)]

    def digit(self, digit: str, at: float) -> list[CoreEvent]:
        """A digit the channel signalled (RFC 4733, a DTMF message)."""
        return [DigitReady(CallerDigit(digit, at))]

    def scores(self, scores: Sequence[VadScore], wall: float) -> list[CoreEvent]:
        """VAD scores (media time); ``wall`` is the session clock now."""
        out: list[CoreEvent] = []
        turn = self._turn
        for score in scores:
            for event in turn.feed(score):
                match event:
                    case SpeechStarted(at=at):
                        self.speech_started_at = at
                        out.append(SpeechBegan(at))
                    case BargeIn(at=at):
                        out.append(CallerBarged(at))
                    case TurnEnded(started_at=start, ended_at=end):
                        until = turn.vad_pause_started_at
                        out.append(TurnReady(self.cut(start, end, wall, until=until)))
                    case _:
                        pass
            if turn.state is not TurnState.PAUSING:
                continue
            since = self._refine_pause()
            if self._early_cuts and since != self._early_cut and (
                    score.at - since >= self._early_cut_s - 1e-9):
                self._early_cut = since
                out.append(PauseReady(self.cut(turn.speech_started_at, since, wall,
                                               until=turn.vad_pause_started_at)))
        return out

    def _refine_pause(self) -> float:
        """A new pause starts where the caller audio's energy ended (once per pause)."""
        turn = self._turn
        vad_at = turn.vad_pause_started_at
        if vad_at != self._refined and turn.end_lookback > 0.0:
            self._refined = vad_at
            pcm = self.recent(vad_at, REFERENCE_S)
            turn.refine_pause(energy_end(pcm, self._rate, end_at=vad_at,
                                         lookback=turn.end_lookback))
        return turn.pause_started_at

    def recent(self, end: float, seconds: float) -> PCM16:
        """The last ``seconds`` (or less) of caller audio before media time ``end``."""
        chunks: list[PCM16] = []
        tail = 0  # samples of the newest chunk taken that lie after ``end``
        for at, pcm in reversed(self._history):
            begins = at - pcm.size / self._rate
            if begins >= end - 1e-9:
                continue
            if not chunks:
                tail = max(0, round((at - end) * self._rate))
            chunks.append(pcm)
            if begins <= end - seconds:
                break
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        pcm = np.concatenate(chunks[::-1])
        return pcm[: pcm.size - tail] if tail else pcm

    def cut(self, start: float, end: float, wall: float, *, until: float = 0.0) -> Utterance:
        """The caller audio from ``start`` (less the pre-roll) to ``end``, or on to ``until``
        when that is later (the VAD's end of speech, when the energy put ``end`` before it)."""
        lo = start - PRE_ROLL_S
        hi = max(end, until) + self._frame_s
        chunks = [pcm for at, pcm in self._history if lo < at <= hi]
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Utterance(pcm=pcm, sample_rate=self._rate, started_at=start, ended_at=end,
                         detected_at=self.media_now, detected_wall=wall)
