"""Turn detection from VAD scores: a Schmitt trigger plus duration rules, in media time.

States (one function each)::

    QUIET ──p ≥ start──► STARTING ──lasted min_speech──► SPEAKING ──p < stop──► PAUSING
      ▲                     │ p < stop                      ▲                      │
      │                     ▼                               └───── p ≥ start ──────┤
      └────────────── SpeechDiscarded              TurnEnded ◄── quiet end_of_turn ─┘

Hysteresis: speech switches on at ``start_threshold`` and off below ``stop_threshold``;
scores in between keep whatever the detector was doing. A window spans from the previous
score's ``at`` (or ``start``, the media time the scored stream began) to its own ``at``, so
speech "begins" where its first window begins.
``BargeIn`` fires once per turn when speech has lasted ``barge_in_ms`` (pauses included),
which is what the call session uses to interrupt the agent.

A pause begins where the VAD's score fell, which lags the last sound (Silero: ~106 ms at
8 kHz). Whoever holds the audio may ``refine_pause`` to where its energy ended
(``vad.edge.energy_end``; the call session does): the pause, and so the end of turn, then
counts from there, at most ``end_lookback_ms`` earlier than the VAD said.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callport.vad.base import VadScore, VadUsageError


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """Base of turn-detector events."""


@dataclass(frozen=True, slots=True)
class SpeechStarted(TurnEvent):
    """Speech confirmed (lasted ``min_speech_ms``); ``at`` is when it began."""

    at: float


@dataclass(frozen=True, slots=True)
class BargeIn(TurnEvent):
    """Speech has lasted ``barge_in_ms``: ``at`` is when that was reached; ``started_at``
    when the speech began."""

    at: float
    started_at: float


@dataclass(frozen=True, slots=True)
class TurnEnded(TurnEvent):
    """The caller stopped for ``end_of_turn_ms``; ``ended_at`` is when the quiet began."""

    started_at: float
    ended_at: float


@dataclass(frozen=True, slots=True)
class SpeechDiscarded(TurnEvent):
    """A blip shorter than ``min_speech_ms`` that began at ``at``; not a turn."""

    at: float


class TurnState(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    PAUSING = "pausing"


class TurnDetector:
    """Feeds on ``VadScore``s, emits ``TurnEvent``s. Pure: time comes from the scores."""

    _started_at: float
    _quiet_since: float
    _vad_quiet_since: float

    def __init__(
        self,
        *,
        start_threshold: float = 0.5,
        stop_threshold: float = 0.35,
        min_speech_ms: int = 120,
        end_of_turn_ms: int = 500,
        barge_in_ms: int = 160,
        end_lookback_ms: int = 0,
        start: float = 0.0,
    ) -> None:
        if not 0.0 < stop_threshold <= start_threshold <= 1.0:
            raise VadUsageError("need 0 < stop_threshold <= start_threshold <= 1")
        if min(min_speech_ms, end_of_turn_ms, barge_in_ms, end_lookback_ms) < 0:
            raise VadUsageError("durations must not be negative")
        self.start_threshold = start_threshold
        self.stop_threshold = stop_threshold
        self.min_speech = min_speech_ms / 1000.0
        self.end_of_turn = end_of_turn_ms / 1000.0
        self.barge_in = barge_in_ms / 1000.0
        self.end_lookback = end_lookback_ms / 1000.0
        self._last_at = start  # end of the previous window = start of the next
        self.reset()

    @property
    def state(self) -> TurnState:
        return self._state

    @property
    def speech_started_at(self) -> float:
        """Media time the current (or last) speech began."""
        return self._started_at

    @property
    def pause_started_at(self) -> float:
        """Media time the current pause began (meaningful in the PAUSING state)."""
        return self._quiet_since

    @property
    def vad_pause_started_at(self) -> float:
        """Where the VAD's score fell for the current pause (``refine_pause`` keeps it)."""
        return self._vad_quiet_since

    def refine_pause(self, at: float) -> float:
        """Count the current pause from ``at`` (where the audio says the speech ended): only
        while PAUSING, only earlier, at most ``end_lookback`` before the VAD's own start of
        the pause and never before the speech began. Returns the pause's start now."""
        if self._state is TurnState.PAUSING:
            earliest = max(self._started_at, self._vad_quiet_since - self.end_lookback)
            self._quiet_since = min(self._quiet_since, max(at, earliest))
        return self._quiet_since

    @property
    def in_speech(self) -> bool:
        """True once speech is confirmed and until the turn ends (pauses included)."""
        return self._state in (TurnState.SPEAKING, TurnState.PAUSING)

    def reset(self) -> None:
        """Forget any speech in progress (the media clock continues)."""
        self._state = TurnState.QUIET
        self._started_at = 0.0
        self._quiet_since = 0.0
        self._vad_quiet_since = 0.0
        self._barged = False

    def feed(self, score: VadScore) -> list[TurnEvent]:
        begins = min(self._last_at, score.at)
        self._last_at = score.at
        match self._state:
            case TurnState.QUIET:
                return self._quiet(score, begins)
            case TurnState.STARTING:
                return self._starting(score)
            case TurnState.SPEAKING:
                return self._speaking(score, begins)
            case TurnState.PAUSING:
                return self._pausing(score)

    def _quiet(self, score: VadScore, begins: float) -> list[TurnEvent]:
        if score.prob < self.start_threshold:
            return []
        self._state = TurnState.STARTING
        self._started_at = begins
        self._barged = False
        return self._starting(score)

    def _starting(self, score: VadScore) -> list[TurnEvent]:
        if score.prob < self.stop_threshold:
            self._state = TurnState.QUIET
            return [SpeechDiscarded(at=self._started_at)]
        if score.at - self._started_at < self.min_speech - 1e-9:
            return []
        self._state = TurnState.SPEAKING
        return [SpeechStarted(at=self._started_at), *self._check_barge_in(score)]

    def _speaking(self, score: VadScore, begins: float) -> list[TurnEvent]:
        if score.prob >= self.stop_threshold:
            return self._check_barge_in(score)
        self._state = TurnState.PAUSING
        self._quiet_since = self._vad_quiet_since = begins
        return self._pausing(score)

    def _pausing(self, score: VadScore) -> list[TurnEvent]:
        if score.prob >= self.start_threshold:
            self._state = TurnState.SPEAKING
            return self._check_barge_in(score)
        if score.at - self._quiet_since < self.end_of_turn - 1e-9:
            return []
        self._state = TurnState.QUIET
        return [TurnEnded(started_at=self._started_at, ended_at=self._quiet_since)]

    def _check_barge_in(self, score: VadScore) -> list[TurnEvent]:
        if self._barged or score.at - self._started_at < self.barge_in - 1e-9:
            return []
        self._barged = True
        return [BargeIn(at=score.at, started_at=self._started_at)]
