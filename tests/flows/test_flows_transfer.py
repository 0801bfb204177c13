"""Transfers (callport.flows.transfer) on memory legs: every outcome, the agent told, the warm
hand-over's order (summary before bridge), hold music meanwhile, declined back to the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from call_fakes import EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.call.agent import (
    ActionRefused,
    AgentInput,
    AgentOutput,
    Say,
    TransferCall,
    UserSaid,
)
from callport.call.call import Call
from callport.call.controls import Capability, ControlResult, Refusal, Refused
from callport.call.dial import DialCause, DialFailed
from callport.call.leg import Leg
from callport.call.memory import MemoryLeg
from callport.call.records import TurnRecord
from callport.call.session import CallSession
from callport.call.taps import Direction, FrameCollector
from callport.call.transfers import TransferOutcome, TransferResult
from callport.flows.transfer import Transfers, answer_of, join_attended, summary_of
from callport.metrics import Metrics
from callport.server.lifecycle import record_end, record_start
from callport.store.calls import MemoryCallStore
from callport.types import CallInfo, User
from callport.vad.turn import TurnDetector

LIMIT = 10.0


def make_call(leg: Leg, texts: list[str] | None = None, *, info: CallInfo | None = None,
              tts: ToneTTS | None = None) -> Call:
    session = CallSession(leg=leg, vad=EnergyVad(),  # type: ignore[arg-type]
                          turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300,
                                            barge_in_ms=100),
                          metrics=Metrics(), clock=time.monotonic)
    return Call(session=session, info=info or CallInfo(call_id="caller", channel="test"),
                stt=ScriptedSTT(texts or []), tts=tts or ToneTTS(),
                agent_factory=lambda info: Echo(), clock=time.monotonic)


class Echo:
    def __init__(self) -> None:
        self.inputs: list[AgentInput] = []

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        self.inputs.append(event)
        if False:
            yield Say("")

    def interrupted(self, heard: str) -> None:
        pass


class FakeDialer:
    """Answers with a prepared human leg, or fails with a prepared cause."""

    name = "fake"

    def __init__(self, answer: MemoryLeg | DialFailed, *, ring_s: float = 0.0) -> None:
        self.answer = answer
        self.ring_s = ring_s
        self.dialled: list[str] = []
        self.cancelled = False

    async def dial_leg(self, target: str, *, timeout_s: float) -> Leg | DialFailed:
        self.dialled.append(target)
        try:
            await asyncio.sleep(self.ring_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return self.answer


class Human:
    """The person's side: their leg, and the Call the transfer service made on it."""

    def __init__(self, texts: list[str] | None = None, call_id: str = "human") -> None:
        self.leg = MemoryLeg(call_id=call_id, sample_rate=8000)
        self.tts = ToneTTS()
        self.texts = texts or []
        self.calls: list[Call] = []
        self.out = FrameCollector()

    def new_call(self, leg: Leg, info: CallInfo) -> Call:
        assert leg is self.leg
        call = make_call(leg, self.texts, info=info, tts=self.tts)
        call.session.add_tap(self.out, Direction.OUT)
        self.calls.append(call)
        return call

    async def heard_prompt(self) -> None:
        await until(lambda: any("Press 2" in s for s in self.tts.spoken)
                    and bool(self.calls) and self.calls[0].listening.is_set())


class RefusingLeg(MemoryLeg):
    """A leg whose transfer the peer turns down with ``code`` (or that has none at all)."""

    def __init__(self, *, code: int = 0, capable: bool = True, call_id: str = "caller") -> None:
        super().__init__(call_id=call_id, sample_rate=8000)
        self.code = code
        self.capable = capable

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = super().capabilities
        return caps if self.capable else caps - {Capability.TRANSFER}

    async def transfer(self, target: str) -> ControlResult:
        self.transfers.append(target)
        return Refused(Capability.TRANSFER, Refusal.FAILED, f"SIP {self.code}", code=self.code)


async def until(predicate: object, timeout: float = LIMIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def caller_call(leg: MemoryLeg | None = None, texts: list[str] | None = None) -> Call:
    leg = leg or MemoryLeg(call_id="caller", sample_rate=8000)
    info = CallInfo(call_id="caller", channel="sip", caller="+15551230000", callee="+15559990000",
                    user=User(name="bob", display_name="Bob Jones"))
    call = make_call(leg, texts, info=info)
    call.turns.append(TurnRecord(index=1, transcript="hello"))
    call.turns.append(TurnRecord(index=2, transcript="I need help with my invoice"))
    return call


def loud(frames: list[np.ndarray]) -> int:
    return sum(1 for f in frames if np.sqrt(np.mean(f.astype(np.float64) ** 2)) > 100)


# ---- pure parts ----------------------------------------------------------------------------


def test_answer_of_reads_yes_and_no() -> None:
    assert answer_of("Yes, put them through") is True
    assert answer_of("okay") is True
    assert answer_of("no, not now") is False
    assert answer_of("I can't right now") is False
    assert answer_of("what was that") is None
    assert answer_of("yes no") is None


def test_summary_names_the_caller_and_their_words() -> None:
    call = caller_call()
    assert summary_of(call) == ("You have a call from Bob Jones, at +15551230000. They said: "
                                "hello I need help with my invoice.")
    call.info = CallInfo(call_id="x", channel="sip", caller="+15550001111")
    call.turns.clear()
    assert summary_of(call) == "You have a call from +15550001111."
    call.turns.append(TurnRecord(index=1, transcript=" ".join(["word"] * 60)))
    assert summary_of(call).endswith("They said: ... " + " ".join(["word"] * 40) + ".")


def test_results_keep_the_cause_and_say_so() -> None:
    busy = TransferResult.of_failure("sip:a@b", DialFailed(carrier="sip", cause=DialCause.BUSY,
                                                           sip_status=486), how="bridge")
    assert busy.outcome is TransferOutcome.BUSY and not busy.ok
    assert "busy" in busy.describe() and "SIP 486" in busy.describe()
    assert busy.refused().code == 486 and busy.refused().refusal is Refusal.FAILED
    assert busy.apology.endswith("I'm still here.")


# ---- warm ----------------------------------------------------------------------------------


async def test_warm_accepted_summary_first_then_bridged_both_ways() -> None:
    human = Human()
    caller = caller_call()
    heard = FrameCollector()
    caller.session.add_tap(heard, Direction.OUT)
    events: list[tuple[str, str, str]] = []

    async def record(call_id: str, kind: str, detail: str) -> None:
        events.append((call_id, kind, detail))

    caller.transfers = Transfers(new_call=human.new_call, dialer=FakeDialer(human.leg, ring_s=0.4),
                                 events=record)
    caller.session.start()
    task = asyncio.create_task(caller.transfer_warm("sip:alice@127.0.0.1"))
    await human.heard_prompt()
    # the caller has heard hold music (not silence) all along, and nothing of the human yet
    music = [f.pcm for f in heard.frames if f.source == "hold-music"]
    assert loud(music) >= 10 and loud(music) == len(music)
    assert not any(f.source.startswith("bridge:") for f in heard.frames)
    summary = human.tts.spoken[0]
    assert "Bob Jones" in summary and "+15551230000" in summary
    assert "invoice" in human.tts.spoken[1]
    human.leg.press("1")
    await until(lambda: not caller.session.holding)  # the bridge took over from the music
    caller_leg = caller.session.leg
    assert isinstance(caller_leg, MemoryLeg)
    await caller_leg.speak(tone(0.5, 8000, 700.0), 8000)
    await human.leg.speak(tone(0.5, 8000, 1100.0), 8000)
    await until(lambda: loud([f.pcm for f in human.out.frames if f.source.startswith("bridge:")])
                >= 20 and loud([f.pcm for f in heard.frames if f.source.startswith("bridge:")])
                >= 20)
    # at the human's leg: every frame of the summary went out before the first bridged frame
    labels = [f.source for f in human.out.frames]
    first_bridge = next(i for i, s in enumerate(labels) if s.startswith("bridge:"))
    spoken = [i for i, s in enumerate(labels) if s == "speech"]
    words = sum(len(s.split()) for s in human.tts.spoken)  # ToneTTS: 0.1 s a word
    assert len(spoken) >= words * 5 and max(spoken) < first_bridge
    human.leg.caller_hangup()  # the person hangs up: the bridge ends, so does the caller's call
    result = await asyncio.wait_for(task, LIMIT)
    assert result.outcome is TransferOutcome.ANSWERED and result.how == "bridge" and result.warm
    assert [e[1:] for e in events][:2] == [("transfer", "to sip:alice@127.0.0.1 (warm)"),
                                          ("transfer", "bridged to sip:alice@127.0.0.1")]
    assert events[2][2].startswith("transfer to sip:alice@127.0.0.1: answered")
    assert {e[0] for e in events} == {"caller"}
    assert caller_leg.hung_up_reason == "bridge-ended"
    await caller.session.close()


async def test_warm_accepted_by_saying_yes_after_an_unclear_answer() -> None:
    human = Human(["hmm what", "yes put them through"])
    caller = caller_call()
    caller.transfers = Transfers(new_call=human.new_call, dialer=FakeDialer(human.leg))
    caller.session.start()
    task = asyncio.create_task(caller.transfer_warm("sip:alice@127.0.0.1"))
    await human.heard_prompt()
    await human.leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.5)  # "hmm what"
    await until(lambda: "Press 1 to take the call, or 2 to decline" in human.tts.spoken
                and human.calls[0].listening.is_set())
    await human.leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.5)  # "yes ..."
    await until(lambda: not caller.session.holding)  # bridged
    human.leg.caller_hangup()
    result = await asyncio.wait_for(task, LIMIT)
    assert result.outcome is TransferOutcome.ANSWERED and result.warm
    await caller.session.close()


@pytest.mark.parametrize(("answer", "texts", "outcome"), [
    ("2", [], TransferOutcome.DECLINED),
    ("speech", ["no sorry not now"], TransferOutcome.DECLINED),
    ("hangup", [], TransferOutcome.DECLINED),
    ("silence", [], TransferOutcome.NO_ANSWER),
])
async def test_warm_not_taken_returns_the_caller(answer: str, texts: list[str],
                                                 outcome: TransferOutcome) -> None:
    human = Human(texts)
    caller = caller_call()
    caller.transfers = Transfers(new_call=human.new_call, dialer=FakeDialer(human.leg),
                                 answer_timeout_s=0.3)
    caller.session.start()
    task = asyncio.create_task(caller.transfer_warm("sip:alice@127.0.0.1"))
    await human.heard_prompt()
    if answer == "2":
        human.leg.press("2")
    elif answer == "speech":
        await human.leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.5)
    elif answer == "hangup":
        human.leg.caller_hangup()
    result = await asyncio.wait_for(task, LIMIT)
    assert result.outcome is outcome and result.warm and not result.ok
    if answer != "hangup":  # we end the person's call
        assert human.leg.hung_up_reason == "transfer-declined"
    assert not caller.ended and not caller.session.holding  # back with us, music off
    if answer == "2":
        assert "Okay, I'll tell them" in human.tts.spoken
    await caller.session.close()


@pytest.mark.parametrize(("status", "cause", "outcome"), [
    (486, DialCause.BUSY, TransferOutcome.BUSY),
    (480, DialCause.NO_ANSWER, TransferOutcome.NO_ANSWER),
    (503, DialCause.CARRIER_ERROR, TransferOutcome.FAILED),
])
async def test_warm_dial_failures_keep_the_providers_cause(
        status: int, cause: DialCause, outcome: TransferOutcome) -> None:
    human = Human()
    caller = caller_call()
    failed = DialFailed(carrier="sip", cause=cause, sip_status=status, detail="from the trunk")
    caller.session.start()
    calls = MemoryCallStore()
    assert await record_start(calls, caller.info)  # the caller's record, as run_call keeps it
    caller.transfers = Transfers(new_call=human.new_call, dialer=FakeDialer(failed),
                                 events=calls.add_event)
    result = await asyncio.wait_for(caller.transfer_warm("sip:alice@127.0.0.1"), LIMIT)
    assert result.outcome is outcome and result.cause is cause and result.sip_status == status
    logged = [(e.kind, e.detail) for e in await calls.events("caller")]
    assert logged == [("transfer", "to sip:alice@127.0.0.1 (warm)"),
                      ("transfer", result.describe())] and f"SIP {status}" in logged[1][1]
    assert result.detail == "from the trunk" and not human.calls
    assert not caller.session.holding and not caller.ended
    await caller.session.close()
    await record_end(calls, "caller", "flow-ended")  # the call goes on the record as over
    ended = await calls.get("caller")
    assert ended is not None and ended.status == "ended"


async def test_the_caller_hanging_up_while_it_rings_cancels_the_dial() -> None:
    human = Human()
    caller = caller_call()
    dialer = FakeDialer(human.leg, ring_s=30.0)
    caller.transfers = Transfers(new_call=human.new_call, dialer=dialer)
    caller.session.start()
    task = asyncio.create_task(caller.transfer_warm("sip:alice@127.0.0.1"))
    await until(lambda: dialer.dialled)
    leg = caller.session.leg
    assert isinstance(leg, MemoryLeg)
    leg.caller_hangup()
    result = await asyncio.wait_for(task, LIMIT)
    assert result.outcome is TransferOutcome.FAILED and result.cause is DialCause.CANCELED
    assert dialer.cancelled
    await caller.session.close()


async def test_no_transfer_service_is_a_typed_failure() -> None:
    caller = caller_call()
    result = await caller.transfer_warm("sip:alice@127.0.0.1")
    assert result.outcome is TransferOutcome.FAILED
    assert result.cause is DialCause.NOT_CONFIGURED


# ---- blind ---------------------------------------------------------------------------------


async def test_blind_uses_the_legs_transfer_when_it_has_one() -> None:
    human = Human()
    caller = caller_call()
    dialer = FakeDialer(human.leg)
    caller.transfers = Transfers(new_call=human.new_call, dialer=dialer)
    caller.session.start()
    result = await asyncio.wait_for(caller.transfer_blind("sip:alice@127.0.0.1"), LIMIT)
    assert result.outcome is TransferOutcome.ANSWERED and result.how == "refer"
    leg = caller.session.leg
    assert isinstance(leg, MemoryLeg) and leg.transfers == ["sip:alice@127.0.0.1"]
    assert dialer.dialled == []  # the peer did it: callport dialled nobody
    await caller.session.close()


async def test_blind_target_busy_in_the_notify_is_busy_and_not_dialled_again() -> None:
    human = Human()
    caller = caller_call(RefusingLeg(code=486))
    dialer = FakeDialer(human.leg)
    caller.transfers = Transfers(new_call=human.new_call, dialer=dialer)
    caller.session.start()
    result = await asyncio.wait_for(caller.transfer_blind("sip:alice@127.0.0.1"), LIMIT)
    assert result.outcome is TransferOutcome.BUSY and result.sip_status == 486
    assert dialer.dialled == [] and not caller.ended
    await caller.session.close()


@pytest.mark.parametrize("leg", [RefusingLeg(code=405), RefusingLeg(capable=False)],
                         ids=["refer-refused", "no-transfer"])
async def test_blind_falls_back_to_dialling_and_bridging(leg: RefusingLeg) -> None:
    human = Human()
    caller = caller_call(leg)
    dialer = FakeDialer(human.leg, ring_s=0.3)
    caller.transfers = Transfers(new_call=human.new_call, dialer=dialer)
    heard = FrameCollector()
    caller.session.add_tap(heard, Direction.OUT)
    caller.session.start()
    task = asyncio.create_task(caller.transfer_blind("sip:alice@127.0.0.1"))
    await until(lambda: bool(human.calls) and not caller.session.holding)  # bridged
    assert not human.tts.spoken  # blind: no summary, no question
    assert loud([f.pcm for f in heard.frames if f.source == "hold-music"]) >= 5
    await leg.speak(tone(0.4, 8000, 700.0), 8000)
    await until(lambda: loud([f.pcm for f in human.out.frames
                              if f.source.startswith("bridge:")]) >= 15)
    leg.caller_hangup()
    result = await asyncio.wait_for(task, LIMIT)
    assert result.outcome is TransferOutcome.ANSWERED and result.how == "bridge"
    assert human.leg.hung_up_reason == "bridge-ended"
    await caller.session.close()


async def test_blind_without_a_dialer_reports_the_refusal() -> None:
    caller = caller_call(RefusingLeg(capable=False))
    caller.transfers = Transfers(new_call=lambda leg, info: caller)
    result = await caller.transfer_blind("tel:+15550100")
    assert result.outcome is TransferOutcome.FAILED and result.cause is DialCause.NOT_CONFIGURED


# ---- the agent's TransferCall --------------------------------------------------------------


class TransferringAgent:
    """Asks for a warm transfer on the first turn; then says what it was told."""

    def __init__(self) -> None:
        self.inputs: list[AgentInput] = []

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        self.inputs.append(event)
        match event:
            case UserSaid():
                yield Say("Let me get someone.")
                yield TransferCall("sip:alice@127.0.0.1", warm=True)
            case ActionRefused(transfer=TransferResult(outcome=outcome)):
                yield Say(f"Noted {outcome.value}.")
            case _:
                pass

    def interrupted(self, heard: str) -> None:
        pass


async def test_agent_warm_transfer_declined_apologises_and_tells_the_agent() -> None:
    human = Human()
    leg = MemoryLeg(call_id="caller", sample_rate=8000)
    caller = caller_call(leg, ["a person please"])
    tts = caller._tts
    assert isinstance(tts, ToneTTS)
    caller.transfers = Transfers(new_call=human.new_call, dialer=FakeDialer(human.leg))
    caller.session.start()
    agent = TransferringAgent()
    talk = asyncio.create_task(caller.connect(agent))
    await until(caller.listening.is_set)
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.5)
    await human.heard_prompt()
    human.leg.press("2")
    await until(lambda: len(agent.inputs) == 2)
    refused = agent.inputs[1]
    assert isinstance(refused, ActionRefused) and refused.transfer is not None
    assert refused.transfer.outcome is TransferOutcome.DECLINED
    assert refused.refused.control is Capability.TRANSFER
    await until(lambda: "Noted declined" in tts.spoken)
    assert tts.spoken == ["Let me get someone", "They couldn't take the call right now",
                          "I'm still here", "Noted declined"]
    assert not caller.ended  # still with the agent
    leg.caller_hangup()
    await asyncio.wait_for(talk, LIMIT)
    await caller.session.close()


# ---- attended transfer from a phone (REFER with Replaces) -----------------------------------


async def test_join_attended_bridges_the_two_parties_the_phone_had() -> None:
    """X is bridged to the phone's first leg, Y to its second; the phone transfers attended:
    X and Y talk to each other, the phone's legs go, and nobody else is hung up."""
    calls, tasks, phones = [], [], []
    for name in ("x", "y"):
        phone = Human(call_id=f"phone-{name}")
        leg = RefusingLeg(capable=False, call_id=name)
        call = caller_call(leg)
        call.transfers = Transfers(new_call=phone.new_call, dialer=FakeDialer(phone.leg))
        call.session.start()
        tasks.append(asyncio.create_task(call.transfer_blind(f"sip:{name}@phone")))
        calls.append(call)
        phones.append(phone)
    await until(lambda: all(p.calls and not c.session.holding
                            for p, c in zip(phones, calls, strict=True)))
    await until(lambda: join_attended("phone-x", "phone-y"))
    for phone in phones:  # the channel ends both of the phone's dialogs
        phone.leg.caller_hangup()
    x_leg, y_leg = (c.session.leg for c in calls)
    assert isinstance(x_leg, MemoryLeg) and isinstance(y_leg, MemoryLeg)
    x_out, y_out = FrameCollector(), FrameCollector()
    calls[0].session.add_tap(x_out, Direction.OUT)
    calls[1].session.add_tap(y_out, Direction.OUT)
    await asyncio.sleep(0.2)
    assert not calls[0].ended and not calls[1].ended  # the phone leaving hung up nobody
    await x_leg.speak(tone(0.5, 8000, 700.0), 8000)
    await y_leg.speak(tone(0.5, 8000, 1100.0), 8000)
    x_to_y = "bridge:x->y"
    await until(lambda: loud([f.pcm for f in y_out.frames if f.source == x_to_y]) >= 20
                and loud([f.pcm for f in x_out.frames if f.source == "bridge:y->x"]) >= 20)
    assert not any(t.done() for t in tasks)
    x_leg.caller_hangup()  # X leaves: Y is hung up by the bridge, both transfers are over
    results = await asyncio.wait_for(asyncio.gather(*tasks), LIMIT)
    assert [r.outcome for r in results] == [TransferOutcome.ANSWERED] * 2
    assert y_leg.hung_up_reason == "bridge-ended"
    for call in calls:
        await call.session.close()


async def test_join_attended_refuses_legs_in_no_bridge() -> None:
    assert join_attended("nobody", "either") is False
