"""Twilio channel cost: server CPU-ms per call-second for N concurrent simulated calls.

The server (uvicorn + ``TwilioChannel`` + ``MediaStreamLeg``, one process) runs an echo flow:
every caller frame is sent back (µ-law encode, base64, JSON) with a mark every 10 frames;
``--vad silero|webrtc`` also scores every frame with ``callport.vad`` (batched across calls)
before echoing. The simulated Twilio side (``tests/twilio/twilio_sim.py``: signed voice
webhook, then ``connected``/``start``/20 ms ``media`` frames in real time, mark echoes) runs
in this process; the server runs in a child process and reports its own
``time.process_time()`` over HTTP, so the figure is the server's CPU alone.

    python bench/bench_twilio.py [--calls 1,10,40] [--seconds 8] [--vad off,webrtc,silero]

Prints, per VAD mode and N: server CPU-ms per call-second, the share of echoed frames that
came back, and the largest N one core carries in real time (1000 / CPU-ms per call-second).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / p) for p in ("src", "tests/twilio", "tests/providers")]

AUTH_TOKEN = "f" * 32


# ----------------------------------------------------------------------------- server


def serve(vad_mode: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from callport.agents.base import CallInfo
    from callport.call.events import AudioIn, HungUp
    from callport.call.leg import Leg
    from callport.channels.twilio.channel import TwilioChannel
    from callport.config import Settings, TwilioSettings

    vad = None
    if vad_mode != "off":
        from callport.vad.batcher import VadBatcher

        if vad_mode == "silero":
            from callport.vad.silero import SileroVad

            vad = VadBatcher(SileroVad())
        else:
            from callport.vad.webrtc import WebRtcVad

            vad = VadBatcher(WebRtcVad())

    stats = {"frames": 0, "calls": 0}

    @dataclasses.dataclass
    class EchoRuntime:
        settings: Settings

        async def run_call(self, leg: Leg, info: CallInfo) -> None:
            stats["calls"] += 1
            stream = vad.new_stream(leg.sample_rate) if vad is not None else None
            sent = 0
            while True:
                event = await leg.recv()
                if isinstance(event, AudioIn):
                    if vad is not None and stream is not None:
                        await vad.score(stream, event.pcm)
                    await leg.send_audio(event.pcm)
                    sent += 1
                    stats["frames"] += 1
                    if sent % 10 == 0:
                        await leg.mark(f"m{sent}")
                elif isinstance(event, HungUp):
                    return

    settings = dataclasses.replace(Settings(), twilio=TwilioSettings(auth_token=AUTH_TOKEN))
    channel = TwilioChannel(runtime=EchoRuntime(settings))

    async def cpu(_: Request) -> JSONResponse:
        return JSONResponse({"cpu": time.process_time(), **stats})

    app = Starlette(routes=[*channel.routes(), Route("/bench/cpu", cpu)])
    config = uvicorn.Config(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]),
                            log_level="warning", lifespan="off", ws_max_queue=64,
                            ws=os.environ.get("BENCH_WS", "auto"))
    uvicorn.Server(config).run()


# ----------------------------------------------------------------------------- client


async def measure(base: str, n: int, seconds: float) -> tuple[float, float, int]:
    import httpx
    import numpy as np
    import websockets
    from twilio_sim import StreamSim, call_params, parse_twiml, signed_form

    async with httpx.AsyncClient() as http:
        sims: list[StreamSim] = []
        for i in range(n):
            sid = f"CA{os.getpid():08x}{i:024x}"
            url = base + "/twilio/voice"
            body, headers = signed_form(url, call_params(sid), AUTH_TOKEN)
            twiml = parse_twiml((await http.post(url, content=body, headers=headers)).text)
            ws = await websockets.connect(twiml.url.replace("wss://", "ws://"), compression=None)
            sim = StreamSim(ws, call_sid=sid, stream_sid="MZ" + sid[2:],
                            parameters=twiml.parameters)
            t = np.arange(8000 * int(seconds + 2)) / 8000
            sim.say((6000 * np.sin(2 * np.pi * (200 + i) * t)).astype(np.int16))
            sims.append(sim)
        for sim in sims:
            await sim.start()
        await asyncio.sleep(1.0)  # settle: every call connected and streaming
        before = (await http.get(base + "/bench/cpu")).json()
        sent0 = [sim._chunk for sim in sims]
        got0 = [sim.heard.received_media for sim in sims]
        await asyncio.sleep(seconds)
        after = (await http.get(base + "/bench/cpu")).json()
        sent = sum(sim._chunk - s for sim, s in zip(sims, sent0, strict=True))
        got = sum(sim.heard.received_media - g for sim, g in zip(sims, got0, strict=True))
        max_queue = max(sim.heard.max_queued_bytes for sim in sims)
        for sim in sims:
            await sim.stop()
        await asyncio.sleep(0.5)
    call_seconds = sent * 0.02
    cpu_ms = (after["cpu"] - before["cpu"]) * 1000.0 / call_seconds
    return cpu_ms, got / max(sent, 1), max_queue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,10,40")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--vad", default="off,webrtc,silero")
    parser.add_argument("--serve", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"{'vad':8} {'N':>4} {'cpu-ms/call-s':>14} {'echoed':>7} {'max-queue-ms':>13} "
          f"{'calls/core':>11}")
    for mode in args.vad.split(","):
        for n in [int(x) for x in args.calls.split(",")]:
            port = 20000 + (os.getpid() + n) % 20000
            env = {**os.environ, "BENCH_PORT": str(port), "PYTHONPATH": str(ROOT / "src")}
            cmd = os.environ.get("BENCH_SERVER_CMD", "").split() or [sys.executable, __file__]
            server = subprocess.Popen([*cmd, "--serve", mode], env=env)
            base = f"http://127.0.0.1:{port}"
            try:
                _wait_up(base)
                cpu_ms, echoed, max_queue = asyncio.run(measure(base, n, args.seconds))
            finally:
                server.terminate()
                server.wait(10)
            print(f"{mode:8} {n:>4} {cpu_ms:>14.2f} {echoed:>7.1%} {max_queue / 8:>13.0f} "
                  f"{1000 / cpu_ms:>11.0f}", flush=True)


def _wait_up(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/bench/cpu", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"bench server at {base} did not start")


if __name__ == "__main__":

    main()
