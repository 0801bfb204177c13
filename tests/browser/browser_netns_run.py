"""Run one headless-Chromium call inside a private network namespace and print JSON results.

WebRTC needs real interface addresses: aioice skips 127.0.0.1 and Chromium gathers no
loopback candidates. So ``run_in_netns`` re-executes this file under ``unshare -n`` (a fresh
network namespace, gone when the process exits), adds a veth pair there, and serves the
page on 127.0.0.1 (a secure context for getUserMedia) while ICE/RTP use the veth addresses.

Modes: ``echo`` (EchoRuntime: fidelity and round trip), ``agent`` (the real Runtime with the
Task Manager: spoken request -> task, reply audio, task list).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def run_in_netns(args: list[str], *, timeout: float = 120) -> dict[str, Any]:
    """Run this script in a new network namespace; returns its JSON result."""
    cmd = ["unshare", "-n", "--", sys.executable, str(Path(__file__).resolve()), *args]
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{HERE}:{ROOT / 'bench'}",
           "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"netns run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    return result


def _setup_netns() -> None:
    script = ("ip link set lo up && ip link add v0 type veth peer name v1 && "
              "ip addr add 10.200.0.1/24 dev v0 && ip addr add 10.200.0.2/24 dev v1 && "
              "ip link set v0 up && ip link set v1 up")
    subprocess.run(["sh", "-c", script], check=True)


async def run_echo_call(transport: str, wav: Path, seconds: float, *, gate: bool = False
                        ) -> dict[str, Any]:
    import numpy as np
    from browser_harness import (
        aligned_r,
        chromium,
        dump,
        echo_windows,
        read_wav_16k,
        serve,
        session_page,
        window_delays_ms,
        windowed_r,
    )
    from starlette.applications import Starlette

    from callport.channels.browser import create
    from callport.channels.browser.echo import EchoRuntime
    from callport.config import Settings

    runtime = EchoRuntime(settings=Settings())
    app = Starlette(routes=list(create(runtime).routes()))
    source = read_wav_16k(wav)
    async with serve(app) as base, chromium(wav) as browser:
        page = await session_page(browser, base, await runtime.sign_in())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/?transport={transport}&apm=0&gate={int(gate)}&record=1")
        await page.click("#call")
        await page.wait_for_function("window.callport.state === 'live'", timeout=20_000)
        await asyncio.sleep(seconds)
        rec = await dump(page)
        vad_ms = await page.evaluate("window.callport.call.stats.vadMs")
        await page.click("#call")
        await asyncio.wait_for(runtime.ended.wait(), 15)
    call = runtime.calls[0]
    received = call.audio().astype(np.float32) / 32768
    # Chromium's fake microphone loops the WAV from getUserMedia on, but the server hears it
    # only once WebRTC is up: on a loaded machine that is seconds later, so the received
    # audio starts anywhere in the loop. Align against the loop, not the file's first second.
    looped = np.tile(source, 3)
    r, _lag, gain = aligned_r(looped, received, max_lag=len(source))
    r_echo, lag_echo, _ = aligned_r(rec.mic, rec.remote, max_lag=16000)
    offset = (rec.remote_start - rec.mic_start) / rec.rate * 16_000
    echo_speech, echo_delays = echo_windows(rec, max_lag=16_000)
    return {"r": r, "r_windows": windowed_r(looped, received, max_lag=len(source)),
            "gain": gain,
            "seconds_received": len(received) / 16_000,
            "r_echo": r_echo, "round_trip_ms": (lag_echo + offset) / 16,
            "echo_speech_windows": echo_speech, "echo_delays_ms": echo_delays,
            "window_delays_ms": window_delays_ms(rec), "vad_ms": vad_ms, "errors": errors,
            "hangup": call.hangup, "call_id": call.info.call_id}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["echo", "agent"])
    parser.add_argument("transport", choices=["ws", "webrtc"])
    parser.add_argument("wav", type=Path)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--gate", action="store_true", help="client VAD on (echo mode)")
    args = parser.parse_args()
    _setup_netns()
    if args.mode == "echo":
        result = asyncio.run(run_echo_call(args.transport, args.wav, args.seconds,
                                           gate=args.gate))
    else:
        from browser_agent_flow import run_agent_call

        result = asyncio.run(run_agent_call(args.transport, args.wav, args.seconds,
                                            args.screenshot))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
