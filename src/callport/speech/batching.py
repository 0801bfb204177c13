"""A speech pool whose worker runs every waiting job of one kind in a single engine call.

Whisper (CTranslate2) decodes a batch of utterances in one ``generate`` call for much less
than the sum of decoding them one after another: the decoder's weights are read once per
step for the whole batch. So when several callers finish speaking at about the same time,
:class:`BatchJobs` hands their utterances to the engine together instead of queueing them.

A job is ``(item, runner)``: the worker takes the oldest waiting job and every other waiting
job with an equal runner (up to ``max_batch``), and calls ``runner(items)`` once, which
returns one result per item in order. Jobs of a call that ended (``jobs.call_token``) or
whose awaiting task was cancelled are dropped when the worker reaches them, as in
:class:`callport.speech.jobs.SpeechJobs`, and the backlog is counted the same way for
``/metrics`` and admission.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from callport.speech.jobs import Backlog, CancelToken, JobDropped, call_token, registered, smoothed

__all__ = ["BatchJobs", "batch_pool"]

I = TypeVar("I")  # noqa: E741 - a job's item
R = TypeVar("R")

Runner = Callable[[Sequence[Any]], Sequence[Any]]


@dataclass(slots=True, eq=False)
class _Job:
    number: int
    item: Any
    runner: Runner
    token: CancelToken | None
    future: concurrent.futures.Future[Any]
    queued_at: float


class BatchJobs(Generic[I, R]):
    """``workers`` threads, each running up to ``max_batch`` waiting jobs in one call."""

    def __init__(self, *, name: str, max_batch: int = 8, workers: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_batch < 1 or workers < 1:
            raise ValueError("max_batch and workers must be >= 1")
        self.name = name
        self.max_batch = max_batch
        self._clock = clock
        self._workers = workers
        self._cond = threading.Condition()
        self._waiting: list[_Job] = []  # oldest first
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count()
        self._running = self._dropped = self._done = self._batches = self._largest = 0
        self._service_s = 0.0

    async def run(self, item: I, runner: Callable[[Sequence[I]], Sequence[R]]) -> R:
        """``runner([item, ...])[k]`` for this item, run with other waiting items of the same
        runner; JobDropped if this call ended before a worker took it."""
        token = call_token.get()
        if token is not None and token.cancelled:
            with self._cond:
                self._dropped += 1
            raise JobDropped(f"{self.name}: the call has ended")
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        job = _Job(number=next(self._ids), item=item, runner=runner, token=token,
                   future=future, queued_at=self._clock())
        with self._cond:
            self._waiting.append(job)
            self._start_workers()
            self._cond.notify()
        try:
            return await asyncio.wrap_future(future)
        finally:  # cancelled while waiting: the worker skips it; counted once, here
            with self._cond:
                if job in self._waiting:
                    self._waiting.remove(job)
                    self._dropped += 1

    def _start_workers(self) -> None:
        while len(self._threads) < self._workers:
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"callport-{self.name}-{len(self._threads)}")
            self._threads.append(thread)
            thread.start()

    def _take(self) -> list[_Job]:
        """The next batch: the oldest live job and the live ones sharing its runner."""
        with self._cond:
            while True:
                live: list[_Job] = []
                for job in list(self._waiting):
                    if job.future.cancelled():
                        self._drop(job)
                    elif job.token is not None and job.token.cancelled:
                        self._drop(job)
                        job.future.set_exception(JobDropped(f"{self.name}: the call has ended"))
                    elif not live or (job.runner == live[0].runner
                                      and len(live) < self.max_batch):
                        if job.future.set_running_or_notify_cancel():
                            self._waiting.remove(job)
                            live.append(job)
                        else:
                            self._drop(job)
                if live:
                    self._running += len(live)
                    return live
                self._cond.wait()

    def _drop(self, job: _Job) -> None:
        self._waiting.remove(job)
        self._dropped += 1

    def _work(self) -> None:
        while True:
            batch = self._take()
            error: BaseException | None = None
            results: list[Any] = []
            started = time.perf_counter()
            try:
                results = list(batch[0].runner([job.item for job in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(results)} results for "
                                       f"{len(batch)} jobs")
            except BaseException as exc:  # every job of the batch gets the engine's error
                error = exc
            with self._cond:  # the books first: an awaiting caller sees them settled
                self._running -= len(batch)
                self._done += len(batch)
                self._batches += 1
                self._largest = max(self._largest, len(batch))
                if any(job.token is not None for job in batch):  # calls' jobs, not warm-up
                    per_job = (time.perf_counter() - started) / len(batch)
                    self._service_s = smoothed(self._service_s, per_job)
            for k, job in enumerate(batch):
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(results[k])

    def backlog(self) -> Backlog:
        with self._cond:
            now = self._clock()
            oldest = max((now - job.queued_at for job in self._waiting), default=0.0)
            return Backlog(queued=len(self._waiting), oldest_s=max(oldest, 0.0),
                           running=self._running, dropped=self._dropped, done=self._done,
                           batches=self._batches, largest_batch=self._largest,
                           service_s=self._service_s)


def batch_pool(name: str, *, max_batch: int = 8, workers: int = 1) -> BatchJobs[Any, Any]:
    """The process-wide batching pool ``name`` ("stt"), made on first use."""
    jobs: BatchJobs[Any, Any] = registered(
        name, BatchJobs, lambda: BatchJobs(name=name, max_batch=max_batch, workers=workers))
    jobs.max_batch = max(jobs.max_batch, max_batch)
    jobs._workers = max(jobs._workers, workers)
    return jobs
