"""Shared pieces of the queue tests: calls on memory legs, a service over FakeReach."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.call.session import CallSession
from callport.config_queues import QueueSettings, QueuesSettings
from callport.metrics import Metrics
from callport.queues.reach import FakeReach
from callport.queues.service import QueueService
from callport.types import PCM16, CallInfo
from callport.vad.turn import TurnDetector

RATE = 16000


def make_call(call_id: str, *, caller: str = "+15550100",
              heard: list[str] | None = None) -> tuple[Call, MemoryLeg]:
    """A started call whose caller is the returned MemoryLeg (``heard``: what STT hears)."""
    leg = MemoryLeg(call_id=call_id, sample_rate=RATE)
    session = CallSession(leg=leg, vad=EnergyVad(),  # type: ignore[arg-type]
                          turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300,
                                            barge_in_ms=100),
                          metrics=Metrics())
    call = Call(session=session, info=CallInfo(call_id=call_id, channel="test", caller=caller),
                stt=ScriptedSTT(heard or []), tts=ToneTTS(),
                agent_factory=lambda info: EchoTextAgent(), clock=time.monotonic)
    session.start()
    return call, leg


def queue(name: str = "support", **values: object) -> QueueSettings:
    base: dict[str, object] = {"ring_timeout_s": 5.0, "wrap_up_s": 0.0, "max_wait_s": 0.0,
                               "announce_every_s": 0.0}
    return QueueSettings(name=name, **{**base, **values})  # type: ignore[arg-type]


def service(*queues: QueueSettings, agents: dict[str, tuple[str, ...]],
            reach: FakeReach | None = None, **kw: object) -> tuple[QueueService, FakeReach]:
    reach = reach or FakeReach()

    async def members() -> list[tuple[str, tuple[str, ...]]]:
        return list(agents.items())

    svc = QueueService(settings=QueuesSettings(named=queues), reach=reach, agents=members,
                       **kw)  # type: ignore[arg-type]
    return svc, reach


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def rms(pcm: PCM16) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def longest_silence(frames: list[PCM16], floor: float = 30.0) -> int:
    """The longest run of frames quieter than ``floor`` (RMS)."""
    run = best = 0
    for frame in frames:
        run = run + 1 if rms(frame) < floor else 0
        best = max(best, run)
    return best


def chirp(seconds: float, lo: float, hi: float, rate: int = RATE) -> PCM16:
    f = np.linspace(lo, hi, int(seconds * rate))
    return (6000 * np.sin(2 * np.pi * np.cumsum(f) / rate)).astype(np.int16)


def corr(a: PCM16, b: PCM16) -> float:
    """Best normalised cross-correlation of the shorter signal inside the longer."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    if len(short) == 0:
        return 0.0
    full = np.correlate(long_, short, mode="valid")
    win = np.sqrt(np.convolve(long_ ** 2, np.ones(len(short)), "valid") * np.sum(short ** 2))
    return float(np.max(full / np.maximum(win, 1e-9)))
