"""Calls through the real Runtime share the VAD tick; /metrics shows the batch sizes."""

from __future__ import annotations

import asyncio

import numpy as np

from callport.agents.base import CallInfo
from callport.call.memory import MemoryLeg
from callport.config import load_settings
from callport.flows.echo import echo_flow
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.vad.batcher import VadBatcher


async def test_concurrent_calls_are_scored_together_and_counted_in_metrics() -> None:
    runtime = Runtime(settings=load_settings(None, env={}), calls=MemoryCallStore())
    calls = 12
    rng = np.random.default_rng(5)

    async def one(i: int) -> int:
        leg = MemoryLeg(call_id=f"v{i}", sample_rate=8000, realtime=True)
        call = runtime.new_call(leg, CallInfo(call_id=leg.call_id, channel="test"))
        call.session.start()
        flow = asyncio.create_task(echo_flow(call))
        await asyncio.sleep(0.02 * i / calls)  # frames at each call's own phase
        await leg.speak(rng.normal(0, 2000, 8000).astype(np.int16), 8000)
        await leg.hangup("test")
        await flow
        await call.session.close()
        return call.session.stats.frames_in

    frames = await asyncio.gather(*(one(i) for i in range(calls)))
    assert all(f >= 50 for f in frames)
    vad = runtime.vad
    assert isinstance(vad, VadBatcher)
    assert vad.largest_batch == calls  # every call with a window ready, in one inference
    for _ in range(100):  # the last batch may still be on the VAD thread
        if runtime.metrics.vad_batch_size.count == vad.flushes:
            break
        await asyncio.sleep(0.01)
    text = runtime.metrics.render()
    count = runtime.metrics.vad_batch_size.count
    assert count == vad.flushes and 0 < count < calls * 8000 // 256 / 2
    assert f"callport_vad_batch_size_count {count}" in text
    assert 'callport_vad_batch_size_bucket{le="8"}' in text
