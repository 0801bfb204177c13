"""Shared by the page-as-a-product tests: a real Runtime with quick fake speech services, a
small agent that is not the Task Manager, and uvicorn on a chosen port (for host pages on
another origin)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette

from callport.agents.base import AgentInput, AgentOutput, CallInfo, Say, UserPressed, UserSaid
from callport.config import BrowserSettings, PageSettings, ServerSettings, Settings, TurnSettings
from callport.speech.base import SpeechChunk, Transcript
from callport.types import PCM16

HEARD = "hello there"


class QuickSTT:
    """Every utterance is "hello there" (the fake microphone says it); counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def transcribe(self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
                         ) -> Transcript:
        self.calls += 1
        await asyncio.sleep(0.05)
        return Transcript(text=HEARD, seconds=0.05)


class ToneTTS:
    """``per_word`` seconds of a soft tone per word, one chunk per sentence, at 16 kHz."""

    sample_rate = 16_000

    def __init__(self, per_word: float = 0.12) -> None:
        self.per_word = per_word

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        for sentence in [s.strip() for s in text.split(".") if s.strip()]:
            n = int(self.per_word * len(sentence.split()) * 16_000)
            t = np.arange(n) / 16_000
            pcm = (3000 * np.sin(2 * math.pi * 330 * t)).astype(np.int16)
            yield SpeechChunk(pcm, 16_000, sentence + ".")


class ShopAgent:
    """Not the Task Manager: answers in two sentences (one reply, one bubble), echoes key
    presses, and fails on 9 (the page must show the error)."""

    greeting = "Hello, this is the Corner Shop's automated assistant."

    def __init__(self, log: list[AgentInput]) -> None:
        self.log = log
        self.heard: list[str] = []

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        self.log.append(event)
        match event:
            case UserPressed(digits="9"):
                raise RuntimeError("the shop's stock database is down")
            case UserPressed(digits=d):
                yield Say(f"You pressed {d}.")
            case UserSaid(text=text):
                yield Say(f"You said {text}.")
                yield Say("Our shop is open from nine until six every day of the week, "
                          "and on Sundays we open at ten in the morning until four.")
            case _:
                pass

    def interrupted(self, heard: str) -> None:
        self.heard.append(heard)


def shop_settings(tmp: Path, *, allowed: tuple[str, ...] = (), **page: Any) -> Settings:
    return Settings(
        server=ServerSettings(db=str(tmp / "callport.db"), agent="shop.agent:factory"),
        turn=TurnSettings(vad="webrtc"),
        browser=BrowserSettings(allowed_origins=allowed),
        page=PageSettings(**page),
    )


def shop_runtime(settings: Settings, *, per_word: float = 0.12) -> tuple[Any, list[AgentInput]]:
    from callport.server.runtime import build_runtime

    log: list[AgentInput] = []

    def factory(info: CallInfo) -> ShopAgent:
        return ShopAgent(log)

    runtime = build_runtime(settings, agent_factory=factory, stt=QuickSTT(),
                            tts=ToneTTS(per_word))
    return runtime, log


@contextlib.asynccontextmanager
async def serve_on(app: Starlette, port: int, host: str = "127.0.0.1") -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 5)


async def wait_for(page_or_frame: Any, js: str, timeout_ms: int = 30_000) -> Any:
    handle = await page_or_frame.wait_for_function(js, timeout=timeout_ms)
    return await handle.json_value()
