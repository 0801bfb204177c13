"""20 callers and 5 agents at once, under every strategy: nobody is lost, every caller is
answered in queue order, and the status (what /api/queues and `queues status` show) is
right at every step."""

from __future__ import annotations

import asyncio

import pytest
from queue_support import make_call, queue, service, until

from callport.call.queueing import AgentAnswered
from callport.queues.model import AgentStatus, status_json

AGENTS = [f"a{i}" for i in range(1, 6)]
CALLERS = 20


@pytest.mark.parametrize("strategy", ["longest-idle", "round-robin", "ring-all", "fewest-calls"])
async def test_twenty_callers_five_agents(strategy: str) -> None:
    answered: list[tuple[str, str]] = []  # (call_id, agent) in the order they were bridged

    async def record(call_id: str, kind: str, detail: str) -> None:
        if detail.startswith("answered"):
            answered.append((call_id, detail.split(": ")[1].split(" ")[0]))

    svc, reach = service(queue(strategy=strategy), agents={a: ("support",) for a in AGENTS},
                         events=record)
    await svc.refresh_agents()
    calls = [make_call(f"c{i:02}", caller=f"+1555010{i:02}") for i in range(CALLERS)]
    tasks = []
    for call, _leg in calls:  # one after the other: the queue order is the join order
        tasks.append(asyncio.create_task(svc.enqueue(call, "support")))
        await until(lambda c=call: c.info.call_id in svc._waiters)
    ids = [c.info.call_id for c, _ in calls]
    legs_of: dict[str, object] = {}

    def settled(served: int) -> bool:  # every free agent has its caller, rings are over
        busy = [a for a in AGENTS if svc.engine.agent_status(a) is AgentStatus.BUSY]
        return len(answered) == served and len(busy) == min(5, served - ended)

    ended = 0
    while ended < CALLERS:
        served = min(CALLERS, ended + 5)
        await until(lambda s=served: settled(s), timeout=20)
        (snap,) = status_json(svc.status())["queues"]  # type: ignore[misc]
        waiting = [w["call_id"] for w in snap["waiting"]]
        assert waiting == ids[served:], "callers waiting out of order or lost"
        assert [w["position"] for w in snap["waiting"]] == list(range(1, len(waiting) + 1))
        assert {w["state"] for w in snap["waiting"]} <= {"waiting"}
        on_call = {a["current_call"] for a in snap["agents"] if a["state"] == "busy"}
        assert on_call == set(ids[ended:served])
        assert [c for c, _ in answered] == ids[:served]  # answered in queue order
        # the agent of the earliest call still talking hangs up
        call_id, agent = answered[ended]
        person = reach.agent(agent)
        leg = next(lg for lg in person.legs if lg.call_id.startswith(f"{call_id}-{agent}-")
                   and lg.hung_up_reason is None)
        legs_of[call_id] = leg
        leg.caller_hangup()
        outcome = await asyncio.wait_for(tasks[ids.index(call_id)], 10)
        assert outcome == AgentAnswered(queue="support", wait_s=outcome.wait_s, agent=agent,
                                        ended_by="agent")
        ended += 1
    assert [c for c, _ in answered] == ids
    taken = {a: svc.engine.calls_taken(a) for a in AGENTS}
    assert sum(taken.values()) == CALLERS
    if strategy in ("round-robin", "fewest-calls", "longest-idle"):
        assert set(taken.values()) == {4}  # freed one at a time, in turn: an even share
    (snap,) = status_json(svc.status())["queues"]  # type: ignore[misc]
    assert snap["waiting"] == [] and {a["state"] for a in snap["agents"]} == {"available"}
    for call, _ in calls:
        assert call.ended
        await call.session.close()
    await svc.close()
