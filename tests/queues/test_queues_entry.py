"""The ways into a queue: a Python flow (``await call.enqueue``), an IVR option
(``queue:support``) and an agent's ``Enqueue`` action."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from call_fakes import tone
from queue_support import RATE, make_call, queue, service, until

from callport.agents.base import (
    ActionRefused,
    AgentInput,
    AgentOutput,
    Enqueue,
    Say,
    UserSaid,
)
from callport.call.queueing import AgentAnswered, QueueUnavailable
from callport.flows.ivr import IvrFlow, loads_ivr
from callport.store.voicemail import MemoryVoicemailStore

MENU = """
[ivr]
start = "main"

[menus.main]
prompt = "Press 1 for support."

[[menus.main.options]]
name = "support"
key = "1"
action = "queue:support"
"""


async def test_a_flow_enqueues_and_the_call_without_a_service_is_told_so() -> None:
    svc, reach = service(queue(), agents={"alice": ("support",)})
    call, _leg = make_call("f1")
    assert isinstance(await call.enqueue("support"), QueueUnavailable)  # no service yet
    call.queues = svc

    async def flow() -> object:
        await call.say("One moment.")
        return await call.enqueue("support", priority=3)

    run = asyncio.create_task(flow())
    _person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 10)
    assert offer.call_id == "f1"
    agent_leg.caller_hangup()
    outcome = await asyncio.wait_for(run, 10)
    assert isinstance(outcome, AgentAnswered) and outcome.ended_by == "agent" and outcome.over
    await call.session.close()
    await svc.close()


async def test_an_ivr_option_puts_the_caller_in_the_queue() -> None:
    svc, reach = service(queue(), agents={"alice": ("support",)})
    reach.agent("alice").delay_s = 0.3
    call, leg = make_call("i1")
    flow = IvrFlow(ivr=loads_ivr(MENU), voicemail=MemoryVoicemailStore(), queues=svc)
    run = asyncio.create_task(flow(call))
    await until(lambda: call.listening.is_set())
    leg.press("1")
    _person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 10)
    assert offer.queue == "support" and flow.journals["i1"].outcome == "queue:support"
    leg.caller_hangup()
    await asyncio.wait_for(run, 10)
    assert agent_leg.hung_up_reason == "bridge-ended"
    await call.session.close()
    await svc.close()


class Handover:
    """Says it hands over, asks for the queue; told it did not work, apologises."""

    def __init__(self) -> None:
        self.refused: list[ActionRefused] = []

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        match event:
            case UserSaid():
                yield Say("Let me get you a person.")
                yield Enqueue("support")
            case ActionRefused():
                self.refused.append(event)
                yield Say("Nobody is free, I can keep helping you.")

    def interrupted(self, heard: str) -> None:
        pass


async def test_an_agent_enqueues_and_hears_back_when_nobody_takes_the_call() -> None:
    svc, reach = service(queue(max_wait_s=0.5, on_max_wait="leave"),
                         agents={"alice": ("support",)})
    reach.agent("alice").online = False
    call, leg = make_call("e1", heard=["a person please"])
    call.queues = svc
    agent = Handover()
    talk = asyncio.create_task(call.connect(agent))
    await until(lambda: call.listening.is_set())
    await leg.speak(tone(0.5, RATE), RATE, trailing_silence_s=0.6)
    await until(lambda: agent.refused, timeout=15)
    assert isinstance(agent.refused[0].action, Enqueue)
    await until(lambda: "Nobody is free, I can keep helping you" in call._tts.spoken)  # type: ignore[attr-defined]
    assert not call.ended  # back with the agent
    leg.caller_hangup()
    await asyncio.wait_for(talk, 10)
    await call.session.close()
    await svc.close()


async def test_an_agent_enqueue_that_is_answered_ends_the_conversation() -> None:
    svc, reach = service(queue(), agents={"alice": ("support",)})
    call, leg = make_call("e2", heard=["a person please"])
    call.queues = svc
    talk = asyncio.create_task(call.connect(Handover()))
    await until(lambda: call.listening.is_set())
    await leg.speak(tone(0.5, RATE), RATE, trailing_silence_s=0.6)
    _person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 15)
    assert offer.transcript[0] == ("caller", "a person please")
    assert "said: a person please" in offer.summary
    agent_leg.caller_hangup()
    await asyncio.wait_for(talk, 10)  # connect returns: the call is over
    assert call.ended
    await call.session.close()
    await svc.close()


async def test_the_runtime_gives_every_call_its_queues_and_records_the_answer() -> None:
    """A real Runtime runs the IVR (examples/ivr/acme.toml: 2 is support): runtime.queues
    is the call's queue service, and the call record ends up saying who answered."""
    import dataclasses
    from datetime import datetime
    from pathlib import Path

    from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

    from callport.config import QueuesSettings, Settings
    from callport.flows.ivr import load_ivr
    from callport.queues.reach import FakeReach
    from callport.server.runtime import Runtime
    from callport.store.calls import MemoryCallStore
    from callport.store.memory_users import MemoryUserStore
    from callport.types import CallInfo, User

    acme = Path(__file__).parents[2] / "examples" / "ivr" / "acme.toml"
    flow = IvrFlow(ivr=load_ivr(acme), voicemail=MemoryVoicemailStore())
    flow.at = datetime.fromisoformat("2026-12-02T10:00")  # open hours
    settings = dataclasses.replace(Settings(), queues=QueuesSettings(named=(queue(),)))
    users = MemoryUserStore()
    await users.add("alice", roles=["agent"], queues=["support"])
    calls = MemoryCallStore()
    tts = ToneTTS()
    runtime = Runtime(settings=settings, calls=calls, users=users, stt=ScriptedSTT([]),
                      tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                      agent_factory=lambda info: EchoTextAgent(), flow=flow)
    reach = FakeReach(sample_rate=8000)
    runtime.queues.reach = reach
    from callport.call.memory import MemoryLeg

    leg = MemoryLeg(call_id="rt1", sample_rate=8000)  # run_call records it (a memory call)
    info = CallInfo(call_id="rt1", channel="memory", caller="+15550001111",
                    user=User(name="owner"))
    running = asyncio.create_task(runtime.run_call(leg, info))
    await until(lambda: any("Thanks for calling Acme" in s for s in tts.spoken), timeout=15)
    await asyncio.sleep(0.2)
    leg.press("2")
    _person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 15)
    assert offer.call_id == "rt1" and offer.queue == "support"
    agent_leg.caller_hangup()
    await asyncio.wait_for(running, 15)
    record = await calls.get("rt1")
    assert record is not None and record.disposition.startswith("queue:support agent:alice")
    assert (record.status, record.channel, record.caller) == ("ended", "memory", "+15550001111")
    assert record.hangup_cause and record.ended_at is not None
    assert flow.journals["rt1"].outcome == "queue:support"
    await runtime.queues.close()
