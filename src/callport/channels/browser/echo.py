"""Echo mode: a stand-in Runtime that plays the caller's audio straight back.

Used by the transport tests and ``bench/bench_browser.py`` (mouth-to-ear latency, audio
fidelity) where the speech stack is beside the point. It records what it received. Its users
and tokens live in memory: ``await runtime.sign_in(name)`` makes a user and returns a session
cookie value for them (the page needs one to get a call token).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from callport.agents.base import CallInfo
from callport.call.events import PCM16, AudioIn, HungUp, Marked
from callport.call.leg import Leg
from callport.config import Settings
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.users import TokenStore


@dataclass(slots=True)
class EchoRecord:
    info: CallInfo
    chunks: list[PCM16] = field(default_factory=list)
    marks: list[Marked] = field(default_factory=list)
    hangup: str = ""

    def audio(self) -> PCM16:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)


@dataclass(slots=True, kw_only=True)
class EchoRuntime:
    settings: Settings
    echo: bool = True
    calls: list[EchoRecord] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    users: MemoryUserStore = field(default_factory=MemoryUserStore)
    tokens: TokenStore = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = MemoryTokenStore(users=self.users)

    async def sign_in(self, name: str = "caller", *, now: float | None = None) -> str:
        """A session token (the ``callport_session`` cookie value) for ``name``, made if new."""
        if await self.users.get(name) is None:
            await self.users.add(name)
        issued = await self.tokens.create(name, kind="session", ttl_s=3600.0,
                                          now=time.time() if now is None else now)
        return issued.secret

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        record = EchoRecord(info)
        self.calls.append(record)
        frames = 0
        while True:
            event = await leg.recv()
            match event:
                case AudioIn(pcm=pcm):
                    record.chunks.append(pcm)
                    if self.echo:
                        await leg.send_audio(pcm)
                        frames += 1
                        if frames % 50 == 0:
                            await leg.mark(f"echo{frames}")
                case Marked():
                    record.marks.append(event)
                case HungUp(reason=reason):
                    record.hangup = reason
                    self.ended.set()
                    return
                case _:
                    pass
