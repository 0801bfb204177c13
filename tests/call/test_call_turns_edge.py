"""SessionCore: the end of turn counted from where the caller audio's energy ended (within
the detector's end_lookback), in simulated media time; the utterance keeps the VAD's tail."""

from __future__ import annotations

import math

import numpy as np
from call_fakes import tone

from callport.call.turns import PauseReady, SessionCore, TurnReady
from callport.vad.base import VadScore
from callport.vad.turn import TurnDetector

RATE = 8000


def talk(core: SessionCore, tail: np.ndarray | None = None  # type: ignore[type-arg]
         ) -> list[object]:  # fmt: skip
    """0.4 s of speech then quiet (``tail``: what the line carries after it); the VAD's
    score stays up 100 ms past the last sound, as Silero's does on 8 kHz audio."""
    events: list[object] = []
    quiet = np.zeros(160, np.int16) if tail is None else tail
    for i in range(60):
        at = round(0.02 * (i + 1), 6)
        pcm = tone(0.02, RATE) if i < 20 else quiet
        events += core.audio(pcm, at)
        events += core.scores([VadScore(1.0 if i < 25 else 0.0, at)], wall=100.0 + at)
    return events


def core(lookback_ms: int) -> SessionCore:
    return SessionCore(
        sample_rate=RATE,
        frame_ms=20,
        turn=TurnDetector(
            min_speech_ms=60, end_of_turn_ms=300, barge_in_ms=100, end_lookback_ms=lookback_ms
        ),
    )


def only(events: list[object], kind: type) -> object:
    (event,) = [e for e in events if isinstance(e, kind)]
    return event


def test_the_pause_starts_where_the_energy_ended_and_the_turn_ends_that_much_sooner() -> None:
    events = talk(core(150))
    turn = only(events, TurnReady)
    assert isinstance(turn, TurnReady)
    utt = turn.utterance
    assert math.isclose(utt.ended_at, 0.4) and math.isclose(utt.detected_at, 0.7)
    assert len(utt.pcm) >= 0.5 * RATE  # still cut to the VAD's end: a soft word end stays in
    pause = only(events, PauseReady)
    assert isinstance(pause, PauseReady)
    assert math.isclose(pause.utterance.detected_at, 0.66)  # 0.25 s after 0.4, a 20 ms frame
    assert pause.utterance.ended_at == utt.ended_at and len(pause.utterance.pcm) == len(utt.pcm)


def test_without_lookback_the_pause_starts_where_the_vad_fell() -> None:
    turn = only(talk(core(0)), TurnReady)
    assert isinstance(turn, TurnReady)
    assert math.isclose(turn.utterance.ended_at, 0.5)
    assert math.isclose(turn.utterance.detected_at, 0.8)


def test_a_line_loud_after_the_speech_keeps_the_vad_end() -> None:
    hiss = (np.random.default_rng(2).normal(0, 2000, 160)).astype(np.int16)  # 9 dB under it
    turn = only(talk(core(150), tail=hiss), TurnReady)
    assert isinstance(turn, TurnReady)
    assert math.isclose(turn.utterance.ended_at, 0.5)


def test_recent_is_the_audio_just_before_a_media_time() -> None:
    c = core(150)
    for i in range(10):
        c.audio(np.full(160, i, np.int16), round(0.02 * (i + 1), 6))
    pcm = c.recent(0.13, 0.05)  # 0.08 .. 0.13: frames 4, 5 and half of 6
    assert pcm.size >= 400 and pcm[-1] == 6 and np.count_nonzero(pcm == 6) == 80
    assert c.recent(0.0, 0.05).size == 0
