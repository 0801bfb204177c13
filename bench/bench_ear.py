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
and barge-in (caller's onset -> the agent's audio stopping at the caller's end). Per stage:
the server's turn records of the same call (endpointing, STT, agent, TTS first clause, the
server's own end-of-speech-to-first-audio) and its /metrics (barge-ins, VAD scoring time);
what the server cannot see is worked out here: how late its VAD (Silero and the turn
detector, run offline on the same audio) finds the end of speech and fires a barge-in; what
remains is transport and the far end's buffer and playout. The load average before and
after. See bench/ear_common.py for the exact rules. Each channel's medians and p95s are then
printed against the previous figures (``bench/previous.json``: ``new / previous``);
``--record`` makes this run's the previous ones.

    python bench/bench_ear.py [--turns 10] [--channels sip,twilio,browser] [--record]
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path[:0] = [str(Path(__file__).resolve().parent)]

from ear_common import Figures, Requests, build_requests, measure, vad_lag  # noqa: E402
from ear_serve import Served, metric, server_turns, start_serve  # noqa: E402
from previous import Previous  # noqa: E402

CHANNELS = ("sip", "twilio", "browser")
STAGES = ("endpoint", "stt", "agent", "tts_first_clause", "end_of_speech_to_first_audio")
STAGE_NAMES = ("endpoint", "stt", "agent", "tts", "server")
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
                fig = asyncio.run(run_channel(channel, served, requests))
                fig.vad = vad_lag(requests, 16_000 if channel == "browser" else 8000)
                figs.append(fig)
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
    out += ["", "first reply per stage (median ms): the server's turn records of the call "
                "(endpoint ... server = its end-of-speech-to-first-audio); vad-lag = how late "
                "its VAD finds the end of speech (offline, same audio), which the server's "
                "figures start after; transport = ear - server - vad-lag (network, far end's "
                "buffer and playout)"]
    out.append(f"{'channel':<8} " + " ".join(f"{s:>9}" for s in STAGE_NAMES)
               + f" {'vad-lag':>8} {'transport':>9} {'turns':>5} {'cut':>4}")
    for f in figs:
        med = {s: statistics.median(v) if (v := [float(t[s]) for t in f.server  # type: ignore[arg-type]
                                                  if t.get(s) is not None]) else float("nan")
               for s in STAGES}
        lag = pct(f.vad.end_ms, 50)
        rest = pct(f.first_reply_ms, 50) - med["end_of_speech_to_first_audio"] - lag
        out.append(f"{f.channel:<8} " + " ".join(f"{med[s]:>9.0f}" for s in STAGES)
                   + f" {lag:>8.0f} {rest:>9.0f} {len(f.server):>5} "
                   f"{sum(1 for t in f.server if t['interrupted']):>4}")
    out += ["", f"barge-in per stage (median ms): the VAD and turn detector, onset to the "
                f"barge-in firing (offline, same audio; {barge_in_ms} ms of speech, "
                "turn.barge_in_ms, counted from the VAD's own onset), VAD scoring per batch "
                "(mean, /metrics), the rest: frames queued, the clear, transport, playout"]
    for f in figs:
        vad = pct(f.vad.barge_ms, 50)
        rest = pct(f.barge_in_ms, 50) - vad - f.vad_ms
        out.append(f"{f.channel:<8} VAD {vad:>4.0f} + scoring {f.vad_ms:>4.1f} + rest "
                   f"{rest:>4.0f} = {pct(f.barge_in_ms, 50):>4.0f}")
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
    ap.add_argument("--record", action="store_true",
                    help="keep this run's figures as the previous ones (bench/previous.json)")
    args = ap.parse_args()
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if bad := [c for c in channels if c not in CHANNELS]:
        ap.error(f"unknown channel(s) {', '.join(bad)}; choose from {', '.join(CHANNELS)}")
    if not 1 <= args.turns <= 40:
        ap.error("--turns must be 1..40")
    before = loadavg()
    figs = run(channels, args.turns)
    print(report(figs, before, loadavg()))
    prev = Previous.load("bench_ear")
    print("\nagainst the previous figures (new / previous):")
    for f in figs:
        figures = {"first_reply_p50_ms": pct(f.first_reply_ms, 50),
                   "first_reply_p95_ms": pct(f.first_reply_ms, 95),
                   "barge_in_p50_ms": pct(f.barge_in_ms, 50),
                   "barge_in_p95_ms": pct(f.barge_in_ms, 95)}
        print("  " + prev.against(f.channel, figures))
        prev.keep(f.channel, figures, load=os.getloadavg()[0], note=f"{args.turns} turns")
    if args.record:
        print(f"recorded {prev.save()} rows in {prev.path}")


if __name__ == "__main__":
    main()
