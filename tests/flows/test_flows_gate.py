"""The identification gate on live calls: ``Runtime.run_call`` over a MemoryLeg with the
call-core fakes (energy VAD, scripted STT, tone TTS). PIN timeouts are short and bounded;
nothing asserts how long anything took."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import IdentitySettings, Settings
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.types import CallInfo, User

ALICE_PHONE, BOB_PHONE, STRANGER = "+15550001111", "+15550002222", "+15559998888"
TIMEOUT = 20.0  # every wait below is bounded by this


@dataclass
class Harness:
    runtime: Runtime
    stt: ScriptedSTT
    tts: ToneTTS
    users: MemoryUserStore
    reached: list[CallInfo] = field(default_factory=list)  # what the flow saw
    agents: list[CallInfo] = field(default_factory=list)  # what the agent factory saw
    agent: EchoTextAgent = field(default_factory=EchoTextAgent)


async def harness(transcripts: Sequence[str] = (), **identity: object) -> Harness:
    users = MemoryUserStore()
    await users.add("alice", display_name="Alice", phones=[ALICE_PHONE], pin="1234")
    await users.add("bob", phones=[BOB_PHONE])
    settings = Settings(identity=IdentitySettings(**{"pin_timeout_s": 0.3, **identity}))  # type: ignore[arg-type]
    stt, tts = ScriptedSTT(transcripts), ToneTTS()
    h = Harness(runtime=None, stt=stt, tts=tts, users=users)  # type: ignore[arg-type]

    def factory(info: CallInfo) -> EchoTextAgent:
        h.agents.append(info)
        return h.agent

    async def flow(call: Call) -> None:
        h.reached.append(call.info)
        agent = call.new_agent()
        await call.say("Hello.")
        await call.connect(agent)

    h.runtime = Runtime(settings=settings, calls=MemoryCallStore(), users=users,
                        tasks=MemoryTaskLists(), stt=stt, tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                        agent_factory=factory, flow=flow)  # fmt: skip
    return h


def start(h: Harness, info: CallInfo) -> tuple[MemoryLeg, list[Call], asyncio.Task[Call]]:
    leg = MemoryLeg(call_id=info.call_id, sample_rate=8000)
    holder: list[Call] = []
    task = asyncio.create_task(h.runtime.run_call(leg, info, on_call=holder.append))
    return leg, holder, task


async def until(predicate: object) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def listening(holder: list[Call]) -> Call:
    await until(lambda: bool(holder) and holder[0].listening.is_set())
    return holder[0]


async def say(leg: MemoryLeg) -> None:
    """One caller utterance (the scripted STT decides what it said)."""
    await leg.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.5)


def inbound(caller: str, call_id: str = "CA00000000000000000000000000c0ffee") -> CallInfo:
    return CallInfo(call_id=call_id, channel="twilio", caller=caller, callee="+15550000000")


async def test_known_caller_without_pin_is_identified_by_caller_id() -> None:
    h = await harness()
    leg, holder, task = start(h, inbound(BOB_PHONE))
    call = await listening(holder)
    assert call.info.user is not None and call.info.user.name == "bob"
    assert [i.user.name for i in h.reached if i.user] == ["bob"]
    assert [i.user.name for i in h.agents if i.user] == ["bob"]  # the factory saw the user
    assert h.tts.spoken == ["Hello"]  # no PIN prompt
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


async def test_keypad_pin_identifies_and_never_reaches_agent_or_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    h = await harness()
    leg, holder, task = start(h, inbound("+1 555 000 1111"))
    call = await listening(holder)
    assert h.reached == [] and "PIN" in h.tts.spoken[0]
    for d in "1234#":
        leg.press(d)
    await until(lambda: bool(h.reached) and call.listening.is_set())
    assert call.info.user is not None and call.info.user.name == "alice"
    assert h.agents[0].user == call.info.user
    assert h.tts.spoken[-1] == "Hello"
    leg.press("7")  # after the gate, digits go to the agent
    await until(lambda: len(call.turns) == 1)
    assert [i for i in h.agent.inputs if "1234" in repr(i)] == []
    assert call.turns[0].digits == "7" and call.secret_turns == 5
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    assert "PIN entered for alice (accepted)" in caplog.text
    assert "1234" not in caplog.text


async def test_spoken_pin_identifies_and_is_not_kept(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = await harness(["One, two, three, four.", "hello there"])
    leg, holder, task = start(h, inbound(ALICE_PHONE))
    call = await listening(holder)
    await say(leg)
    await until(lambda: bool(h.reached) and call.listening.is_set())
    assert call.info.user is not None and call.info.user.name == "alice"
    assert call.turns == []  # the PIN turn is not a conversation turn
    await say(leg)
    await until(lambda: len(call.turns) == 1)
    assert call.turns[0].transcript == "hello there"
    assert [type(i).__name__ for i in h.agent.inputs] == ["UserSaid"]
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    assert "one, two" not in caplog.text.lower() and "1234" not in caplog.text


async def test_three_wrong_pins_end_the_call_politely() -> None:
    h = await harness(["nine nine nine nine", "5 5 5 5"])
    leg, holder, task = start(h, inbound(ALICE_PHONE))
    await listening(holder)
    await say(leg)  # wrong, spoken
    retries = h.tts.spoken.count
    await until(lambda: retries("Please try again") == 1 and holder[0].listening.is_set())
    await say(leg)  # wrong again
    await until(lambda: retries("Please try again") == 2 and holder[0].listening.is_set())
    for d in "0000#":  # wrong on the keypad
        leg.press(d)
    call = await asyncio.wait_for(task, TIMEOUT)
    assert h.tts.spoken[-2:] == ["Sorry, that PIN didn't match", "Goodbye"]
    assert leg.hung_up_reason == "pin-failed"
    assert h.reached == [] and h.agents == [] and call.turns == []


async def test_silence_counts_as_wrong_attempts() -> None:
    h = await harness(pin_attempts=2, pin_timeout_s=0.2)
    leg, _, task = start(h, inbound(ALICE_PHONE))
    call = await asyncio.wait_for(task, TIMEOUT)  # the caller never answers
    assert h.tts.spoken.count("Sorry, I didn't get your PIN") == 1
    assert h.tts.spoken[-2:] == ["Sorry, that PIN didn't match", "Goodbye"]
    assert leg.hung_up_reason == "pin-failed" and h.reached == [] and call.info.user is None


async def test_unknown_caller_is_rejected_politely_by_default() -> None:
    h = await harness()
    for caller in (STRANGER, "anonymous", ""):
        leg, _, task = start(h, inbound(caller))
        await asyncio.wait_for(task, TIMEOUT)
        assert leg.hung_up_reason == "unknown-caller"
        assert "Goodbye" in h.tts.spoken[-1]
        assert not any(n in s.lower() for s in h.tts.spoken for n in ("alice", "bob", "owner"))
    assert h.reached == [] and h.agents == []


async def test_unknown_caller_as_guest() -> None:
    h = await harness(unknown="guest")
    leg, holder, task = start(h, inbound(STRANGER, call_id="CA0000000000000000000000000000beef"))
    call = await listening(holder)
    assert call.info.user == User(name="guest-0000beef", display_name="guest", guest=True)
    assert await h.users.get("guest-0000beef") is None  # nothing stored for a guest
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


async def test_unknown_caller_as_owner_creates_the_owner_on_first_run() -> None:
    h = await harness(unknown="owner", owner="me")
    for u in await h.users.list():
        await h.users.remove(u.name)
    leg, holder, task = start(h, inbound(STRANGER))
    call = await listening(holder)
    assert call.info.user is not None and call.info.user.name == "me"
    owner = await h.users.get("me")
    assert owner is not None and owner.has_role("admin")
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


async def test_owner_policy_without_that_owner_rejects() -> None:
    h = await harness(unknown="owner", owner="nobody")  # other users exist: not re-created
    leg, _, task = start(h, inbound(STRANGER))
    await asyncio.wait_for(task, TIMEOUT)
    assert leg.hung_up_reason == "unknown-caller" and h.reached == []
    assert await h.users.get("nobody") is None


async def test_a_set_user_skips_the_gate() -> None:
    h = await harness()  # reject unknown callers, and the browser's "caller" is no number
    signed_in = User(name="bob")
    info = CallInfo(call_id="b1", channel="browser", caller="127.0.0.1", user=signed_in)
    leg, holder, task = start(h, info)
    call = await listening(holder)
    assert call.info.user is signed_in and h.tts.spoken == ["Hello"]
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


async def test_outbound_calls_identify_the_callee() -> None:
    h = await harness()
    info = CallInfo(call_id="o1", channel="twilio", caller=STRANGER, callee=BOB_PHONE,
                    direction="outbound")  # fmt: skip
    leg, holder, task = start(h, info)
    call = await listening(holder)
    assert call.info.user is not None and call.info.user.name == "bob"
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


async def test_caller_hanging_up_during_the_pin_ends_quietly() -> None:
    h = await harness()
    leg, holder, task = start(h, inbound(ALICE_PHONE))
    await listening(holder)
    leg.press("1")
    leg.caller_hangup()
    call = await asyncio.wait_for(task, TIMEOUT)
    assert call.session.hangup_reason == "caller" and h.reached == []
    assert np.concatenate(leg.sent).size > 0  # the prompt was sent, nothing after it
