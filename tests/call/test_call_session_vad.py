"""The session on the shared VAD tick: its reader never waits for scores; failures hang up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
from call_fakes import tone

from callport.call.memory import MemoryLeg
from callport.call.session import CallSession
from callport.server.metrics import Metrics
from callport.vad.base import VadScore, VadStream
from callport.vad.batcher import VadBatcher
from callport.vad.silero import SileroVad
from callport.vad.turn import TurnDetector


class BrokenEngine:
    def new_stream(self, sample_rate: int) -> VadStream:
        return SileroVad().new_stream(sample_rate)

    def score(self, streams: Sequence[VadStream]) -> list[list[VadScore]]:
        raise RuntimeError("onnx exploded")


async def test_a_failing_vad_tick_hangs_the_call_up_instead_of_leaving_silence() -> None:
    leg = MemoryLeg(call_id="v1", sample_rate=8000)
    session = CallSession(leg=leg, vad=VadBatcher(BrokenEngine()),
                          turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300),
                          metrics=Metrics())
    session.start()
    await leg.speak(tone(0.2, 8000), 8000)
    await asyncio.wait_for(session.wait_ended(), 5)
    assert session.hangup_reason == "error" and leg.hung_up_reason == "error"
    await session.close()


async def test_frames_keep_flowing_while_windows_wait_for_the_tick() -> None:
    """Every frame is read at once; its windows are scored later, on the tick."""
    leg = MemoryLeg(call_id="v2", sample_rate=8000)
    batcher = VadBatcher(SileroVad(), tick_s=0.2)  # a slow tick: scores lag the frames
    session = CallSession(leg=leg, vad=batcher,
                          turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300),
                          metrics=Metrics())
    session.start()
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 3000, 800).astype(np.int16)
    for k in range(5):  # 100 ms of audio in five frames, faster than a tick
        await leg.speak(noise[160 * k:160 * (k + 1)], 8000)
    await asyncio.sleep(0)
    assert session.stats.frames_in == 5 and batcher.flushes == 0  # read, not yet scored
    await asyncio.sleep(0.45)
    assert batcher.flushes >= 1 and batcher.largest_batch == 1
    leg.caller_hangup()
    await asyncio.wait_for(session.wait_ended(), 5)
    await session.close()
