"""Whole calls through the real Runtime with an adapter as the agent: a MemoryLeg as the
caller, scripted STT, tone TTS that records what it was asked to say, energy VAD."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import AgentSettings, ServerSettings, Settings, TurnSettings
from callport.server.runtime import Runtime, build_runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.types import CallInfo, User

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "call"))
from call_fakes import EnergyVad, ScriptedSTT, ToneTTS, tone

ALICE = User(name="alice", display_name="Alice", phones=("+15551230001",))

__all__ = ["ALICE", "Line", "ScriptedSTT", "ToneTTS", "tone", "until"]


async def until(predicate: Callable[[], object], timeout: float = 8.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@dataclass
class Line:
    """One call in progress: the caller's leg, the Call, and what the agent was made to say."""

    runtime: Runtime
    leg: MemoryLeg
    stt: ScriptedSTT
    tts: ToneTTS
    calls: MemoryCallStore
    tasks: MemoryTaskLists
    task: asyncio.Task[Call] | None = None
    info: CallInfo = field(default_factory=lambda: CallInfo(
        call_id="CAr1", channel="sip", caller="+15551230001", callee="+15559870000", user=ALICE))

    @property
    def call(self) -> Call:
        return self.runtime.active[self.info.call_id]

    def start(self) -> None:
        self.task = asyncio.create_task(self.runtime.run_call(self.leg, self.info))

    async def listening(self, turns: int) -> None:
        """Wait until the caller has had ``turns`` turns and the agent listens again."""
        await until(lambda: self.info.call_id in self.runtime.active
                    and len(self.call.turns) >= turns and self.call.listening.is_set())

    async def say(self, seconds: float = 0.4) -> None:
        await self.leg.speak(tone(seconds, 8000), 8000, trailing_silence_s=0.5)

    async def ended(self) -> Call:
        assert self.task is not None
        return await asyncio.wait_for(self.task, 10)

    def spoken(self) -> str:
        return " ".join(self.tts.spoken)


def line(agent: str, texts: list[str], *, realtime: bool = False, fallback: str = "goodbye",
         handoff: str = "", reply_timeout_s: float = 3.0, api_key: str = "",
         model: str = "", base_url: str = "", sample_rate: int = 8000) -> Line:
    settings = Settings(
        server=ServerSettings(agent=agent, fallback=fallback, db=":memory:"),
        turn=TurnSettings(min_speech_ms=60, end_of_turn_ms=300, barge_in_ms=100),
        agent=AgentSettings(connect_timeout_s=2.0, reply_timeout_s=reply_timeout_s,
                            handoff=handoff, api_key=api_key, model=model,
                            base_url=base_url),
    )
    users = MemoryUserStore()
    calls, tasks = MemoryCallStore(), MemoryTaskLists()
    stt, tts = ScriptedSTT(texts), ToneTTS()
    runtime = build_runtime(settings, stt=stt, tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                            calls=calls, tasks=tasks, users=users,
                            tokens=MemoryTokenStore(users=users))
    leg = MemoryLeg(call_id="CAr1", sample_rate=sample_rate, realtime=realtime)
    return Line(runtime=runtime, leg=leg, stt=stt, tts=tts, calls=calls, tasks=tasks)
