"""The ``voicemail`` and ``operator`` fallbacks (``server.fallback``) when the agent fails
mid-call: the caller hears an apology, then leaves a message that is stored for the owner
(with its transcript), or is put through to ``server.operator`` (else the menu file's
operator). The caller never hears silence; the page is told; the call ends ``agent-error``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from call_fakes import EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.call.agent import AgentInput, AgentOutput, Say
from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.call.notes import CallFailed, SessionNote
from callport.config import ServerSettings, Settings
from callport.flows.default import FAILED_REASON, PUTTING_THROUGH, SORRY
from callport.flows.ivr import IvrFlow, load_ivr
from callport.flows.voicemail import AFTER_TONE, SAVED
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.store.voicemail import MemoryVoicemailStore
from callport.types import CallInfo, User

ACME = Path(__file__).parents[2] / "examples" / "ivr" / "acme.toml"
LIMIT_S = 20.0


class FailingAgent:
    greeting = "Hello."

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        raise RuntimeError("the model server is down")
        yield Say("never")  # pragma: no cover

    def interrupted(self, heard: str) -> None:
        pass


class NotedLeg(MemoryLeg):
    def __init__(self) -> None:
        super().__init__(call_id="c1", sample_rate=16000, codec="pcm")
        self.notes: list[SessionNote] = []

    def notify(self, note: SessionNote) -> None:
        self.notes.append(note)


def runtime(tts: ToneTTS, fallback: str, *, operator: str = "", flow: IvrFlow | None = None,
            voicemail: MemoryVoicemailStore | None = None,
            texts: tuple[str, ...] = ("what are your hours",),
            agent: type[FailingAgent] = FailingAgent) -> Runtime:
    server = ServerSettings(db=":memory:", fallback=fallback, operator=operator)
    return Runtime(settings=Settings(server=server), calls=MemoryCallStore(),
                   users=MemoryUserStore(), tasks=MemoryTaskLists(), stt=ScriptedSTT(texts),
                   tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                   agent_factory=lambda info: agent(), flow=flow,
                   voicemail=voicemail)  # fmt: skip


async def until(check: object) -> None:
    async with asyncio.timeout(LIMIT_S):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def start(rt: Runtime, leg: NotedLeg) -> tuple[asyncio.Task[Call], list[Call]]:
    holder: list[Call] = []
    task = asyncio.create_task(rt.run_call(leg, CallInfo(
        call_id="c1", channel="memory", caller="+15550001111", user=User(name="owner")),
        on_call=holder.append))  # fmt: skip
    await until(lambda: holder and holder[0].listening.is_set())  # after the greeting
    return task, holder


async def test_voicemail_fallback_takes_a_message_for_the_owner() -> None:
    tts, leg, store = ToneTTS(), NotedLeg(), MemoryVoicemailStore()
    rt = runtime(tts, "voicemail", voicemail=store,
                 texts=("what are your hours", "please call me back tomorrow"))
    task, [call] = await start(rt, leg)
    await leg.speak(tone(0.4, 16000), 16000, trailing_silence_s=1.0)  # the agent fails
    await until(lambda: AFTER_TONE.split(".")[0] in " ".join(tts.spoken)
                and call.listening.is_set())
    await leg.speak(tone(0.6, 16000, 500.0), 16000, trailing_silence_s=1.0)  # the message
    await until(lambda: len(call.turns) >= 2)
    leg.press("#")
    await asyncio.wait_for(task, LIMIT_S)
    [message] = await store.list(for_user="owner")
    assert (message.caller, message.menu) == ("+15550001111", "fallback")
    assert message.transcript == "please call me back tomorrow"
    assert message.seconds > 0.5 and message.sample_rate == 16000
    spoken = " ".join(tts.spoken)
    assert SORRY.rstrip(".") in spoken and SAVED.split(",")[0] in spoken
    assert call.session.hangup_reason == FAILED_REASON  # talk exits 1, the record says so
    assert [n.message for n in leg.notes if isinstance(n, CallFailed)] == [
        "the agent failed; taking a message"]
    assert len(leg.output()) > 16000  # apology, prompt and tone: never silence


async def test_operator_fallback_puts_the_caller_through_to_server_operator() -> None:
    tts, leg = ToneTTS(), NotedLeg()
    rt = runtime(tts, "operator", operator="sip:desk@pbx.example.com")
    task, _ = await start(rt, leg)
    await leg.speak(tone(0.4, 16000), 16000, trailing_silence_s=1.0)
    call = await asyncio.wait_for(task, LIMIT_S)
    assert leg.transfers == ["sip:desk@pbx.example.com"]
    assert PUTTING_THROUGH.rstrip(".") in " ".join(tts.spoken)
    assert call.session.hangup_reason == "transferred"
    assert any(isinstance(n, CallFailed) and "transferring" in n.message for n in leg.notes)


async def test_operator_fallback_without_server_operator_uses_the_menus_operator() -> None:
    """The IVR's Task Manager option, whose agent fails: ``[ivr] operator`` takes the call."""
    tts, leg = ToneTTS(), NotedLeg()
    flow = IvrFlow(ivr=load_ivr(ACME), voicemail=MemoryVoicemailStore())
    flow.at = datetime.fromisoformat("2026-12-02T10:00")  # open
    rt = runtime(tts, "operator", flow=flow)
    holder: list[Call] = []
    task = asyncio.create_task(rt.run_call(leg, CallInfo(
        call_id="c1", channel="memory", caller="+15550001111", user=User(name="owner")),
        on_call=holder.append))  # fmt: skip
    await until(lambda: holder and holder[0].listening.is_set())
    leg.press("3")  # my tasks: the (failing) agent
    await until(lambda: flow.journals["c1"].outcome == "agent:taskmanager"
                and holder[0].listening.is_set())
    await leg.speak(tone(0.4, 16000), 16000, trailing_silence_s=1.0)
    await asyncio.wait_for(task, LIMIT_S)
    assert leg.transfers == ["sip:operator@example.com"]


def test_fallback_settings_are_checked() -> None:
    assert ServerSettings(fallback="voicemail").problems() == []
    assert ServerSettings(fallback="operator", operator="tel:+15551234567").problems() == []
    assert ServerSettings(fallback="operator", ivr="menu.toml").problems() == []
    [problem] = ServerSettings(fallback="operator").problems()
    assert "needs server.operator" in problem
    [problem] = ServerSettings(fallback="hold").problems()
    assert "use goodbye, voicemail, operator or transfer:<target>" in problem
    [problem] = ServerSettings(operator="desk").problems()
    assert "use a tel: or sip: target" in problem


class Greeter(FailingAgent):
    greeting = "Hi, this is the Task Manager."


async def test_the_user_hears_of_new_voicemail_when_they_call() -> None:
    from callport.store.voicemail import Voicemail

    store = MemoryVoicemailStore()
    for n, (who, heard) in enumerate([("owner", False), ("owner", True), ("owner", False),
                                      ("bob", False)]):
        added = await store.add(Voicemail(
            call_id=f"v{n}", caller="+15550001111", for_user=who, menu="main",
            at=datetime(2026, 12, 2, 10, n), transcript="hi", audio=b"", sample_rate=8000))
        if heard:
            await store.mark_heard(added.id)
    for user, first in (("owner", "You have 2 new voicemails; you can listen on your "
                                  "callport page"), ("alice", "Hi, this is the Task Manager")):
        tts = ToneTTS()
        rt = runtime(tts, "goodbye", voicemail=store, agent=Greeter)
        leg = NotedLeg()
        holder: list[Call] = []
        task = asyncio.create_task(rt.run_call(leg, CallInfo(
            call_id="c1", channel="memory", user=User(name=user)), on_call=holder.append))
        await until(lambda h=holder: h and h[0].listening.is_set())  # type: ignore[misc]
        assert tts.spoken[0] == first, tts.spoken
        assert "Hi, this is the Task Manager" in tts.spoken
        leg.caller_hangup()
        await asyncio.wait_for(task, LIMIT_S)
