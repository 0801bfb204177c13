"""An agent on a queue call holds, resumes and transfers the caller (what the /agent page's
buttons ask ``QueueService.hold`` / ``transfer`` for)."""

from __future__ import annotations

import asyncio

import numpy as np
from queue_support import RATE, chirp, corr, longest_silence, make_call, queue, service, until

from callport.call.queueing import AgentAnswered
from callport.queues.model import AgentStatus


async def test_hold_plays_music_to_the_caller_and_resume_bridges_again() -> None:
    svc, reach = service(queue(), agents={"alice": ("support",)})
    call, leg = make_call("h1")
    waiting = asyncio.create_task(svc.enqueue(call, "support"))
    _person, agent_leg, _offer = await asyncio.wait_for(reach.answered.get(), 10)
    await until(lambda: "h1" in svc._connected)
    assert await svc.hold("bob", "h1", True) == "not your call"
    assert await svc.hold("alice", "h1", True) == ""
    await until(lambda: call.session.holding)
    music = svc._waiters["h1"].music
    assert music is not None
    before, frames = music.frames_read, len(leg.sent)
    await agent_leg.speak(chirp(0.6, 500, 2500), RATE)  # alice talks: the caller must not hear
    await asyncio.sleep(0.4)
    assert music.frames_read > before + 10 and longest_silence(leg.sent[frames:]) <= 2
    assert corr(chirp(0.6, 500, 2500), np.concatenate(leg.sent[frames:])) < 0.5
    assert await svc.hold("alice", "h1", False) == ""
    await until(lambda: not call.session.holding)
    sent = len(leg.sent)
    voice = chirp(1.0, 3000, 300)
    await agent_leg.speak(voice, RATE)
    await until(lambda: len(leg.sent) - sent >= 45)
    assert corr(voice, np.concatenate(leg.sent[sent:])) > 0.9  # bridged again
    leg.caller_hangup()
    outcome = await asyncio.wait_for(waiting, 10)
    assert isinstance(outcome, AgentAnswered) and outcome.ended_by == "caller"
    await call.session.close()
    await svc.close()


async def test_a_transfer_that_fails_brings_the_caller_back_and_a_queue_transfer_works() -> None:
    svc, reach = service(queue(), queue("billing"),
                         agents={"alice": ("support",), "bob": ("billing",)})
    call, leg = make_call("t1")
    waiting = asyncio.create_task(svc.enqueue(call, "support"))
    person, agent_leg, _ = await asyncio.wait_for(reach.answered.get(), 10)
    assert person.name == "alice"
    await until(lambda: "t1" in svc._connected)
    why = await svc.transfer("alice", "t1", "tel:+15550999")  # no transfer service here
    assert why and "no transfer service" in why
    sent = len(leg.sent)
    voice = chirp(0.8, 400, 3000)
    await agent_leg.speak(voice, RATE)
    await until(lambda: len(leg.sent) - sent >= 35)
    assert corr(voice, np.concatenate(leg.sent[sent:])) > 0.9  # still with alice
    assert await svc.transfer("alice", "t1", "queue:nowhere") == "no queue 'nowhere'"
    assert await svc.transfer("alice", "t1", "queue:billing") == ""
    person2, bob_leg, offer = await asyncio.wait_for(reach.answered.get(), 10)
    assert person2.name == "bob" and offer.queue == "billing"
    assert agent_leg.hung_up_reason == "transferred"
    await until(lambda: svc.engine.agent_status("alice") is AgentStatus.AVAILABLE)
    bob_leg.caller_hangup()
    outcome = await asyncio.wait_for(waiting, 10)
    assert isinstance(outcome, AgentAnswered) and outcome.agent == "bob"
    assert outcome.queue == "billing" and outcome.ended_by == "agent"
    await call.session.close()
    await svc.close()
