"""TurnDetector in simulated media time: scores in, turn events out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callport.vad.base import VadScore, VadUsageError
from callport.vad.turn import (
    BargeIn,
    SpeechDiscarded,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnEvent,
    TurnState,
)

W = 0.032  # Silero window


def run(det: TurnDetector, probs: list[float], *, step: float = W, k0: int = 0) -> list[TurnEvent]:
    events: list[TurnEvent] = []
    for k, prob in enumerate(probs, start=k0 + 1):
        events += det.feed(VadScore(prob=prob, at=round(k * step, 6)))
    return events


def seq(*parts: tuple[float, int]) -> list[float]:
    return [prob for prob, count in parts for _ in range(count)]


def test_speech_then_silence_is_one_turn() -> None:
    det = TurnDetector()
    events = run(det, seq((0.01, 10), (0.95, 20), (0.02, 30)))
    assert events == [
        SpeechStarted(at=pytest.approx(0.32)),
        BargeIn(at=pytest.approx(0.32 + 0.16), started_at=pytest.approx(0.32)),
        TurnEnded(started_at=pytest.approx(0.32), ended_at=pytest.approx(0.32 + 20 * W)),
    ]
    assert det.state is TurnState.QUIET


def test_speech_confirmed_only_after_min_speech() -> None:
    det = TurnDetector(min_speech_ms=120)
    assert run(det, seq((0.0, 5), (0.9, 3))) == []  # 96 ms of speech: not yet
    assert det.state is TurnState.STARTING and not det.in_speech
    assert run(det, [0.9], k0=8) == [SpeechStarted(at=pytest.approx(5 * W))]
    assert det.in_speech


def test_short_blip_is_discarded() -> None:
    det = TurnDetector()
    events = run(det, seq((0.0, 5), (0.9, 2), (0.1, 40)))
    assert events == [SpeechDiscarded(at=pytest.approx(5 * W))]
    assert det.state is TurnState.QUIET


def test_brief_pause_inside_a_sentence_does_not_end_the_turn() -> None:
    det = TurnDetector(end_of_turn_ms=500)
    probs = seq((0.0, 3), (0.9, 15), (0.05, 9), (0.9, 15), (0.0, 20))  # 288 ms pause
    ends = [e for e in run(det, probs) if isinstance(e, TurnEnded)]
    assert ends == [
        TurnEnded(started_at=pytest.approx(3 * W), ended_at=pytest.approx((3 + 15 + 9 + 15) * W))
    ]


def test_long_pause_ends_the_turn_and_a_new_one_starts() -> None:
    det = TurnDetector(end_of_turn_ms=500)
    probs = seq((0.0, 3), (0.9, 15), (0.05, 20), (0.9, 15), (0.0, 20))  # 640 ms pause
    events = run(det, probs)
    assert [type(e) for e in events] == [
        SpeechStarted,
        BargeIn,
        TurnEnded,
        SpeechStarted,
        BargeIn,
        TurnEnded,
    ]
    first_end = events[2]
    assert isinstance(first_end, TurnEnded)
    assert first_end.ended_at == pytest.approx(18 * W)
    second = events[3]
    assert isinstance(second, SpeechStarted) and second.at == pytest.approx(38 * W)


def test_turn_end_is_reported_after_end_of_turn_ms_of_quiet() -> None:
    det = TurnDetector(end_of_turn_ms=500)
    run(det, seq((0.9, 10)))
    quiet_windows = 0
    while True:
        quiet_windows += 1
        events = det.feed(VadScore(prob=0.0, at=round((10 + quiet_windows) * W, 6)))
        if events:
            break
    assert quiet_windows == 16  # ceil(500 / 32)
    assert events == [TurnEnded(started_at=0.0, ended_at=pytest.approx(10 * W))]


def test_hysteresis_between_thresholds_keeps_speech_going() -> None:
    det = TurnDetector(start_threshold=0.5, stop_threshold=0.35)
    # In between the thresholds after speech began: still speech, however long.
    events = run(det, seq((0.9, 10), (0.4, 60)))
    assert [type(e) for e in events] == [SpeechStarted, BargeIn]
    assert det.state is TurnState.SPEAKING


def test_hysteresis_between_thresholds_never_starts_speech() -> None:
    det = TurnDetector(start_threshold=0.5, stop_threshold=0.35)
    assert run(det, seq((0.45, 100))) == []
    assert det.state is TurnState.QUIET


def test_pause_needs_start_threshold_to_resume() -> None:
    det = TurnDetector(start_threshold=0.5, stop_threshold=0.35, end_of_turn_ms=500)
    # Dropped below stop, then hovers in between: the pause keeps counting.
    events = run(det, seq((0.9, 10), (0.2, 3), (0.45, 20)))
    assert events[-1] == TurnEnded(started_at=0.0, ended_at=pytest.approx(10 * W))


def test_barge_in_fires_once_and_only_after_barge_in_ms() -> None:
    det = TurnDetector(min_speech_ms=120, barge_in_ms=160)
    assert [type(e) for e in run(det, seq((0.9, 4)))] == [SpeechStarted]  # 128 ms
    assert run(det, [0.9], k0=4) == [BargeIn(at=pytest.approx(5 * W), started_at=0.0)]
    assert run(det, seq((0.9, 50)), k0=5) == []


def test_speech_shorter_than_barge_in_does_not_barge_in() -> None:
    det = TurnDetector(min_speech_ms=100, barge_in_ms=300)
    events = run(det, seq((0.9, 5), (0.0, 30)))
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]


def test_barge_in_no_longer_than_min_speech_comes_with_the_start() -> None:
    det = TurnDetector(min_speech_ms=120, barge_in_ms=60)
    events = run(det, seq((0.9, 4)))
    assert events == [SpeechStarted(at=0.0), BargeIn(at=pytest.approx(4 * W), started_at=0.0)]


def test_reset_forgets_speech_in_progress() -> None:
    det = TurnDetector()
    run(det, seq((0.9, 10)))
    det.reset()
    assert det.state is TurnState.QUIET
    assert run(det, seq((0.0, 40)), k0=10) == []


def test_works_with_20_ms_frames_and_a_media_clock_offset() -> None:
    det = TurnDetector()
    events: list[TurnEvent] = []
    for k, prob in enumerate(seq((0.0, 10), (1.0, 10), (0.0, 30)), start=1):
        events += det.feed(VadScore(prob=prob, at=100.0 + k * 0.02))
    assert events[0] == SpeechStarted(at=pytest.approx(100.2))
    assert events[-1] == TurnEnded(started_at=pytest.approx(100.2), ended_at=pytest.approx(100.4))


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(VadUsageError):
        TurnDetector(start_threshold=0.3, stop_threshold=0.5)
    with pytest.raises(VadUsageError):
        TurnDetector(end_of_turn_ms=-1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=300))
def test_event_grammar_holds_for_any_scores(probs: list[float]) -> None:
    det = TurnDetector()
    events = run(det, probs)
    in_turn = False
    barged = False
    last_time = -1.0
    for event in events:
        match event:
            case SpeechStarted(at=at):
                assert not in_turn
                in_turn, barged, started = True, False, at
                assert at >= last_time - 1e-9
                last_time = at
            case BargeIn(at=at, started_at=started_at):
                assert in_turn and not barged and started_at == started
                assert at - started_at >= 0.16 - 1e-9
                barged = True
            case TurnEnded(started_at=started_at, ended_at=ended_at):
                assert in_turn and started_at == started
                assert ended_at - started_at >= 0.12 - 1e-9
                in_turn = False
                last_time = ended_at
            case SpeechDiscarded(at=at):
                assert not in_turn
                assert at >= last_time - 1e-9
                last_time = at
    assert in_turn == det.in_speech


# ---- refine_pause: the pause counted from where the audio's energy ended ----------------


def test_a_refined_pause_ends_the_turn_sooner_and_reports_the_earlier_end() -> None:
    det = TurnDetector(end_of_turn_ms=500, end_lookback_ms=150)
    run(det, seq((0.9, 10), (0.0, 1)))  # the VAD's pause starts at 10 W = 0.32
    assert det.state is TurnState.PAUSING and det.vad_pause_started_at == pytest.approx(10 * W)
    assert det.refine_pause(10 * W - 0.1) == pytest.approx(10 * W - 0.1)
    k = 11
    while not (events := det.feed(VadScore(prob=0.0, at=round((k + 1) * W, 6)))):
        k += 1
    assert k + 1 - 10 == 13  # quiet windows: ceil((500 - 100) / 32), not 16
    assert events == [TurnEnded(started_at=0.0, ended_at=pytest.approx(10 * W - 0.1))]


def test_refine_pause_never_moves_more_than_the_lookback_nor_later_nor_before_speech() -> None:
    det = TurnDetector(end_lookback_ms=100)
    run(det, seq((0.0, 5), (0.9, 10), (0.0, 1)))  # speech 0.16 .. 0.48
    assert det.refine_pause(0.0) == pytest.approx(15 * W - 0.1)  # at most 100 ms back
    assert det.refine_pause(15 * W) == pytest.approx(15 * W - 0.1)  # never later again
    short = TurnDetector(min_speech_ms=60, end_lookback_ms=500)
    run(short, seq((0.0, 5), (0.9, 3), (0.0, 1)))
    assert short.refine_pause(0.0) == pytest.approx(5 * W)  # not before the speech began


def test_refine_pause_does_nothing_outside_a_pause_or_without_lookback() -> None:
    det = TurnDetector(end_lookback_ms=150)
    run(det, seq((0.9, 10)))  # speaking
    det.refine_pause(0.1)
    events = run(det, seq((0.0, 16)), k0=10)
    assert events == [TurnEnded(started_at=0.0, ended_at=pytest.approx(10 * W))]
    off = TurnDetector()  # end_lookback_ms=0: the VAD's fall, as before
    run(off, seq((0.9, 10), (0.0, 1)))
    assert off.refine_pause(0.1) == pytest.approx(10 * W)
    with pytest.raises(VadUsageError):
        TurnDetector(end_lookback_ms=-1)
