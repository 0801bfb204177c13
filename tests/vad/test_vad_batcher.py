"""VadBatcher: every stream with a window ready is scored in one batch on the shared tick."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from callport.vad.base import VadEngine, VadScore, VadStream
from callport.vad.batcher import DELIVER_SLICE, VadBatcher
from callport.vad.silero import SileroVad


class CountingEngine:
    """Wraps an engine and records how many streams each ``score`` call got."""

    def __init__(self, inner: VadEngine) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def new_stream(self, sample_rate: int) -> VadStream:
        return self.inner.new_stream(sample_rate)

    def score(self, streams: Sequence[VadStream]) -> list[list[VadScore]]:
        self.calls.append(len(streams))
        return self.inner.score(streams)


def caller_audio(i: int, rate: int = 8000) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(i)
    t = np.arange(rate) / rate
    tone = 5000 * np.sin(2 * np.pi * (150 + 10 * i) * t) * (t > 0.05 * (i % 10))
    return (tone + rng.normal(0, 200, t.size)).astype(np.int16)


async def test_32_concurrent_calls_make_one_batch_with_sequential_scores() -> None:
    engine = CountingEngine(SileroVad())
    batcher = VadBatcher(engine)
    audio = [caller_audio(i) for i in range(32)]
    streams = [batcher.new_stream(8000) for _ in audio]
    results = await asyncio.gather(
        *(batcher.score(s, a) for s, a in zip(streams, audio, strict=True))
    )
    assert engine.calls == [32]
    assert batcher.flushes == 1 and batcher.largest_batch == 32

    vad = SileroVad()
    for pcm, got in zip(audio, results, strict=True):
        alone = vad.process(vad.new_stream(8000), pcm)
        assert [s.at for s in got] == [s.at for s in alone]
        assert np.abs(np.array([s.prob for s in got]) - [s.prob for s in alone]).max() < 1e-5


async def test_live_calls_sending_20ms_frames_share_batches() -> None:
    engine = CountingEngine(SileroVad())
    batcher = VadBatcher(engine)
    audio = [caller_audio(i) for i in range(16)]
    streams = [batcher.new_stream(8000) for _ in audio]

    async def call(i: int) -> list[VadScore]:
        scores: list[VadScore] = []
        for k in range(0, 8000, 160):  # 50 frames of 20 ms, one per "tick"
            scores += await batcher.score(streams[i], audio[i][k : k + 160])
            await asyncio.sleep(0)
        return scores

    results = await asyncio.gather(*(call(i) for i in range(16)))
    assert all(len(r) == 8000 // 256 for r in results)
    assert max(engine.calls) == 16
    assert len(engine.calls) <= 50  # frames without a full window cost no inference


async def test_engine_failure_reaches_every_waiting_call() -> None:
    class Broken(CountingEngine):
        def score(self, streams: Sequence[VadStream]) -> list[list[VadScore]]:
            raise RuntimeError("onnx exploded")

    batcher = VadBatcher(Broken(SileroVad()))
    streams = [batcher.new_stream(8000) for _ in range(3)]
    outcomes = await asyncio.gather(
        *(batcher.score(s, np.zeros(512, dtype=np.int16)) for s in streams),
        return_exceptions=True,
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    # The batcher still works afterwards.
    batcher.vad = SileroVad()
    assert len(await batcher.score(streams[0], np.zeros(256, dtype=np.int16))) == 3


async def test_same_stream_twice_before_a_tick_scores_once() -> None:
    batcher = VadBatcher(SileroVad())
    stream = batcher.new_stream(16000)
    a, b, c = await asyncio.gather(
        batcher.score(stream, np.zeros(300, dtype=np.int16)),  # no window yet: [] at once
        batcher.score(stream, np.zeros(300, dtype=np.int16)),  # completes window 1
        batcher.score(stream, np.zeros(512, dtype=np.int16)),  # window 2, same tick
    )
    assert a == [] and c == []
    assert [s.at for s in b] == pytest.approx([0.032, 0.064])


@pytest.mark.parametrize("offload", [True, False])
async def test_calls_arriving_at_different_times_share_the_tick(offload: bool) -> None:
    """Frames of 24 calls arrive spread over the 20 ms frame period (real arrival times),
    not in one loop iteration; the tick still scores them together."""
    sizes: list[int] = []
    engine = CountingEngine(SileroVad())
    batcher = VadBatcher(SileroVad(), offload=offload, on_batch=lambda n, s: sizes.append(n))
    if not offload:
        batcher.vad = engine
    streams = [batcher.new_stream(8000) for _ in range(24)]
    audio = [caller_audio(i) for i in range(24)]
    got: list[list[VadScore]] = [[] for _ in streams]

    async def call(i: int) -> None:
        await asyncio.sleep(0.02 * i / 24)  # each call's frames at its own phase
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k in range(25):  # 0.5 s of 20 ms frames, paced on the loop clock
            got[i] += await batcher.score(streams[i], audio[i][160 * k: 160 * (k + 1)])
            await asyncio.sleep(max(0.0, start + 0.02 * (k + 1) - loop.time()))

    await asyncio.gather(*(call(i) for i in range(24)))
    assert all(len(g) == 4000 // 256 for g in got)  # every window scored exactly once
    assert len(sizes) == batcher.flushes and sum(sizes) <= 24 * len(got[0])
    # A batch per tick, not per call: most batches hold most calls.
    assert sum(sizes) / len(sizes) >= 0.6 * 24, sizes
    assert batcher.largest_batch == max(sizes) >= 20


@pytest.mark.parametrize("offload", [True, False])
async def test_a_big_batch_is_handed_on_a_slice_per_loop_turn_in_order(offload: bool) -> None:
    """Scores go to the calls DELIVER_SLICE streams per loop turn: a callback that came due
    meanwhile (a pacer's frame) runs between slices, and every stream's scores keep the order
    of the batch, also across two batches."""
    batcher = VadBatcher(SileroVad(), offload=offload)
    count = 3 * DELIVER_SLICE + 5
    streams = [batcher.new_stream(8000) for _ in range(count)]
    loop = asyncio.get_running_loop()
    order: list[tuple[int, float]] = []
    between: list[int] = []

    def on_scores(i: int) -> Callable[[list[VadScore]], None]:
        def got(scores: list[VadScore]) -> None:
            assert len(scores) == 1
            order.append((i, scores[0].at))
            if len(order) == 1:  # due while the first slice is handed on
                loop.call_soon(lambda: between.append(len(order)))
        return got

    def failed(exc: BaseException) -> None:
        raise AssertionError(exc)

    for rounds in (1, 2):
        for i, stream in enumerate(streams):
            assert batcher.submit(stream, caller_audio(i)[:256], on_scores(i), failed)
        async with asyncio.timeout(10):
            while len(order) < rounds * count:
                await asyncio.sleep(0.005)
    assert [i for i, _ in order] == list(range(count)) * 2
    assert [at for _, at in order] == [0.032] * count + [0.064] * count
    assert between[0] == DELIVER_SLICE  # the other callback ran after the first slice
