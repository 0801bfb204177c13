"""Speech job pools: jobs of a call that ended are dropped unrun; the backlog is counted."""

from __future__ import annotations

import asyncio
import threading

import pytest
from speech_helpers import until

from callport.speech.jobs import CancelToken, JobDropped, SpeechJobs, call_token


class SlowEngine:
    """A fake blocking engine: each job waits for ``release`` and counts who ran."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran: list[str] = []

    def job(self, name: str) -> str:
        self.release.wait(10)
        self.ran.append(name)
        return name


async def _submit(jobs: SpeechJobs, engine: SlowEngine, name: str,
                  token: CancelToken | None) -> str:
    call_token.set(token)  # this task's call (a task's context is its own copy)
    return await jobs.run(lambda: engine.job(name))


async def test_queued_jobs_of_a_hung_up_call_never_run() -> None:
    jobs = SpeechJobs(name="test-stt", workers=1)
    engine = SlowEngine()
    talking, hung_up = CancelToken(), CancelToken()
    first = asyncio.create_task(_submit(jobs, engine, "talking-0", talking))
    await until(lambda: jobs.backlog().running == 1)
    # Ten jobs of a call that then hangs up, queued behind the running one, never awaited
    # by a cancelled task (the leak the old single executor ran for minutes).
    leaked = [asyncio.create_task(_submit(jobs, engine, f"gone-{n}", hung_up))
              for n in range(10)]
    after = asyncio.create_task(_submit(jobs, engine, "talking-1", talking))
    await until(lambda: jobs.backlog().queued == 11)
    assert jobs.backlog().oldest_s >= 0.0
    hung_up.cancel()
    engine.release.set()
    assert await first == "talking-0"
    assert await after == "talking-1"
    for task in leaked:
        with pytest.raises(JobDropped):
            await task
    assert engine.ran == ["talking-0", "talking-1"]
    backlog = jobs.backlog()
    assert (backlog.queued, backlog.dropped, backlog.done) == (0, 10, 2)


async def test_a_job_of_an_ended_call_is_refused_at_once() -> None:
    jobs = SpeechJobs(name="test-tts", workers=1)
    engine = SlowEngine()
    engine.release.set()
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobDropped):
        await _submit(jobs, engine, "late", token)
    assert engine.ran == [] and jobs.backlog().dropped == 1
    assert await _submit(jobs, engine, "no-call", None) == "no-call"  # warm-up: no token


async def test_two_workers_run_two_jobs_at_once() -> None:
    jobs = SpeechJobs(name="test-pool", workers=2)
    engine = SlowEngine()
    tasks = [asyncio.create_task(_submit(jobs, engine, f"j{n}", None)) for n in range(3)]
    await until(lambda: jobs.backlog().running == 2)
    assert jobs.backlog().queued == 1
    engine.release.set()
    assert sorted(await asyncio.gather(*tasks)) == ["j0", "j1", "j2"]


async def test_cancelled_waiter_drops_its_queued_job() -> None:
    jobs = SpeechJobs(name="test-cancel", workers=1)
    engine = SlowEngine()
    first = asyncio.create_task(_submit(jobs, engine, "a", None))
    await until(lambda: jobs.backlog().running == 1)
    second = asyncio.create_task(_submit(jobs, engine, "b", None))
    await until(lambda: jobs.backlog().queued == 1)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    engine.release.set()
    await first
    assert engine.ran == ["a"] and jobs.backlog().dropped == 1
