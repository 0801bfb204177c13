"""server.max_call_s (issue 20): no call on any channel outlives it. The cut-off lives in the
one place every channel's call runs through (``server.callrun.run_call``), so SIP, Twilio,
Telnyx and browser legs all get it; a MemoryLeg stands in for them here."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.agents.base import CallInfo
from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import Settings
from callport.server.runtime import Runtime, build_runtime
from callport.store.calls import MemoryCallStore
from callport.types import User

OWNER = User(name="owner")


def make_runtime(tmp_path: Path, calls: MemoryCallStore, max_call_s: float) -> Runtime:
    settings = Settings()
    settings = replace(settings, server=replace(settings.server, db=str(tmp_path / "cp.db"),
                                                max_call_s=max_call_s))
    return build_runtime(settings, calls=calls, stt=ScriptedSTT([]),
                         tts=ToneTTS(), vad=EnergyVad(),  # type: ignore[arg-type]
                         agent_factory=lambda info: EchoTextAgent())


async def never_hangs_up(call: Call) -> None:
    await call.session.wait_ended()


async def test_a_call_that_never_ends_is_cut_off_at_max_call_s(tmp_path: Path) -> None:
    calls = MemoryCallStore()
    runtime = make_runtime(tmp_path, calls, max_call_s=0.5)
    leg = MemoryLeg(call_id="m1")
    info = CallInfo(call_id="m1", channel="memory", caller="+15550001", user=OWNER)
    call = await asyncio.wait_for(runtime.run_call(leg, info, flow=never_hangs_up), 10)
    assert call.session.hangup_reason == "max-duration"
    assert runtime.active == {} and runtime.metrics.active_calls.value == 0
    record = await calls.get("m1")
    assert record is not None and record.status == "ended"
    assert [(e.kind, e.detail) for e in await calls.events("m1")] == [("ended", "max-duration")]


async def test_zero_means_no_limit(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, MemoryCallStore(), max_call_s=0)
    leg = MemoryLeg(call_id="m2")
    info = CallInfo(call_id="m2", channel="memory", caller="+15550001", user=OWNER)
    task = asyncio.create_task(runtime.run_call(leg, info, flow=never_hangs_up))
    await asyncio.sleep(0.7)
    assert not task.done() and "m2" in runtime.active
    await leg.hangup("caller-left")
    call = await asyncio.wait_for(task, 5)
    assert call.session.hangup_reason == "caller-left"
