"""Speech work queues: the worker threads STT and TTS jobs run on, with what is waiting.

Each engine (Whisper, Piper) has one :class:`SpeechJobs`: a fixed pool of worker threads
(one by default: Whisper's decode already uses both cores) and the books on what waits for
them, so ``/metrics`` can show the backlog and admission can refuse new callers before the
queue grows past what the machine answers in time.

A job belongs to the call whose task submitted it: :data:`call_token` is set per call
(``callport.server.callrun``) and inherited by every task the call makes. When the call
ends its token is cancelled, and a job of that call still waiting is dropped when a worker
takes it (:class:`JobDropped`, a cancellation) instead of run: a hung-up caller's queued
transcriptions no longer hold up the callers still talking.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["Backlog", "CancelToken", "JobDropped", "SpeechJobs", "call_token", "pool",
           "registered", "smoothed", "speech_backlog"]

T = TypeVar("T")
P = TypeVar("P", bound="HasBacklog")


class JobDropped(asyncio.CancelledError):
    """A speech job was dropped unrun: the call it was for has ended."""


class CancelToken:
    """One call's token: cancelled when the call ends (thread-safe to read)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


# The current call's token; None outside a call (warm-up, benches): such jobs always run.
call_token: ContextVar[CancelToken | None] = ContextVar("callport_call_token", default=None)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Jobs waiting for a worker (not yet started), the oldest one's wait, and the totals."""

    queued: int
    oldest_s: float
    running: int
    dropped: int
    done: int
    batches: int = 0  # calls of the engine (a batched pool runs several jobs in one)
    largest_batch: int = 0
    # The worker's recent seconds per job (moving average; 0 before the first): what one
    # more job costs the machine now, whatever else loads it (admission reads it).
    service_s: float = 0.0


SERVICE_WEIGHT = 0.2  # weight of the newest job in Backlog.service_s


def smoothed(previous: float, sample: float) -> float:
    """The moving average of seconds per job after one more sample."""
    return sample if previous <= 0 else previous + SERVICE_WEIGHT * (sample - previous)


class SpeechJobs:
    """A pool of ``workers`` threads running blocking speech calls, one job per thread."""

    def __init__(self, *, name: str, workers: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.name = name
        self._clock = clock
        self._workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix=f"callport-{name}")
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # job number -> when it was queued
        self._ids = itertools.count()
        self._running = 0
        self._dropped = 0
        self._done = 0
        self._service_s = 0.0

    @property
    def workers(self) -> int:
        return self._workers

    def resize(self, workers: int) -> None:
        """More (or fewer) worker threads for jobs queued from now on."""
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if workers == self._workers:
            return
        old = self._executor
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix=f"callport-{self.name}")
        self._workers = workers
        old.shutdown(wait=False)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a worker; JobDropped if this call ended before a worker took it."""
        token = call_token.get()
        if token is not None and token.cancelled:
            with self._lock:
                self._dropped += 1
            raise JobDropped(f"{self.name}: the call has ended")
        number = next(self._ids)
        with self._lock:
            self._waiting[number] = self._clock()

        def job() -> T:
            with self._lock:
                self._waiting.pop(number, None)
                if token is not None and token.cancelled:  # dropped when dequeued
                    self._dropped += 1
                    raise JobDropped(f"{self.name}: the call has ended")
                self._running += 1
            started = time.perf_counter()
            try:
                return fn()
            finally:
                with self._lock:
                    self._running -= 1
                    self._done += 1
                    if token is not None:  # a call's job: warm-up is not what calls cost
                        self._service_s = smoothed(self._service_s,
                                                   time.perf_counter() - started)

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, job)
        finally:  # a caller cancelled while queued: the pool drops the job, and the books
            with self._lock:
                if self._waiting.pop(number, None) is not None:
                    self._dropped += 1

    def backlog(self) -> Backlog:
        with self._lock:
            now = self._clock()
            oldest = max((now - t for t in self._waiting.values()), default=0.0)
            return Backlog(queued=len(self._waiting), oldest_s=max(oldest, 0.0),
                           running=self._running, dropped=self._dropped, done=self._done,
                           service_s=self._service_s)


class HasBacklog(Protocol):
    name: str

    def backlog(self) -> Backlog: ...


_POOLS: dict[str, HasBacklog] = {}
_POOLS_LOCK = threading.Lock()


def registered(name: str, kind: type[P], make: Callable[[], P]) -> P:
    """The process-wide pool ``name`` of type ``kind``, made by ``make`` on first use (so
    ``/metrics`` and admission see its backlog)."""
    with _POOLS_LOCK:
        jobs = _POOLS.get(name)
        if jobs is None:
            jobs = _POOLS[name] = make()
        if not isinstance(jobs, kind):
            raise TypeError(f"speech pool {name!r} is a {type(jobs).__name__}, not {kind.__name__}")
        return jobs


def pool(name: str, *, workers: int = 1) -> SpeechJobs:
    """The process-wide pool ``name`` ("tts"), made on first use (resized to ``workers``
    when asked for more)."""
    jobs = registered(name, SpeechJobs, lambda: SpeechJobs(name=name, workers=workers))
    if workers > jobs.workers:
        jobs.resize(workers)
    return jobs


def speech_backlog() -> dict[str, Backlog]:
    """Every speech pool's backlog by name (for ``/metrics`` and admission)."""
    with _POOLS_LOCK:
        pools = dict(_POOLS)
    return {name: jobs.backlog() for name, jobs in sorted(pools.items())}
