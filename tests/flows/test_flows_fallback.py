"""An agent that fails mid-call: the caller hears an apology and ``server.fallback``, the page
gets an ``error`` note, the call ends with reason ``agent-error`` (``talk`` exits 1 on it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from call_fakes import EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.call.agent import AgentInput, AgentOutput, Say
from callport.call.memory import MemoryLeg
from callport.call.notes import CallFailed, SessionNote
from callport.config import ServerSettings, Settings
from callport.flows.default import FAILED_REASON, GOODBYE, PUTTING_THROUGH, SORRY
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.talk import run_talk
from callport.types import CallInfo, User

UTTERANCE = (tone(0.4, 16000), 16000)


class FailingAgent:
    """Like the README's first draft: the second statement raises."""

    greeting = "Hello."

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        raise NameError("name 'my_llm' is not defined")
        yield Say("never")  # pragma: no cover

    def interrupted(self, heard: str) -> None:
        pass


def make_runtime(tts: ToneTTS, fallback: str = "goodbye") -> Runtime:
    return Runtime(settings=Settings(server=ServerSettings(db=":memory:", fallback=fallback)),
                   calls=MemoryCallStore(), users=MemoryUserStore(), tasks=MemoryTaskLists(),
                   stt=ScriptedSTT(["what are your hours"]), tts=tts, vad=EnergyVad(),
                   agent_factory=lambda info: FailingAgent())  # type: ignore[arg-type]  # fmt: skip


async def test_a_failing_agent_apologises_says_goodbye_and_ends_the_call() -> None:
    tts = ToneTTS()
    result = await run_talk(make_runtime(tts), [UTTERANCE])
    assert result.hangup_reason == FAILED_REASON
    spoken = " ".join(tts.spoken)
    assert SORRY.rstrip(".") in spoken and GOODBYE.split(".")[0] in spoken
    assert len(result.turns[0].reply_pcm) > 0  # the apology was heard, not silence


class NotedLeg(MemoryLeg):
    """A memory leg that, like the browser's, is shown session notes."""

    def __init__(self) -> None:
        super().__init__(call_id="c1", sample_rate=16000, codec="pcm")
        self.notes: list[SessionNote] = []

    def notify(self, note: SessionNote) -> None:
        self.notes.append(note)


async def test_transfer_fallback_puts_the_caller_through_and_the_page_hears_of_it() -> None:
    import asyncio

    tts = ToneTTS()
    rt = make_runtime(tts, fallback="transfer:tel:+15551234567")
    leg = NotedLeg()
    user = User(name="owner")
    task = asyncio.create_task(rt.run_call(leg, CallInfo(call_id="c1", channel="memory",
                                                         user=user)))
    for _ in range(2000):
        if leg.pending_events == 0 and tts.spoken:
            break
        await asyncio.sleep(0.005)
    await leg.speak(*UTTERANCE, trailing_silence_s=1.0)
    call = await asyncio.wait_for(task, 20)
    assert leg.transfers == ["tel:+15551234567"]
    assert any(isinstance(n, CallFailed) for n in leg.notes)
    assert PUTTING_THROUGH.split(" someone")[0] in " ".join(tts.spoken)
    assert call.session.hangup_reason == "transferred"


def test_the_page_gets_the_failure_as_an_error_message() -> None:
    import json

    from callport.channels.browser.leg import note_message

    text = note_message(CallFailed(message="the agent failed; the call ends"))
    assert text is not None
    assert json.loads(text) == {"type": "error", "kind": "call",
                                "message": "the agent failed; the call ends"}
