"""SIP channel under load: N concurrent sipp ``uac_pcap`` calls with audio against callport.

callport runs the real Runtime with the echo flow and VAD on (webrtc by default, silero with
``--vad silero``); sipp plays sip-tester's 7 s PCMA pcap (30 ms packets) plus one RFC 4733
digit on every call. Prints CPU-ms of the callport process per call-second, RTP packet loss
as callport saw it, and the jitter callport adds: the spread of its 20 ms send intervals
next to the spread of the arrivals it received.

    python bench/bench_sip.py [--calls 20] [--rate 10] [--vad webrtc|silero]   (calls <= 100)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

import contextlib

from callport.channels.sip import leg as sip_leg
from callport.channels.sip.channel import SipChannel
from callport.config import Settings, SipSettings
from callport.flows.echo import echo_flow
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.tasks import MemoryTaskStore

PCAP_DIR = Path("/usr/share/sip-tester")
PACKETS_PER_CALL = 236 + 10  # g711a.pcap audio + dtmf_2833_1.pcap


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spread(times: list[float], nominal: float) -> tuple[float, float]:
    """(mean, p99) of |interval - nominal| in ms over one stream's timestamps."""
    if len(times) < 3:
        return 0.0, 0.0
    dev = np.abs(np.diff(np.asarray(times)) - nominal) * 1000
    return float(dev.mean()), float(np.percentile(dev, 99))


async def warm_up(runtime: Runtime) -> None:
    """One call through the runtime before timing: what a first call imports or sets up once
    (the identification gate, the caller's guest list) is not charged to the calls measured."""
    from callport.agents.base import CallInfo
    from callport.call.memory import MemoryLeg

    leg = MemoryLeg(call_id="warm-up", sample_rate=8000)
    call = asyncio.create_task(runtime.run_call(
        leg, CallInfo(call_id="warm-up", channel="sip", caller="+15550100")))
    await leg.speak(np.zeros(8000, np.int16), 8000)
    await asyncio.sleep(0.2)
    leg.caller_hangup()
    await asyncio.wait_for(call, 10)


async def run(calls: int, rate: int, vad: str) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp (Debian sip-tester) is not installed")
    arrivals: dict[str, list[float]] = {}
    sends: dict[str, list[float]] = {}
    original_rtp = sip_leg.SipLeg.on_rtp
    original_send = sip_leg.SipLeg.send_audio

    def on_rtp(self: sip_leg.SipLeg, data: bytes, addr: tuple[str, int], now: float) -> None:
        if len(data) > 12 and data[1] & 0x7F == 8:
            arrivals.setdefault(self.key, []).append(now)
        original_rtp(self, data, addr, now)

    async def send_audio(self: sip_leg.SipLeg, pcm: np.ndarray) -> None:  # type: ignore[type-arg]
        sends.setdefault(self.key, []).append(time.monotonic())
        await original_send(self, pcm)

    sip_leg.SipLeg.on_rtp = on_rtp  # type: ignore[method-assign]
    sip_leg.SipLeg.send_audio = send_audio  # type: ignore[method-assign,assignment]

    low = random.randrange(30000, 50000, 1000)
    base = Settings()
    # Callers are guests: the identification gate lets them straight through, so no
    # rejection is spoken (TTS is not what this measures).
    settings = replace(base, turn=replace(base.turn, vad=vad),
                       identity=replace(base.identity, unknown="guest"), sip=SipSettings(
        enabled=True, host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=low + 999,
        max_calls=calls + 10))
    runtime = Runtime(settings=settings, store=MemoryTaskStore(), calls=MemoryCallStore(),
                      flow=echo_flow)
    _ = runtime.vad  # load the model before timing
    await warm_up(runtime)
    channel = SipChannel(runtime)
    await channel.start()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pcap").symlink_to(PCAP_DIR)
        scenario = await asyncio.create_subprocess_exec(
            sipp, "-sd", "uac_pcap", stdout=asyncio.subprocess.PIPE)
        xml, _ = await scenario.communicate()
        (work / "uac_pcap.xml").write_bytes(xml)
        cpu0, wall0 = time.process_time(), time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sipp, "-sf", "uac_pcap.xml", f"127.0.0.1:{channel.port}", "-i", "127.0.0.1",
            "-p", str(free_port()), "-mp", str(free_port() & ~1), "-m", str(calls),
            "-l", str(calls), "-r", str(rate), "-nostdin", "-timeout", "120s",
            "-trace_stat", "-stf", str(work / "stat.csv"), cwd=tmp,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        peak = 0
        while proc.returncode is None:
            peak = max(peak, len(channel.calls))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.5)
        await asyncio.sleep(0.5)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    await channel.stop()
    finished = channel.finished
    call_seconds = sum(c.leg.media.samples_in / 8000 for c in finished if c.leg.media)
    received = sum(c.leg.media.receiver.received + c.leg.media.receiver.duplicates
                   for c in finished if c.leg.media)
    lost = sum(c.leg.media.receiver.lost + c.leg.media.receiver.late
               for c in finished if c.leg.media)
    digits = sum(len(c.leg.media.digits) for c in finished if c.leg.media)
    expected = PACKETS_PER_CALL * len(finished)
    arr = [spread(t, 0.030) for t in arrivals.values()]
    out = [spread(t, 0.020) for t in sends.values()]
    print(f"sipp exit {proc.returncode}; calls answered {len(finished)}/{calls}, "
          f"peak concurrent {peak}, wall {wall:.1f} s, vad={vad}")
    print(f"CPU {cpu * 1000:.0f} ms for {call_seconds:.0f} call-seconds: "
          f"{cpu * 1000 / max(call_seconds, 1e-9):.2f} CPU-ms per call-second "
          f"(~{1000 / max(cpu * 1000 / max(call_seconds, 1e-9), 1e-9):.0f} calls per core)")
    print(f"RTP in: {received}/{expected} packets, lost+late {lost} "
          f"({100 * max(expected - received, 0) / max(expected, 1):.2f} % missing), "
          f"digits {digits}/{len(finished)}")
    if arr and out:
        print(f"jitter in  (|arrival interval - 30 ms|): mean {np.mean([a for a, _ in arr]):.2f}"
              f" ms, p99 {np.mean([p for _, p in arr]):.2f} ms")
        print(f"jitter out (|send interval - 20 ms|):    mean {np.mean([a for a, _ in out]):.2f}"
              f" ms, p99 {np.mean([p for _, p in out]):.2f} ms  <- added by callport")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rate", type=int, default=10, help="new calls per second")
    parser.add_argument("--vad", choices=["webrtc", "silero"], default="webrtc")
    args = parser.parse_args()
    if not 1 <= args.calls <= 100:
        raise SystemExit("--calls must be 1..100")
    asyncio.run(run(args.calls, args.rate, args.vad))


if __name__ == "__main__":
    main()
