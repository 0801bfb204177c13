"""The audio adapters' part of ``bench_adapters.py``: echo stand-ins and the measurement.

Run through ``bench_adapters.py`` (see its docstring), or alone:
``python bench/bench_audio_adapters.py [--calls 4] [--seconds 6]``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / p) for p in ("src", "tests/agents", "tests/call")]

from adapter_support import line  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

from callport.call.memory import MemoryLeg  # noqa: E402
from callport.types import PCM16  # noqa: E402

Handler = Callable[[ServerConnection], Awaitable[None]]
CYCLE = 20  # frames per click cycle (0.4 s)


async def media_echo(ws: ServerConnection) -> None:
    async for raw in ws:
        msg = json.loads(raw)
        if msg.get("event") == "media":
            await ws.send(json.dumps({"event": "media", "streamSid": msg["streamSid"],
                                      "media": {"payload": msg["media"]["payload"]}}))


async def realtime_echo(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "session.created", "session": {"type": "realtime"}}))
    async for raw in ws:
        msg = json.loads(raw)
        if msg["type"] == "input_audio_buffer.append":
            await ws.send(json.dumps({"type": "response.output_audio.delta", "item_id": "item_1",
                                      "response_id": "resp_1", "delta": msg["audio"]}))


async def live_echo(ws: ServerConnection) -> None:
    await ws.recv()  # setup
    await ws.send(json.dumps({"setupComplete": {}}))
    async for raw in ws:
        msg = json.loads(raw)
        if "realtimeInput" in msg:  # back at 24 kHz, as the service speaks (linear, cheap)
            pcm = np.frombuffer(base64.b64decode(msg["realtimeInput"]["audio"]["data"]), "<i2")
            up = np.interp(np.arange(len(pcm) * 3 // 2) / 1.5, np.arange(len(pcm)), pcm)
            data = base64.b64encode(up.astype("<i2").tobytes()).decode()
            await ws.send(json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                "mimeType": "audio/pcm;rate=24000", "data": data}}]}}}))


@asynccontextmanager
async def echo(handler: Handler) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, max_size=2**24) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


class TimedLeg(MemoryLeg):
    """A real-time memory leg that notes when each loud frame was handed to it."""

    def __init__(self) -> None:
        super().__init__(call_id="CAr1", sample_rate=8000, realtime=True)
        self.loud_at: list[float] = []

    async def send_audio(self, pcm: PCM16) -> None:
        await super().send_audio(pcm)
        if len(pcm) and int(np.abs(pcm).max()) > 2000:
            self.loud_at.append(time.perf_counter())


async def one_call(agent: str, url: str, seconds: float) -> list[float]:
    """One call of clicks; the ms from each click to its echo reaching the leg."""
    ln = line(agent, [], realtime=True, base_url=url)
    leg = TimedLeg()
    ln.leg = leg
    ln.start()
    await asyncio.sleep(0.5)  # connected
    click = np.full(160, 8000, np.int16)
    silence = np.zeros(160, np.int16)
    clicks: list[float] = []
    frames = int(seconds * 50)
    for i in range(frames):
        if i % CYCLE == 0:
            clicks.append(time.perf_counter())
        await leg.speak(click if i % CYCLE == 0 else silence, 8000)
    await asyncio.sleep(0.3)
    leg.caller_hangup()
    await ln.ended()
    added = []
    for at in clicks:
        echoed = [t for t in leg.loud_at if at < t < at + 0.35]
        if echoed:
            added.append((echoed[0] - at) * 1000.0)
    return added


async def audio_adapters(calls: int, seconds: float) -> None:
    print(f"audio adapters: {calls} calls at once, {seconds:g} s each, a click every "
          f"{CYCLE * 20} ms, echoed by an in-process stand-in")
    for name, agent, handler in (("twilio-ws", "twilio-ws:", media_echo),
                                 ("realtime", "openai-realtime", realtime_echo),
                                 ("gemini", "gemini-live", live_echo)):
        async with echo(handler) as url:
            ref = f"{agent}{url}" if agent.endswith(":") else agent
            await one_call(ref, url, 1.0)  # warm-up: imports, the REST server
            cpu = time.process_time()
            results = await asyncio.gather(*(one_call(ref, url, seconds) for _ in range(calls)))
            cpu_s = time.process_time() - cpu
        added = [ms for r in results for ms in r]
        if not added:
            print(f"{name:10s} no click came back")
            continue
        p95 = statistics.quantiles(added, n=20)[-1] if len(added) >= 20 else max(added)
        print(f"{name:10s} click->echo median {statistics.median(added):6.1f} ms  p95 "
              f"{p95:6.1f} ms  ({len(added)} clicks)  CPU {cpu_s * 1000 / (calls * seconds):5.1f}"
              " ms per call-second")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    asyncio.run(audio_adapters(args.calls, args.seconds))
