"""Telnyx media core micro-benchmark: CPU per second of call audio, no sockets, no session.

What this measures, and only that: ``TelnyxMediaCore`` + ``MediaStreamLeg`` parsing Telnyx
JSON media frames (20 ms, base64, snake_case; every 10th pair swapped to exercise the reorder
window) and a bench-only echo loop sending every frame back (encode, base64, JSON) with a mark
every 10 frames. There is no WebSocket, no ``CallSession`` (no VAD, turn detector or pacer)
and frames are fed as fast as the loop runs, not in real time: the figure is the channel
code's own cost per call-second of audio carried, a lower bound. It is not a capacity figure:
calls per core on the real path come from ``bench_load.py --channel telnyx`` (a real
``callport serve``, real sockets, Silero VAD, real-time callers).

    python bench/bench_telnyx.py [--seconds 10] [--calls 1,10,100] [--codec PCMU,L16]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import time

import numpy as np

from callport.audio.g711 import ulaw_encode
from callport.call.events import AudioIn, HungUp
from callport.channels.media_leg import MediaStreamLeg
from callport.channels.provider import StreamStart
from callport.channels.telnyx.media import TelnyxMediaCore, encode_client_state


def frames_for(codec: str, seconds: float) -> list[str]:
    rate = 8000 if codec == "PCMU" else 16000
    n = rate // 50
    t = np.arange(int(seconds * rate)) / rate
    pcm = (6000 * np.sin(2 * math.pi * 220 * t)).astype(np.int16)
    out = []
    for k in range(len(pcm) // n):
        chunk = pcm[k * n:(k + 1) * n]
        payload = ulaw_encode(chunk) if codec == "PCMU" else chunk.astype(">i2").tobytes()
        out.append(json.dumps({
            "event": "media", "sequence_number": str(k + 2), "stream_id": "st",
            "media": {"track": "inbound", "chunk": str(k + 1), "timestamp": str(20 * k),
                      "payload": base64.b64encode(payload).decode()},
        }))
    for k in range(0, len(out) - 1, 10):  # swap a pair every 200 ms
        out[k], out[k + 1] = out[k + 1], out[k]
    return out


def start_text(codec: str, i: int) -> str:
    return json.dumps({"event": "start", "sequence_number": "1", "stream_id": f"st-{i}", "start": {
        "call_control_id": f"v3:{i}", "client_state": encode_client_state(f"tx-{i}"),
        "media_format": {"encoding": codec, "sample_rate": 8000 if codec == "PCMU" else 16000,
                         "channels": 1}}})


async def one_call(i: int, codec: str, frames: list[str]) -> int:
    core = TelnyxMediaCore()
    (start,) = core.receive_text(start_text(codec, i))
    assert isinstance(start, StreamStart)
    sent = 0

    async def send_text(text: str) -> None:
        nonlocal sent
        sent += len(text)

    async def close_socket(code: int) -> None:
        return None

    leg = MediaStreamLeg(call_id=f"tx-{i}", start=start, core=core, send_text=send_text,
                         close_socket=close_socket)

    async def echo() -> None:
        n = 0
        while True:
            ev = await leg.recv()
            if isinstance(ev, AudioIn):
                await leg.send_audio(ev.pcm)
                n += 1
                if n % 10 == 0:
                    await leg.mark(f"m{n}")
            elif isinstance(ev, HungUp):
                return

    task = asyncio.create_task(echo())
    for k, text in enumerate(frames):
        for ev in core.receive_text(text):
            leg.feed(ev)
        if k % 50 == 49:
            await asyncio.sleep(0)  # let the flow run, as a real loop would between frames
    for ev in core.receive_text('{"event":"stop","sequence_number":"999999"}'):
        leg.feed(ev)
    await task
    return sent


async def run(calls: int, codec: str, seconds: float) -> tuple[float, float]:
    frames = frames_for(codec, seconds)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_call(i, codec, frames) for i in range(calls)))
    return time.process_time() - cpu0, time.perf_counter() - wall0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--calls", default="1,10,100")
    ap.add_argument("--codec", default="PCMU,L16")
    args = ap.parse_args()
    print("media core only: no sockets, no session, faster than real time "
          "(bench_load.py measures the real path)")
    print(f"{'codec':6} {'calls':>5} {'call-s':>7} {'cpu-s':>7} {'cpu-ms/call-s':>14} "
          f"{'calls/core':>10}")
    for codec in args.codec.split(","):
        asyncio.run(run(1, codec, 1.0))  # warm imports and tables
        for calls in (int(c) for c in args.calls.split(",")):
            cpu, _ = asyncio.run(run(calls, codec, args.seconds))
            call_s = calls * args.seconds
            per = 1000 * cpu / call_s
            print(f"{codec:6} {calls:5d} {call_s:7.0f} {cpu:7.2f} {per:14.3f} {1000 / per:10.0f}")


if __name__ == "__main__":
    main()
