"""The batching speech pool: waiting jobs of one runner run in one call; ended calls' jobs
are dropped; errors reach every job of the batch; the backlog counts batches."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from speech_helpers import until

from callport.speech.batching import BatchJobs
from callport.speech.jobs import CancelToken, JobDropped, call_token


class Engine:
    """A fake batch engine: the first call waits for ``release``; records each batch."""

    def __init__(self, *, fail: bool = False) -> None:
        self.release = threading.Event()
        self.batches: list[list[str]] = []
        self.fail = fail

    def run(self, items: Sequence[str]) -> list[str]:
        self.release.wait(10)
        self.batches.append(list(items))
        if self.fail:
            raise RuntimeError("engine broke")
        return [item.upper() for item in items]


async def _submit(jobs: BatchJobs[str, str], engine: Engine, item: str,
                  token: CancelToken | None = None) -> str:
    call_token.set(token)
    return await jobs.run(item, engine.run)


async def test_jobs_waiting_together_run_in_one_batch() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-batch", max_batch=8)
    engine = Engine()
    first = asyncio.create_task(_submit(jobs, engine, "a"))
    await until(lambda: jobs.backlog().running == 1)
    waiting = [asyncio.create_task(_submit(jobs, engine, x)) for x in "bcd"]
    await until(lambda: jobs.backlog().queued == 3)
    engine.release.set()
    assert await first == "A"
    assert await asyncio.gather(*waiting) == ["B", "C", "D"]
    assert engine.batches == [["a"], ["b", "c", "d"]]
    backlog = jobs.backlog()
    assert (backlog.done, backlog.batches, backlog.largest_batch) == (4, 2, 3)


async def test_a_batch_holds_at_most_max_batch_and_one_runner() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-max", max_batch=2)
    engine, other = Engine(), Engine()
    other.release.set()
    first = asyncio.create_task(_submit(jobs, engine, "a"))
    await until(lambda: jobs.backlog().running == 1)
    rest = [asyncio.create_task(_submit(jobs, engine, x)) for x in "bcd"]
    foreign = asyncio.create_task(_submit(jobs, other, "x"))
    await until(lambda: jobs.backlog().queued == 4)
    engine.release.set()
    await asyncio.gather(first, *rest, foreign)
    assert engine.batches == [["a"], ["b", "c"], ["d"]]
    assert other.batches == [["x"]]  # another runner's job is never mixed in


async def test_jobs_of_an_ended_call_are_dropped_not_batched() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-drop")
    engine = Engine()
    talking, gone = CancelToken(), CancelToken()
    first = asyncio.create_task(_submit(jobs, engine, "a", talking))
    await until(lambda: jobs.backlog().running == 1)
    leaked = [asyncio.create_task(_submit(jobs, engine, f"gone{n}", gone)) for n in range(3)]
    kept = asyncio.create_task(_submit(jobs, engine, "b", talking))
    cancelled = asyncio.create_task(_submit(jobs, engine, "c", talking))
    await until(lambda: jobs.backlog().queued == 5)
    gone.cancel()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    engine.release.set()
    assert (await first, await kept) == ("A", "B")
    for task in leaked:
        with pytest.raises(JobDropped):
            await task
    assert engine.batches == [["a"], ["b"]]
    assert jobs.backlog().dropped == 4 and jobs.backlog().queued == 0


async def test_a_job_of_an_ended_call_is_refused_at_once() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-refuse")
    engine = Engine()
    engine.release.set()
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobDropped):
        await _submit(jobs, engine, "late", token)
    assert engine.batches == [] and jobs.backlog().dropped == 1


async def test_an_engine_error_reaches_every_job_of_the_batch() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-fail")
    engine = Engine(fail=True)
    first = asyncio.create_task(_submit(jobs, engine, "a"))
    await until(lambda: jobs.backlog().running == 1)
    rest = [asyncio.create_task(_submit(jobs, engine, x)) for x in "bc"]
    await until(lambda: jobs.backlog().queued == 2)
    engine.release.set()
    for task in (first, *rest):
        with pytest.raises(RuntimeError, match="engine broke"):
            await task
    assert jobs.backlog().running == 0  # the worker lives on
    engine.fail = False
    assert await _submit(jobs, engine, "d") == "D"


async def test_a_runner_returning_too_few_results_fails_its_jobs() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-short")
    with pytest.raises(RuntimeError, match="0 results for 1 jobs"):
        await jobs.run("a", lambda items: [])


async def test_service_seconds_count_calls_jobs_not_warm_up() -> None:
    jobs: BatchJobs[str, str] = BatchJobs(name="t-service")
    engine = Engine()
    engine.release.set()
    await _submit(jobs, engine, "warm-up", None)
    assert jobs.backlog().service_s == 0.0  # no call: warm-up is not a call's cost
    await _submit(jobs, engine, "a", CancelToken())
    assert jobs.backlog().service_s > 0.0
