"""Live audio paced like a jitter buffer, and the pacers' shared media clock (simulated time).

- ``LiveSource``: a backlog that stays over the depth bound for a whole window is dropped in
  one cut (counted); a producer that pushes in chunks, or a source that runs dry, loses none.
- ``Pacer``: a live frame on a leg with no playout buffer is never held to a grid an earlier,
  late frame set (the grid slews back, 4 ms per frame); a clip keeps its exact 20 ms grid.
- ``TickWaits`` / ``MediaClock``: every sleep due by a tick is woken at that tick, one loop
  timer per tick whatever the number of sleepers.
"""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from test_call_media import SimClock

from callport.call.mediaclock import MediaClock, TickWaits, for_loop, shared_sleep
from callport.call.pacer import SLEW_S, Pacer
from callport.call.playout import Playout
from callport.call.sources import ClipSource, LiveSource
from callport.flows.echo import ECHO_DEPTH_S, ECHO_WINDOW_S
from callport.types import PCM16

RATE = 8000
FRAME = 160


def frame(value: int) -> PCM16:
    return np.full(FRAME, value, np.int16)


# ---- LiveSource: the jitter bound ---------------------------------------------------------


def test_a_backlog_over_the_depth_for_a_window_is_dropped_in_one_cut() -> None:
    source = LiveSource(sample_rate=RATE, depth_s=0.02, window_s=0.1)  # 1 frame, 5 reads
    source.open(RATE)
    for i in range(6):  # a stall: six frames queued at once
        source.push(frame(i))
    out = []
    for i in range(6, 11):  # then one pushed per frame read: the backlog stays
        out.append(int(source.read(FRAME)[0]))  # type: ignore[index]
        source.push(frame(i))
    # five reads left 5 frames queued at least: all but one frame (the depth) dropped at once
    assert out == [0, 1, 2, 3, 4]
    assert source.cuts == 1 and source.dropped_samples == 4 * FRAME  # frames 5-8
    assert source.queued_samples == 2 * FRAME  # 9 (the depth kept) and 10 (pushed since)
    assert [int(source.read(FRAME)[0]) for _ in range(2)] == [9, 10]  # type: ignore[index]


def test_a_backlog_within_the_depth_is_kept() -> None:
    source = LiveSource(sample_rate=RATE, depth_s=0.04, window_s=0.1)
    source.open(RATE)
    source.push(frame(0))
    source.push(frame(1))
    for i in range(2, 30):  # two frames waiting after every read: that is the depth allowed
        source.push(frame(i))
        source.read(FRAME)
    assert source.cuts == 0 and source.dropped_samples == 0


def test_chunked_pushes_and_a_source_that_runs_dry_lose_nothing() -> None:
    source = LiveSource(sample_rate=RATE, depth_s=0.02, window_s=0.5)  # > a chunk's period
    source.open(RATE)
    read = 0
    for _ in range(5):  # a mix passed on in 200 ms chunks, one per 200 ms (10 reads)
        source.push(np.ones(10 * FRAME, np.int16))
        for _ in range(10):
            chunk = source.read(FRAME)
            assert chunk is not None and len(chunk) == FRAME
            read += 1
        empty = source.read(FRAME)  # ran dry before the next chunk
        assert empty is not None and len(empty) == 0
    assert read == 50 and source.cuts == 0 and source.dropped_samples == 0


def test_live_source_refuses_bad_bounds() -> None:
    with pytest.raises(ValueError):
        LiveSource(sample_rate=RATE, depth_s=-0.01)
    with pytest.raises(ValueError):
        LiveSource(sample_rate=RATE, window_s=0.0)


def test_the_echo_keeps_at_most_a_frame_of_backlog() -> None:
    assert ECHO_DEPTH_S <= 0.02 and ECHO_WINDOW_S <= 0.2


# ---- Pacer: live frames are not held to a stale grid -------------------------------------


class ZeroLeadLeg:
    """A leg with no playout buffer of its own (SIP): records when each frame was sent."""

    call_id = "z"
    sample_rate = RATE
    frame_ms = 20
    lead_ms = 0.0

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, int]] = []

    async def send_audio(self, pcm: PCM16) -> None:
        self.sent.append((round(self.clock.now, 6), int(pcm[0])))

    async def mark(self, name: str) -> None:
        return None


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def paced(source: LiveSource | ClipSource) -> tuple[SimClock, ZeroLeadLeg, Pacer]:
    """``source`` (opened) on a zero-lead leg's pacer, in simulated time."""
    clock = SimClock()
    leg = ZeroLeadLeg(clock)
    playout = Playout()
    source.open(RATE)
    playout.add_source(source)
    pacer = Pacer(leg=leg, playout=playout, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    return clock, leg, pacer


async def test_a_late_live_frame_does_not_delay_the_punctual_ones_after_it() -> None:
    source = LiveSource(sample_rate=RATE)
    clock, leg, pacer = paced(source)
    task = asyncio.create_task(pacer.run())
    # frames arrive every 20 ms, but frame 1 is 12 ms late
    for i, at in enumerate((0.0, 0.032, 0.040, 0.060, 0.080, 0.100)):
        clock.now = max(clock.now, at)
        source.push(frame(i))
        await settle()
    task.cancel()
    times = [t for t, _ in leg.sent]
    assert [v for _, v in leg.sent] == [0, 1, 2, 3, 4, 5]
    # on a fixed grid they would go at 0.052, 0.072, 0.092, 0.112 (12 ms late for ever);
    # the grid slews back SLEW_S per frame until each goes when it comes
    assert times == pytest.approx([0.0, 0.032, 0.052 - SLEW_S, 0.072 - 2 * SLEW_S, 0.080, 0.100])


async def test_a_live_burst_is_still_paced() -> None:
    source = LiveSource(sample_rate=RATE)
    _, leg, pacer = paced(source)
    for i in range(4):
        source.push(frame(i))
    task = asyncio.create_task(pacer.run())
    await settle()
    task.cancel()
    times = [t for t, _ in leg.sent]
    assert len(times) == 4
    assert all(b - a == pytest.approx(0.020 - SLEW_S) for a, b in itertools.pairwise(times))


async def test_a_clip_keeps_its_exact_grid() -> None:
    _, leg, pacer = paced(ClipSource(pcm=np.arange(5 * FRAME, dtype=np.int16), sample_rate=RATE))
    task = asyncio.create_task(pacer.run())
    await settle()
    task.cancel()
    times = [t for t, _ in leg.sent]
    assert times == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])  # a clip is not slewed


def test_real_time_pacers_sleep_on_the_shared_clock() -> None:
    clock = SimClock()
    leg = ZeroLeadLeg(clock)
    real = Pacer(leg=leg, playout=Playout(), clock=clock, sleep=asyncio.sleep)  # type: ignore[arg-type]
    simulated = Pacer(leg=leg, playout=Playout(), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert real._sleep is shared_sleep
    assert simulated._sleep == clock.sleep


# ---- the shared media clock ---------------------------------------------------------------


def test_tick_waits_groups_waiters_by_tick_and_arms_each_tick_once() -> None:
    waits: TickWaits[str] = TickWaits(tick_s=0.004)
    assert waits.add(0.0101, "a") == pytest.approx(0.012)  # the first tick at or after due
    assert waits.add(0.0119, "b") is None  # same tick: armed already
    assert waits.add(0.012, "c") is None  # on the boundary: that tick, not the next
    assert waits.add(0.0121, "d") == pytest.approx(0.016)
    assert waits.add(0.0041, "e") == pytest.approx(0.008)  # an earlier tick gets its own
    assert waits.ticks == 3 and waits.waiting == 5
    assert waits.fire(0.012) == ["e", "a", "b", "c"]  # a late timer serves earlier ticks too
    assert waits.fire(0.008) == []  # already served
    assert waits.fire(0.016) == ["d"]
    assert waits.waiting == 0 and waits.ticks == 0


def test_tick_waits_refuses_a_tick_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        TickWaits(tick_s=0.0)


async def test_media_clock_wakes_every_sleeper_of_a_tick_with_one_timer() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop, tick_s=10.0)  # one long tick: every sleep below is in it
    sleeps = [asyncio.create_task(clock.sleep(0.001 * (i + 1))) for i in range(20)]
    await settle()
    assert clock.timers == 1 and clock.woken == 0
    clock._fire(loop.time() + 10.0)  # the tick's timer, fired by hand (no waiting 10 s)
    await asyncio.wait_for(asyncio.gather(*sleeps), 1.0)
    assert clock.woken == 20


async def test_a_cancelled_sleep_is_skipped_by_its_tick() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop, tick_s=10.0)
    gone = asyncio.create_task(clock.sleep(1.0))
    kept = asyncio.create_task(clock.sleep(1.0))
    await settle()
    gone.cancel()
    await settle()
    clock._fire(loop.time() + 10.0)
    await asyncio.wait_for(kept, 1.0)
    assert gone.cancelled() and clock.woken == 1


async def test_each_loop_has_one_media_clock() -> None:
    assert for_loop() is for_loop(asyncio.get_running_loop())
    await shared_sleep(0)  # not ahead: returns at once
