"""The spoken Task Manager over a simulated Twilio call, through the real Runtime (slow).

Caller speech synthesized by the TTS and sent as 8 kHz µ-law media frames -> Silero VAD,
Whisper, Task Manager, TTS in the server -> µ-law reply frames the simulator plays -> the
played audio transcribed again: it must say what the agent did.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx
import numpy as np
import pytest
from twilio_sim import AUTH_TOKEN, call_completed
from twilio_support import Server, serve

from callport.audio.resample import resample
from callport.config import (
    IdentitySettings,
    ServerSettings,
    Settings,
    SpeechSettings,
    TwilioSettings,
)

pytestmark = pytest.mark.slow


async def _quiet_for(sim, seconds: float, timeout: float, after: int = 0) -> int:  # type: ignore[no-untyped-def]
    """Wait until new agent audio (past frame ``after``) was heard, then ``seconds`` of quiet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = -1, loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        level = _loud_bytes(sim)
        if level != last:
            last, since = level, loop.time()
        elif last > after and loop.time() - since >= seconds:
            return last
    raise AssertionError("agent never went quiet")


def _loud_bytes(sim) -> int:  # type: ignore[no-untyped-def]
    pcm = sim.heard.pcm()
    frames = pcm[: pcm.size // 160 * 160].reshape(-1, 160).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > 300)
    return int(loud[-1]) + 1 if loud.size else 0


async def test_spoken_task_manager_call_over_twilio(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    from callport.agents.base import CallInfo, UserSaid
    from callport.channels.twilio.channel import TwilioChannel
    from callport.server.runtime import build_runtime

    settings = dataclasses.replace(
        Settings(server=ServerSettings(db=str(tmp_path / "tasks.db")),
                 speech=SpeechSettings(piper_variation=False),  # repeatable audio both ways
                 identity=IdentitySettings(unknown="owner")),  # a personal line: the owner's list
        twilio=TwilioSettings(auth_token=AUTH_TOKEN),
    )
    runtime = build_runtime(settings)
    await runtime.warmup()
    agent = runtime.agent_factory(CallInfo(call_id="warmup", channel="test"))
    async for _ in agent.respond(UserSaid("what is on my list")):
        pass  # load the intent model before the call
    caller = [c async for c in runtime.tts.synthesize("Add a task to buy milk tomorrow.")]
    speech = resample(np.concatenate([c.pcm for c in caller]), caller[0].sample_rate, 8000)

    channel = TwilioChannel(runtime=runtime)
    uv, task, base = await serve(channel)
    try:
        async with httpx.AsyncClient() as http:
            server = Server(base=base, channel=channel, runtime=None, http=http)  # type: ignore[arg-type]
            sim = await server.call()
            greeting_frames = await _quiet_for(sim, 1.0, timeout=40)  # the greeting
            greeting_end = len(sim.heard.audio)
            sim.say(speech)
            await _quiet_for(sim, 1.5, timeout=60, after=greeting_frames)  # the reply
            tasks = await runtime.store.list(include_done=True)
            await sim.stop()  # the caller hangs up: Twilio reports the call over
            await call_completed(http, base + "/twilio/status", sim.call_sid)
    finally:
        uv.should_exit = True
        await task

    heard = sim.heard.pcm()
    greeting = await runtime.stt.transcribe(resample(heard[:greeting_end], 8000, 16000), 16000)
    reply = await runtime.stt.transcribe(resample(heard[greeting_end:], 8000, 16000), 16000)
    assert "task manager" in greeting.text.lower()
    assert "milk" in reply.text.lower(), reply.text
    assert any("milk" in t.title.lower() for t in tasks), tasks
