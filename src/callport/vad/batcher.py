"""VadBatcher: every call's VAD windows scored together on a shared 32 ms tick.

A call hands each frame of caller audio to ``submit(stream, pcm, on_scores, on_error)``; it
returns at once. When the frame completes a window, the stream joins the next tick of the
event loop's clock (a multiple of ``tick_s``, one Silero window): at the tick every stream
with a window ready is scored in one inference and each call's ``on_scores`` gets its own
stream's scores. The schedule is ``vad.tick.TickSchedule`` (sans-IO, tested in simulated
time). ``await score(stream, pcm)`` is the same as an awaitable.

Inference runs off the event loop: an engine with ``prepare`` (Silero) takes the windows on
the loop, runs the model on the process's one VAD worker thread (onnxruntime releases the
GIL, so frame pacing goes on meanwhile) and stores the new states back on the loop. Other
engines (webrtcvad, cheap) score on the loop at the tick. ``on_batch(size, seconds)``
reports every batch (the ``callport_vad_batch_size`` histogram in ``/metrics``).

The scores are handed to the calls ``DELIVER_SLICE`` streams per loop turn, in order (one
queue for every batch): each call's scores run its turn detector, and 150 of them in one
callback would keep the loop from every pacer due meanwhile for milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from callport.types import PCM16
from callport.vad.base import VadEngine, VadScore, VadStream
from callport.vad.tick import TICK_S, TickSchedule

log = logging.getLogger(__name__)
T = TypeVar("T")

# Streams whose scores (or error) are handed on per loop turn; the rest follow on the next
# turns, after whatever came due meanwhile (a pacer's frame).
DELIVER_SLICE = 32

_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """The process's one VAD worker thread (the ONNX session is process-wide too)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(1, thread_name_prefix="callport-vad")
        return _executor

OnScores = Callable[[list[VadScore]], None]
OnError = Callable[[BaseException], None]
Waiter = tuple[OnScores, OnError]
Batch = list[tuple[VadStream, list[Waiter]]]


class VadJob(Protocol):
    def run(self) -> None: ...  # thread-safe: touches only the job's arrays and the model

    def finish(self) -> list[list[VadScore]]: ...


@runtime_checkable
class PreparingEngine(Protocol):
    """An engine whose batches can be scored off the loop (``SileroVad``)."""

    def prepare(self, streams: Sequence[VadStream]) -> VadJob: ...


class VadBatcher:
    """The asyncio front of a ``VadEngine``: a shared tick, one inference per tick."""

    def __init__(
        self, vad: VadEngine, *, tick_s: float = TICK_S, offload: bool = True,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.vad = vad
        self.offload = offload
        self._schedule: TickSchedule[VadStream, Waiter] = TickSchedule(tick_s=tick_s)
        self._on_batch = on_batch
        self.flushes = 0  # batches scored
        self.largest_batch = 0  # most streams in one batch
        # (callback, value) still to hand on, every batch's in order (``_drain``)
        self._pending: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._drain_armed = False

    @property
    def batch_sizes(self) -> list[int]:
        """Sizes of the recent batches (for benchmarks and tests)."""
        return list(self._schedule.batches)

    def new_stream(self, sample_rate: int) -> VadStream:
        return self.vad.new_stream(sample_rate)

    def submit(self, stream: VadStream, pcm: PCM16, on_scores: OnScores,
               on_error: OnError) -> bool:
        """Buffer ``pcm``; if a window is complete, ``on_scores`` gets the scores of every
        window the stream completed, on the next tick (``on_error`` if the engine failed),
        and this returns True; False when no window is complete (no callback)."""
        stream.push(pcm)
        if not stream.pending:
            return False
        loop = asyncio.get_running_loop()
        at = self._schedule.ready(stream, (on_scores, on_error), loop.time())
        if at is not None:
            loop.call_at(at, self._tick)
        return True

    async def score(self, stream: VadStream, pcm: PCM16) -> list[VadScore]:
        """Buffer ``pcm`` and return the scores of every window it completes (after the
        tick), or ``[]`` at once when it completes none."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[VadScore]] = loop.create_future()

        def scored(scores: list[VadScore]) -> None:
            if not future.done():
                future.set_result(scores)

        def failed(exc: BaseException) -> None:
            if not future.done():
                future.set_exception(exc)

        if not self.submit(stream, pcm, scored, failed):
            return []
        return await future

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        batch = self._schedule.due(loop.time())
        if not batch:
            return
        streams = [stream for stream, _ in batch]
        self.flushes += 1
        self.largest_batch = max(self.largest_batch, len(streams))
        started = time.perf_counter()
        try:
            if self.offload and isinstance(self.vad, PreparingEngine):
                job = self.vad.prepare(streams)
                future = _worker().submit(job.run)
                future.add_done_callback(
                    lambda f: _back_on(loop, self._ran, batch, job, f, started))
                return
            results = self.vad.score(streams)
        except Exception as exc:
            self._fail(batch, exc)
            return
        self._deliver(batch, results, started)

    def _ran(self, batch: Batch, job: VadJob, future: Future[None], started: float) -> None:
        try:
            future.result()
            results = job.finish()
        except Exception as exc:
            self._fail(batch, exc)
            return
        self._deliver(batch, results, started)

    def _deliver(self, batch: Batch, results: list[list[VadScore]], started: float) -> None:
        if self._on_batch is not None:
            self._on_batch(len(batch), time.perf_counter() - started)
        self._next()
        for (_, waiters), scores in zip(batch, results, strict=True):
            first, *rest = waiters
            self._pending.append((first[0], scores))
            for on_scores, _ in rest:  # the same stream submitted twice: scored once
                self._pending.append((on_scores, []))
        self._hand_on()

    def _fail(self, batch: Batch, exc: Exception) -> None:
        log.error("VAD scoring failed for %d streams", len(batch), exc_info=exc)
        self._next()
        for _, waiters in batch:
            for _, on_error in waiters:
                self._pending.append((on_error, exc))
        self._hand_on()

    def _hand_on(self) -> None:
        """The first slice now, unless a drain is already on its way (it keeps the order)."""
        if not self._drain_armed:
            self._drain()

    def _drain(self) -> None:
        self._drain_armed = False
        pending = self._pending
        for _ in range(min(DELIVER_SLICE, len(pending))):
            callback, value = pending.popleft()
            _safely(callback, value)
        if pending:
            self._drain_armed = True
            asyncio.get_running_loop().call_soon(self._drain)

    def _next(self) -> None:
        loop = asyncio.get_running_loop()
        at = self._schedule.done(loop.time())
        if at is not None:
            loop.call_at(at, self._tick)


def _back_on(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
    """Hand the worker's result back to ``loop``; a loop that closed meanwhile (the process
    or ``callport talk`` finished while a batch ran) has no call left to give it to."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _safely(callback: Callable[[T], None], value: T) -> None:
    try:
        callback(value)
    except Exception:  # one call's bug must not stop the others' scores
        log.exception("VAD score callback failed")
