"""CallSession cost: CPU-ms per call-second for N in-memory calls in real time, VAD on.

Each call is a MemoryLeg fed 20 ms frames in real time (speech-like bursts and silence,
8 kHz like a phone call) through the full session: Silero VAD (batched across calls),
turn detection, the echo flow sending every frame back through the pacer. Prints CPU time
(process_time) per second of call audio, the implied calls per core, and the VAD batches
(mean windows per inference, largest). This is the session alone on a memory leg (no channel,
no sockets, in one process with its callers): ``bench_load.py`` measures the real path.

    python bench/bench_session.py [--seconds 5] [--calls 1,10,50,100] [--vad silero|webrtc|none]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from callport.agents.base import CallInfo
from callport.call.memory import MemoryLeg
from callport.config import load_settings
from callport.flows.echo import echo_flow
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.tasks import MemoryTaskStore


def caller_audio(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Bursts of voiced-like harmonics (1.2 s) separated by 0.8 s of quiet noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 40 * np.sin(2 * math.pi * 0.5 * t)
    voiced = sum(np.sin(2 * math.pi * k * np.cumsum(f0) / rate) / k for k in range(1, 8))
    gate = ((t % 2.0) < 1.2).astype(np.float64)
    pcm = 6000 * voiced * gate + rng.normal(0, 30, len(t))
    return np.clip(pcm, -32768, 32767).astype(np.int16)


async def run(n: int, seconds: float, vad: str) -> tuple[float, int, str]:
    engine = "webrtc" if vad == "webrtc" else "silero"
    settings = load_settings(None, env={"CALLPORT_TURN_VAD": engine})
    runtime = Runtime(
        settings=settings,
        store=MemoryTaskStore(),
        calls=MemoryCallStore(),
        stt=object(),  # type: ignore[arg-type]
        tts=object(),  # type: ignore[arg-type]
        agent_factory=lambda info: object(),  # type: ignore[arg-type,return-value]
    )
    if vad != "none":
        _ = runtime.vad  # load the model outside the measurement
        runtime.vad.new_stream(8000)
    legs = [MemoryLeg(call_id=f"b{i}", sample_rate=8000, realtime=True) for i in range(n)]
    audio = [caller_audio(seconds, 8000, i) for i in range(n)]

    async def one(i: int) -> int:
        leg = legs[i]
        call = runtime.new_call(leg, CallInfo(call_id=leg.call_id, channel="bench"))
        if vad == "none":
            call.session.disable_vad()  # measure the media path alone
        call.session.start()
        flow = asyncio.create_task(echo_flow(call))
        await asyncio.sleep(0.02 * i / max(n, 1))  # spread frame phases like real calls
        await leg.speak(audio[i], 8000)
        await leg.hangup("bench")
        await flow
        await call.session.close()
        return call.session.frames_out

    cpu0, wall0 = time.process_time(), time.perf_counter()
    outs = await asyncio.gather(*(one(i) for i in range(n)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    lag = wall / seconds
    batches = "-"
    scorer = runtime.vad if vad != "none" else None
    flushes = getattr(scorer, "flushes", 0)
    if flushes:  # mean windows per VAD inference (32 ms windows of every call), and the most
        windows = n * seconds / 0.032
        batches = f"{windows / flushes:.1f} / {getattr(scorer, 'largest_batch', 0)}"
    return cpu * 1000 / (n * seconds), int(sum(outs) / n) if lag < 1.2 else -1, batches


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--calls", default="1,10,50,100")
    ap.add_argument("--vad", default="silero", choices=["silero", "webrtc", "none"])
    args = ap.parse_args()
    print(f"CallSession, echo flow, 8 kHz, VAD={args.vad}, {args.seconds:.0f} s of audio per call")
    print(f"{'calls':>6} {'CPU-ms per call-s':>18} {'calls per core':>15} {'frames/call':>12} "
          f"{'VAD batch mean/max':>19}")
    asyncio.run(run(1, 1.0, args.vad))  # warm-up: model load, first inferences
    for n in [int(x) for x in args.calls.split(",")]:
        ms, frames, batches = asyncio.run(run(n, args.seconds, args.vad))
        per_core = 1000.0 / ms if ms > 0 else float("inf")
        echoed = "fell behind" if frames < 0 else str(frames)
        print(f"{n:>6} {ms:>18.2f} {per_core:>15.0f} {echoed:>12} {batches:>19}")


if __name__ == "__main__":
    main()
