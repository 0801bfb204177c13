"""VAD cost per call: Silero (batched across calls) and webrtcvad.

Prints, for 8 and 16 kHz, the Silero cost of one 32 ms window per call at batch sizes 1, 8,
32 and 128 (best of several runs; onnxruntime pinned to one thread), the speed-up over batch
1, and how many calls one core could serve in real time; then webrtcvad per frame.

    python bench/bench_vad.py [--rounds 40] [--repeats 5]

Target: <= 60 µs per window per call at batch 32 (8 kHz).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from callport.vad.batcher import VadBatcher
from callport.vad.silero import WINDOW, SileroVad
from callport.vad.webrtc import WebRtcVad

BATCHES = (1, 8, 32, 128)
TARGET_US = 60.0


def audio(seconds: float, rate: int, seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    voiced = 4000 * np.sin(2 * np.pi * (120 + seed % 50) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return (voiced + rng.normal(0, 300, t.size)).astype(np.int16)


def silero_us_per_window(vad: SileroVad, rate: int, batch: int, rounds: int, repeats: int) -> float:
    """Best-of-``repeats`` µs per window per call, scoring ``rounds`` windows per call."""
    window = WINDOW[rate]
    pcm = [audio(rounds * window / rate, rate, seed) for seed in range(batch)]
    best = float("inf")
    for _ in range(repeats):
        streams = [vad.new_stream(rate) for _ in range(batch)]
        for stream, samples in zip(streams, pcm, strict=True):
            stream.push(samples)
        began = time.perf_counter()
        scores = vad.score(streams)
        elapsed = time.perf_counter() - began
        assert all(len(s) == rounds for s in scores)
        best = min(best, elapsed / (rounds * batch))
    return best * 1e6


def webrtc_us_per_frame(rate: int, frame_ms: int, frames: int, repeats: int) -> float:
    vad = WebRtcVad(frame_ms=frame_ms)
    pcm = audio(frames * frame_ms / 1000, rate, 1)
    best = float("inf")
    for _ in range(repeats):
        stream = vad.new_stream(rate)
        stream.push(pcm)
        began = time.perf_counter()
        scores = vad.score([stream])[0]
        elapsed = time.perf_counter() - began
        assert len(scores) == frames
        best = min(best, elapsed / frames)
    return best * 1e6


async def batcher_us_per_call_second(calls: int, rate: int, seconds: float) -> float:
    """Calls sending 20 ms frames through ``VadBatcher``: CPU µs per call per media second."""
    batcher = VadBatcher(SileroVad())
    frame = rate // 50
    pcm = [audio(seconds, rate, seed) for seed in range(calls)]
    streams = [batcher.new_stream(rate) for _ in range(calls)]

    async def call(i: int) -> None:
        for k in range(0, pcm[i].size, frame):
            await batcher.score(streams[i], pcm[i][k : k + frame])

    began = time.process_time()
    await asyncio.gather(*(call(i) for i in range(calls)))
    return (time.process_time() - began) / (calls * seconds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="windows per call per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs; the best is kept")
    args = parser.parse_args()

    vad = SileroVad()
    vad.process(vad.new_stream(8000), audio(0.5, 8000, 0))  # load and warm the session
    print(f"Silero VAD, onnxruntime 1 thread, best of {args.repeats} x {args.rounds} windows")
    print(
        f"{'rate':>6} {'batch':>6} {'µs/window/call':>15} {'vs batch 1':>11} "
        f"{'calls/core':>11} {'target':>8}"
    )
    for rate in (8000, 16000):
        base = 0.0
        for batch in BATCHES:
            us = silero_us_per_window(vad, rate, batch, args.rounds, args.repeats)
            base = base or us
            calls = 32_000 / us  # one 32 ms window per call every 32 ms
            target = ""
            if rate == 8000 and batch == 32:
                target = "OK" if us <= TARGET_US else f"> {TARGET_US:.0f}"
            print(
                f"{rate:>6} {batch:>6} {us:>15.1f} {base / us:>10.2f}x {calls:>11.0f} {target:>8}"
            )

    print()
    print("Through VadBatcher (asyncio, 20 ms frames, 2 s per call), CPU per call")
    print(f"{'rate':>6} {'calls':>6} {'µs/call/s':>15} {'% of a core/call':>17}")
    for rate in (8000, 16000):
        for calls in (1, 32, 128):
            us = asyncio.run(batcher_us_per_call_second(calls, rate, 2.0))
            print(f"{rate:>6} {calls:>6} {us:>15.0f} {us / 1e4:>16.3f}%")

    print()
    print("webrtcvad (mode 2)")
    print(f"{'rate':>6} {'frame':>6} {'µs/frame':>15} {'calls/core':>11}")
    for rate in (8000, 16000):
        for frame_ms in (10, 20, 30):
            us = webrtc_us_per_frame(rate, frame_ms, 500, args.repeats)
            print(f"{rate:>6} {frame_ms:>4}ms {us:>15.2f} {frame_ms * 1000 / us:>11.0f}")


if __name__ == "__main__":
    main()
