"""Admission by capacity on the real Runtime: past ``server.max_conversations`` a new caller
hears "all lines are busy" (cached, not silence) and is hung up with cause ``busy``;
``/readyz`` is 503 while saturated; ``/metrics`` shows the speech backlog; a call's
speech token is cancelled when it ends (its queued STT/TTS jobs are dropped)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import ServerSettings, Settings
from callport.server.app import create_app
from callport.server.capacity import BUSY_CAUSE, BUSY_PHRASE
from callport.server.runtime import Runtime
from callport.speech.cache import CachedTTS
from callport.speech.jobs import CancelToken, call_token
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.types import CallInfo, User

OWNER = User(name="owner")


def make_runtime(tts: ToneTTS | CachedTTS, *, max_conversations: int) -> Runtime:
    settings = Settings(server=ServerSettings(db=":memory:", max_conversations=max_conversations,
                                              metrics_public=True))
    return Runtime(settings=settings, calls=MemoryCallStore(), users=MemoryUserStore(),
                   tasks=MemoryTaskLists(), stt=ScriptedSTT(["hello"]), tts=tts,
                   vad=EnergyVad(), agent_factory=lambda info: EchoTextAgent())


async def start(runtime: Runtime, call_id: str) -> tuple[MemoryLeg, Call, asyncio.Task[Call]]:
    leg = MemoryLeg(call_id=call_id, sample_rate=16000, codec="pcm")
    holder: list[Call] = []
    task = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id=call_id, channel="memory", user=OWNER), on_call=holder.append))
    while not holder:
        await asyncio.sleep(0)
    return leg, holder[0], task


async def test_past_capacity_a_caller_hears_busy_and_is_hung_up() -> None:
    tts = ToneTTS()
    runtime = make_runtime(tts, max_conversations=1)
    leg_a, call_a, task_a = await start(runtime, "a")
    async with asyncio.timeout(10):
        await call_a.listening.wait()  # the first caller is talking to the agent
    leg_b, _call_b, task_b = await start(runtime, "b")
    async with asyncio.timeout(10):
        call_b = await task_b
    assert leg_b.hung_up_reason == BUSY_CAUSE and call_b.turns == []
    heard = np.concatenate(leg_b.sent) if leg_b.sent else np.zeros(0, np.int16)
    assert np.abs(heard).max(initial=0) > 1000  # the busy phrase played: not silence
    assert BUSY_PHRASE.split(".")[0] in tts.spoken
    assert not task_a.done() and "a" in runtime.active  # the admitted call goes on
    record = await runtime.calls.get("b")
    assert record is not None and record.status != "in-progress"
    leg_a.caller_hangup()
    async with asyncio.timeout(10):
        await task_a
    leg_c, call_c, task_c = await start(runtime, "c")  # room again: admitted
    async with asyncio.timeout(10):
        await call_c.listening.wait()
    assert leg_c.hung_up_reason is None
    leg_c.caller_hangup()
    await task_c


async def test_readyz_is_false_while_saturated_and_metrics_show_the_backlog() -> None:
    runtime = make_runtime(ToneTTS(), max_conversations=1)
    app = create_app(runtime, channels=[])
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/readyz").status_code == 200
        runtime.active["x"] = object()  # type: ignore[assignment]  # one conversation
        saturated = client.get("/readyz")
        assert saturated.status_code == 503
        assert saturated.json() == {"ready": False, "reason": "max-conversations",
                                    "draining": False}
        assert int(saturated.headers["retry-after"]) > 0
        text = client.get("/metrics").text
        assert "callport_saturated 1" in text and "callport_max_conversations 1" in text
        assert "# TYPE callport_speech_backlog gauge" in text
        assert "# TYPE callport_speech_backlog_age_seconds gauge" in text
        runtime.active.clear()
        assert client.get("/readyz").status_code == 200
        assert "callport_saturated 0" in client.get("/metrics").text


async def test_a_calls_speech_token_is_cancelled_when_it_ends() -> None:
    seen: list[CancelToken | None] = []

    async def flow(call: Call) -> None:
        seen.append(call_token.get())
        await call.session.wait_ended()

    runtime = make_runtime(ToneTTS(), max_conversations=5)
    leg = MemoryLeg(call_id="t", sample_rate=16000, codec="pcm")
    task = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id="t", channel="memory", user=OWNER), flow=flow))
    for _ in range(500):
        if seen:
            break
        await asyncio.sleep(0.01)
    token = seen[0]
    assert token is not None and not token.cancelled
    leg.caller_hangup()
    async with asyncio.timeout(10):
        await task
    assert token.cancelled


async def test_cached_phrases_are_synthesized_once() -> None:
    engine = ToneTTS()
    tts = CachedTTS(engine, phrases=[BUSY_PHRASE])
    await tts.warmup()
    rendered = len(engine.spoken)
    assert rendered > 0 and tts.cached(BUSY_PHRASE)
    for _ in range(3):
        chunks = [c async for c in tts.synthesize(BUSY_PHRASE)]
        assert chunks and chunks[0].pcm.size
    assert len(engine.spoken) == rendered and tts.hits == 3
    for _ in range(3):  # any other short text is kept after its second rendering
        _ = [c async for c in tts.synthesize("One moment.")]
    assert engine.spoken.count("One moment") == 2
