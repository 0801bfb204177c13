"""The AgentReach seam: FakeReach (the reference implementation) and answered_session."""

from __future__ import annotations

import asyncio

import numpy as np

from callport.call.dial import DialCause
from callport.queues.reach import OFFLINE, FakeReach, NotReached, Offer, Reached
from callport.types import CallInfo

OFFER = Offer(call_id="c1", queue="support", caller=CallInfo(call_id="c1", channel="sip",
                                                             caller="+15550100"),
              summary="wants a refund", transcript=(("caller", "I want a refund"),))


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.002)


async def test_an_answer_is_a_started_session_that_closes_itself_when_it_ends() -> None:
    reach = FakeReach()
    result = await reach.ring("alice", OFFER, timeout_s=10)
    assert isinstance(result, Reached) and result.agent == "alice"
    person = reach.agent("alice")
    assert person.offers == [OFFER] and reach.rings == [("alice", "c1")]
    leg = person.legs[0]
    await leg.speak(np.full(1600, 3000, dtype=np.int16), 16000)
    await until(lambda: result.session.stats.frames_in >= 5)  # the session is running
    leg.caller_hangup()
    await until(lambda: result.session.ended)
    await asyncio.sleep(0.01)
    assert not any(not t.done() for t in asyncio.all_tasks() if "agent-session" in t.get_name())


async def test_scripted_refusals_no_answer_offline_and_cancel() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    reach = FakeReach(sleep=sleep)
    reach.agent("bob").answers = [DialCause.BUSY, DialCause.REJECTED]
    assert await reach.ring("bob", OFFER, timeout_s=5) == NotReached(
        agent="bob", cause=DialCause.BUSY, detail="scripted")
    busy = await reach.ring("bob", OFFER, timeout_s=5)
    assert isinstance(busy, NotReached) and busy.cause is DialCause.REJECTED
    assert isinstance(await reach.ring("bob", OFFER, timeout_s=5), Reached)  # then answers
    reach.agent("carol").delay_s = 30
    late = await reach.ring("carol", OFFER, timeout_s=15)
    assert isinstance(late, NotReached) and late.cause is DialCause.NO_ANSWER and slept == [15]
    reach.agent("dave").online = False
    assert not reach.online("dave") and reach.online("bob")
    off = await reach.ring("dave", OFFER, timeout_s=5)
    assert isinstance(off, NotReached) and off.cause is OFFLINE

    gate = asyncio.Event()

    async def forever(seconds: float) -> None:
        await gate.wait()

    slow = FakeReach(sleep=forever)
    slow.agent("erin").delay_s = 2
    ring = asyncio.create_task(slow.ring("erin", OFFER, timeout_s=10))
    await asyncio.sleep(0.01)
    ring.cancel()
    await asyncio.gather(ring, return_exceptions=True)
    assert ring.cancelled() and slow.agent("erin").cancelled == 1
