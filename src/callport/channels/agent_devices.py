"""``DeviceReach``: one ``AgentReach`` over every way an agent takes calls.

An agent may have a SIP phone registered (``channels.sip.agent_reach.SipAgentReach``) and the
``/agent`` page open (``channels.browser.agent_desk.AgentDesk``) at the same time. A ring
offers the call on all of them that are online at once; the first to answer wins and the
others stop ringing (their ``ring`` is cancelled: SIP CANCEL, the page's offer withdrawn).
When none answers, the outcome reported is the most telling one: declined, then busy, then
no answer, then the rest (a device that is offline is reported only when all are).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from callport.call.dial import DialCause
from callport.queues.reach import OFFLINE, AgentReach, NotReached, Offer, Reached

__all__ = ["DeviceReach"]

_RANK = (DialCause.REJECTED, DialCause.BUSY, DialCause.NO_ANSWER)


def _rank(result: NotReached) -> int:
    if result.cause is OFFLINE:
        return len(_RANK) + 1
    return _RANK.index(result.cause) if result.cause in _RANK else len(_RANK)


class DeviceReach:
    def __init__(self, *, reaches: Sequence[AgentReach]) -> None:
        self.reaches = tuple(reaches)

    def online(self, agent: str) -> bool:
        return any(r.online(agent) for r in self.reaches)

    async def ring(self, agent: str, offer: Offer, *, timeout_s: float) -> Reached | NotReached:
        live = [r for r in self.reaches if r.online(agent)]
        if not live:
            return NotReached(agent=agent, cause=OFFLINE,
                              detail="no phone registered, no page open")
        if len(live) == 1:
            return await live[0].ring(agent, offer, timeout_s=timeout_s)
        tasks = [asyncio.create_task(r.ring(agent, offer, timeout_s=timeout_s)) for r in live]
        failures: list[NotReached] = []
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    result = task.result()
                    if isinstance(result, Reached):
                        await _stop(pending)
                        return result
                    failures.append(result)
                    if result.cause is DialCause.REJECTED:  # the person said no
                        await _stop(pending)
                        pending = set()
        except asyncio.CancelledError:
            await _stop(set(tasks))
            raise
        return min(failures, key=_rank)


async def _stop(tasks: set[asyncio.Task[Reached | NotReached]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            result = await task
            if isinstance(result, Reached):  # answered on two devices at once
                await result.session.hangup("answered-elsewhere")
