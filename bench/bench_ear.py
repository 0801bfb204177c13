"""Latency where the caller hears it: first reply and barge-in at the far end of each channel.

One real ``callport serve`` child process (the Task Manager with the embedded stack: Silero
VAD, Whisper, Piper, warmed up before the first call; a throwaway SQLite database holding a
few open tasks) and, one after the other, a caller on each real channel:

- **sip**: a Python SIP user agent and RTP endpoint on loopback (bench/ear_sip.py);
- **twilio**: the Twilio simulator, signed webhook + Media Streams WebSocket, its playout
  buffer honouring marks and clear (bench/ear_twilio.py);
- **browser**: headless Chromium on the product page, fake microphone, its playback output
  tapped on the AudioContext clock (bench/ear_browser.py).

Each caller speaks ``--turns`` list requests (Piper and espeak-ng voices in turn), each one
starting while the agent still reads out the previous answer (the first while it greets).
Printed per channel, medians and p95: end of the caller's speech -> first reply audio heard,
and barge-in (caller's onset -> the agent's audio stopping at the caller's end); per stage
from the server's turn records of the same call (endpointing, STT, agent, TTS first clause,
the server's own end-of-speech-to-first-audio; the rest is transport and the far end's
playout); the load average before and after. See bench/ear_common.py for the exact rules.

    python bench/bench_ear.py [--turns 10] [--channels sip,twilio,browser]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path[:0] = [str(Path(__file__).resolve().parent)]

from ear_common import (  # noqa: E402
    Figures,
    Requests,
    Served,
    build_requests,
    measure,
    metric,
    server_turns,
    start_serve,
)

CHANNELS = ("sip", "twilio", "browser")
STAGES = ("endpoint", "stt", "agent", "tts_first_clause", "end_of_speech_to_first_audio")
TARGET_REPLY_MS, TARGET_BARGE_MS = 800.0, 250.0
COUNTERS = ("callport_barge_ins_total", "callport_vad_seconds_sum", "callport_vad_seconds_count")


async def run_channel(channel: str, served: Served, requests: Requests) -> Figures:
    """One call on ``channel`` with the caller's ``requests``; its figures."""
    _, since = server_turns(served.db, 0)
    before = {name: metric(served.base, name) for name in COUNTERS}
    if channel == "sip":
        from ear_sip import sip_call

        spans, heard = await sip_call(served.sip_port, requests)
    elif channel == "twilio":
        from ear_twilio import twilio_call

        spans, heard = await twilio_call(served.base, served.auth_token, requests)
    elif channel == "browser":
        from ear_browser import browser_call

        spans, heard = await browser_call(served.base, served.signin_link(), requests)
    else:
        raise ValueError(f"unknown channel {channel!r}; choose from {', '.join(CHANNELS)}")
    await asyncio.sleep(1.0)  # the last turn's record is written as the call ends
    fig = measure(channel, spans, heard)
    fig.server, _ = server_turns(served.db, since)
    delta = {name: metric(served.base, name) - before[name] for name in COUNTERS}
    fig.barge_ins_server = int(delta["callport_barge_ins_total"])
    if batches := delta["callport_vad_seconds_count"]:
        fig.vad_ms = 1000.0 * delta["callport_vad_seconds_sum"] / batches
    return fig


def run(channels: Sequence[str], turns: int) -> list[Figures]:
    """Start the server, call on each channel in turn, stop it; every channel's figures."""
    with tempfile.TemporaryDirectory(prefix="bench-ear-") as tmp:
        served = start_serve(Path(tmp))
        try:
            figs = []
            for channel in channels:  # synthesized outside the event loop (Piper runs its own)
                requests = build_requests(turns, 48_000 if channel == "browser" else 8000)
                figs.append(asyncio.run(run_channel(channel, served, requests)))
            return figs
        finally:
            served.stop()


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def report(figs: Sequence[Figures], load_before: str, load_after: str) -> str:
    from callport.config import TurnSettings

    barge_in_ms = TurnSettings().barge_in_ms
    out = [f"load average before: {load_before}; after: {load_after}; {os.cpu_count()} cores",
           "", f"{'channel':<8} {'first reply ms: p50':>20} {'p95':>6} {'n':>3} {'missed':>6}"
           f"   {'barge-in ms: p50':>17} {'p95':>6} {'n':>3}  server barge-ins"]
    for f in figs:
        out.append(f"{f.channel:<8} {pct(f.first_reply_ms, 50):>20.0f} "
                   f"{pct(f.first_reply_ms, 95):>6.0f} {len(f.first_reply_ms):>3} "
                   f"{f.missed_replies:>6}   {pct(f.barge_in_ms, 50):>17.0f} "
                   f"{pct(f.barge_in_ms, 95):>6.0f} {len(f.barge_in_ms):>3}  "
                   f"{f.barge_ins_server}")
    out += ["", "per stage, server's turn records (median ms); transport+playout = ear - server"]
    out.append(f"{'channel':<8} " + " ".join(f"{s[:12]:>12}" for s in STAGES)
               + f" {'transport':>10} {'turns':>5} {'interrupted':>11}")
    for f in figs:
        med = {s: statistics.median(v) if (v := [float(t[s]) for t in f.server  # type: ignore[arg-type]
                                                  if t.get(s) is not None]) else float("nan")
               for s in STAGES}
        rest = pct(f.first_reply_ms, 50) - med["end_of_speech_to_first_audio"]
        out.append(f"{f.channel:<8} " + " ".join(f"{med[s]:>12.0f}" for s in STAGES)
                   + f" {rest:>10.0f} {len(f.server):>5} "
                   f"{sum(1 for t in f.server if t['interrupted']):>11}")
    out += ["", f"barge-in per stage: the detector waits for {barge_in_ms} ms of speech "
                "(turn.barge_in_ms), VAD scoring per batch (mean ms, /metrics), the rest is "
                "the VAD's onset and window lag, the clear and the far end's playout"]
    for f in figs:
        rest = pct(f.barge_in_ms, 50) - barge_in_ms - f.vad_ms
        out.append(f"{f.channel:<8} detector {barge_in_ms:>4} + VAD scoring {f.vad_ms:>5.1f} + "
                   f"rest {rest:>5.0f} = {pct(f.barge_in_ms, 50):>5.0f} (median)")
    every_reply = [x for f in figs for x in f.first_reply_ms]
    worst_barge = max((pct(f.barge_in_ms, 50) for f in figs if f.barge_in_ms), default=0.0)
    out += ["", f"targets: first reply median <= {TARGET_REPLY_MS:.0f} ms (all channels: "
                f"{pct(every_reply, 50):.0f}); barge-in <= {TARGET_BARGE_MS:.0f} ms on every "
                f"channel (worst median: {worst_barge:.0f})"]
    return "\n".join(out)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=10, help="requests per channel (default 10)")
    ap.add_argument("--channels", default=",".join(CHANNELS),
                    help=f"comma-separated, of {', '.join(CHANNELS)}")
    args = ap.parse_args()
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if bad := [c for c in channels if c not in CHANNELS]:
        ap.error(f"unknown channel(s) {', '.join(bad)}; choose from {', '.join(CHANNELS)}")
    if not 1 <= args.turns <= 40:
        ap.error("--turns must be 1..40")
    before = loadavg()
    figs = run(channels, args.turns)
    print(report(figs, before, loadavg()))


if __name__ == "__main__":
    main()
