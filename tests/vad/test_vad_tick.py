"""TickSchedule in simulated time: a batch holds every stream with a window ready."""

from __future__ import annotations

import random

import pytest

from callport.vad.tick import TickSchedule


def test_n_streams_with_ready_windows_form_one_batch_of_n() -> None:
    schedule: TickSchedule[str, int] = TickSchedule(tick_s=0.032)
    arms = [schedule.ready(f"call{i}", i, now=0.001 + 0.0003 * i) for i in range(50)]
    assert arms[0] == pytest.approx(0.032) and arms[1:] == [None] * 49  # one timer
    assert schedule.due(now=0.031) == []  # early: nothing
    batch = schedule.due(now=0.032)
    assert [stream for stream, _ in batch] == [f"call{i}" for i in range(50)]
    assert schedule.batches == [50] and schedule.busy and schedule.waiting == 0
    assert schedule.done(now=0.035) is None  # nobody waits: no timer


def test_windows_ready_while_a_batch_runs_wait_for_the_next_tick() -> None:
    schedule: TickSchedule[str, str] = TickSchedule(tick_s=0.032)
    schedule.ready("a", "w1", now=0.010)
    assert len(schedule.due(now=0.032)) == 1
    assert schedule.ready("b", "w2", now=0.033) is None  # in flight: no timer yet
    assert schedule.ready("a", "w3", now=0.034) is None
    assert schedule.due(now=0.034) == []  # nothing is armed while busy
    assert schedule.done(now=0.036) == pytest.approx(0.064)
    assert schedule.due(now=0.064) == [("b", ["w2"]), ("a", ["w3"])]


def test_the_same_stream_twice_is_one_entry_with_both_waiters() -> None:
    schedule: TickSchedule[str, str] = TickSchedule(tick_s=0.032)
    schedule.ready("a", "first", now=0.0)
    assert schedule.due(now=0.0) == [("a", ["first"])]  # on a boundary: that tick
    schedule.done(now=0.001)
    schedule.ready("a", "x", now=0.002)
    schedule.ready("a", "y", now=0.003)
    assert schedule.due(now=0.032) == [("a", ["x", "y"])]
    assert schedule.forget("gone") == []


def test_live_calls_at_random_phases_batch_together_in_simulated_time() -> None:
    """100 calls send 20 ms frames at random phases for 10 s (32 ms windows); each tick
    scores every call with a window ready, so batches hold (nearly) all calls, where a
    per-arrival batcher would see one call at a time."""
    rng = random.Random(18)
    calls, frame_s, window_s, tick_s = 100, 0.020, 0.032, 0.032
    schedule: TickSchedule[int, int] = TickSchedule(tick_s=tick_s)
    phases = [rng.uniform(0, frame_s) for _ in range(calls)]
    events = sorted((phases[c] + frame_s * k, c) for c in range(calls) for k in range(1, 501))
    samples = [0.0] * calls
    timer: float | None = None
    for at, call in events:
        while timer is not None and timer <= at:  # the loop runs the timer first
            schedule.due(timer)
            timer = schedule.done(timer + 0.004)  # inference took 4 ms
        samples[call] += frame_s
        if samples[call] >= window_s - 1e-9:  # a window is complete
            samples[call] -= window_s
            armed = schedule.ready(call, 0, now=at)
            timer = armed if armed is not None else timer
        assert schedule.waiting <= calls
    sizes = schedule.batches[5:]
    assert min(sizes) >= 0.7 * calls and sum(sizes) / len(sizes) >= 0.9 * calls


def test_a_tick_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tick_s"):
        TickSchedule(tick_s=0)
