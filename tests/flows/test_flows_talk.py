"""``run_talk`` (``callport talk``) through the identification gate, on the call-core fakes:
``caller`` is the caller ID the gate sees; without one the conversation acts as the owner."""

from __future__ import annotations

import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.config import IdentitySettings, Settings
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.talk import TalkError, run_talk
from callport.types import CallInfo

UTTERANCE = (tone(0.4, 16000), 16000)


def runtime(users: MemoryUserStore, stt: ScriptedSTT, seen: list[CallInfo]) -> Runtime:
    def factory(info: CallInfo) -> EchoTextAgent:
        seen.append(info)
        return EchoTextAgent()

    return Runtime(settings=Settings(identity=IdentitySettings(pin_timeout_s=5.0)),
                   calls=MemoryCallStore(), users=users, tasks=MemoryTaskLists(), stt=stt,
                   tts=ToneTTS(), vad=EnergyVad(), agent_factory=factory)  # type: ignore[arg-type]  # fmt: skip


async def test_talk_without_caller_acts_as_the_owner_created_on_first_run() -> None:
    users, seen = MemoryUserStore(), []
    result = await run_talk(runtime(users, ScriptedSTT(["hello"]), seen), [UTTERANCE])
    assert result.user == "owner"
    owner = await users.get("owner")
    assert owner is not None and owner.has_role("admin")
    assert [i.user.name for i in seen if i.user] == ["owner"]
    assert result.turns[0].record is not None and result.turns[0].record.transcript == "hello"


async def test_talk_with_caller_goes_through_the_pin() -> None:
    users, seen = MemoryUserStore(), []
    await users.add("alice", phones=["+15550001111"], pin="2468")
    stt = ScriptedSTT(["two four six eight", "hello"])
    result = await run_talk(runtime(users, stt, seen), [UTTERANCE, UTTERANCE],
                            caller="+15550001111")  # fmt: skip
    assert result.user == "alice" and [i.user.name for i in seen if i.user] == ["alice"]
    pin, hello = result.turns
    assert pin.secret and pin.record is None  # what the PIN turn said is not kept
    assert not hello.secret and hello.record is not None and hello.record.transcript == "hello"
    assert await users.get("owner") is None  # a caller ID never creates the owner


async def test_talk_with_wrong_pins_ends_the_call() -> None:
    users, seen = MemoryUserStore(), []
    await users.add("alice", phones=["+15550001111"], pin="2468")
    stt = ScriptedSTT(["one one one one", "two two two two", "three three three three", "hi"])
    result = await run_talk(runtime(users, stt, seen), [UTTERANCE] * 4, caller="+15550001111")
    assert result.user is None and result.hangup_reason == "pin-failed" and seen == []
    assert len(result.turns) == 3 and all(t.secret for t in result.turns)


async def test_talk_with_an_unknown_caller_says_why() -> None:
    users, seen = MemoryUserStore(), []
    with pytest.raises(TalkError, match="not a known user's number"):
        await run_talk(runtime(users, ScriptedSTT([]), seen), [UTTERANCE], caller="+15559990000")
    assert seen == []


async def test_talk_without_caller_when_the_owner_was_removed() -> None:
    users, seen = MemoryUserStore(), []
    await users.add("alice")
    with pytest.raises(TalkError, match=r"identity\.owner"):
        await run_talk(runtime(users, ScriptedSTT([]), seen), [UTTERANCE])
