"""One load method for every channel: N real-time callers against a real ``callport serve``.

The server is a ``callport serve`` child process (``bench/loadgen/server.py``): the real
``Runtime`` and ``CallSession`` with Silero VAD (shared 32 ms tick) and the turn detector, the
echo flow (``server.flow``) through the pacer, the real channel driver on loopback sockets.
Callers run in their own generator processes (``bench/loadgen/caller.py``): espeak-ng speech
with pauses, 20 ms µ-law frames paced on the monotonic clock, over the channel's own wire
protocol (``bench/loadgen/channels.py``: Twilio signed webhook + Media Streams WebSocket; SIP
INVITE/ACK/BYE + RTP). Each N gets a fresh server; a warm-up call loads the model first.

Printed per N, over the measured window (after a 1 s settle):

- ``cpu-ms/call-s``: the server process's user+system CPU (all threads) / call-seconds;
- ``calls/core``: 1000 / that;
- ``returned``: frames echoed back / frames sent (matched by content);
- ``lat p50/p95/p99``: frame sent -> its echo received at the generator, ms (loopback, the
  server's receive + session + pacer + send, and the generator's own read delay);
- ``pacer p99``: |spacing of the server pacer's consecutive sends - 20 ms| p99, ms (send
  times from an outbound tap in the server, ``loadgen/pacing.py``). With no playout buffer at
  the far end (SIP, ``lead_ms`` 0) the pacer keeps a 20 ms grid and this is its jitter; on
  the WebSocket channels (80 ms lead) an echoed frame leaves as soon as it arrives, so this
  follows the caller's own arrival spacing;
- ``rx-jit p99``: |spacing of echoed frames at the generator - 20 ms| p99, ms;
- ``gen-late p99``: the generator's own lateness sending frames; over ``--max-late-ms`` the
  row is marked INVALID (it measured the generator, not the server);
- ``vad batch``: mean calls per VAD inference, from the server's ``callport_vad_batch_size``;
- ``gen-cpu``: the generators' own CPU over the window, in cores (on a small machine they
  compete with the server for the same cores);
- ``loop``: the share of the server's CPU spent in its main thread, the event loop (the
  rest: worker threads, VAD inference above all);
- ``gc>10ms``: the server's garbage collections that paused it over 10 ms during the run
  (``callport_gc_pause_seconds``; each one stops every call's frames).

A row breaks real time when under 99 % of the audio came back or its p99 latency is over
``--rt-ms``; the first such N among the valid rows is printed at the end.

At the end each valid row is printed against the previous figures of the same channel and N
(``bench/previous.json``, ``previous.py``: ``new / previous``); ``--record`` makes this run's
valid rows the previous ones (Silero rows only: the file holds the Silero figures).

    python bench/bench_load.py --channel twilio|sip [--calls 10,50,100] [--seconds 10]
        [--procs 0 (auto)] [--vad silero|webrtc] [--record]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import server as srv
from loadgen.audio import pcm16_frames, speech_pcm, ulaw_frames
from loadgen.caller import Plan, Result, worker
from previous import Previous

CHANNELS = ("twilio", "telnyx", "sip", "browser")
# Calls one generator process carries by default. The JSON channels cost the generator more
# per frame (base64 + JSON both ways): at 25 calls a process, its own read delay was most of
# the measured latency (Twilio, 50 calls, 2 processes: p50 22-55 ms, generator late; 4: 0.7 ms).
CALLS_PER_PROC = {"twilio": 12, "telnyx": 12, "sip": 30, "browser": 30}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def batch_totals(metrics: str) -> tuple[float, float]:
    """(sum, count) of the server's ``callport_vad_batch_size`` histogram."""
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith("callport_vad_batch_size_sum "):
            total = float(line.split()[1])
        elif line.startswith("callport_vad_batch_size_count "):
            count = float(line.split()[1])
    return total, count


def long_gc_pauses(metrics: str, over_s: float = 0.01) -> float:
    """Garbage collection pauses longer than ``over_s`` so far (``callport_gc_pause_seconds``:
    its count less the bucket at ``over_s``); NaN from a server without that metric."""
    count, at = float("nan"), 0.0
    for line in metrics.splitlines():
        if line.startswith(f'callport_gc_pause_seconds_bucket{{le="{over_s:g}"}} '):
            at = float(line.split()[1])
        elif line.startswith("callport_gc_pause_seconds_count "):
            count = float(line.split()[1])
    return count - at


def pacer_jitter(calls: list[list[float]], window: tuple[float, float]) -> list[float]:
    """|spacing of consecutive pacer sends - 20 ms| in ms, inside the window, every call."""
    lo, hi = window
    out: list[float] = []
    for times in calls:
        sent = np.asarray([t for t in times if lo <= t <= hi])
        if len(sent) > 2:
            out += (np.abs(np.diff(sent) - 0.020) * 1000).tolist()
    return out


def run_calls(server: srv.Server, channel: str, n: int, seconds: float, procs: int,
              frames: list[bytes]) -> tuple[Result, float, float, tuple[float, float]]:
    """N calls in ``procs`` generator processes; (merged result, server CPU s, its loop
    thread's CPU s, window)."""
    ctx = multiprocessing.get_context("spawn")
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    pipes, children, first = [], [], 0
    for count in per:
        if not count:
            continue
        parent, child = ctx.Pipe()
        plan = Plan(channel, server.base, server.sip_port, first, count, n, frames,
                    server.telnyx_private)
        proc = ctx.Process(target=worker, args=(plan, child), daemon=True)
        proc.start()
        pipes.append(parent)
        children.append(proc)
        first += count
    for pipe in pipes:
        if not pipe.poll(120):
            raise SystemExit("a generator did not get its calls up within 120 s")
        if (said := pipe.recv()) != "ready":
            raise SystemExit(said)
    start = time.monotonic() + 0.3
    lo, hi = start + 1.0, start + 1.0 + seconds
    for pipe in pipes:
        pipe.send((start, lo, hi))
    time.sleep(max(0.0, lo - time.monotonic()))
    cpu0, loop0 = server.cpu_s(), server.loop_cpu_s()
    time.sleep(max(0.0, hi - time.monotonic()))
    cpu1, loop1 = server.cpu_s(), server.loop_cpu_s()
    total = Result()
    for pipe, proc in zip(pipes, children, strict=True):
        if not pipe.poll(seconds + 60):
            raise SystemExit("a generator did not report")
        part: Result = pipe.recv()
        proc.join(10)
        total.sent += part.sent
        total.matched += part.matched
        total.failed += part.failed
        total.errors += part.errors
        total.cpu_s += part.cpu_s
        total.late_ms += part.late_ms
        total.latency_ms += part.latency_ms
        total.jitter_ms += part.jitter_ms
    return total, cpu1 - cpu0, loop1 - loop0, (lo, hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channel", choices=CHANNELS, required=True)
    ap.add_argument("--calls", default="10,50,100")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--procs", type=int, default=0,
                    help="generator processes (0: 1 per 12 calls on Twilio/Telnyx, 1 per 30 on "
                    "SIP/browser)")
    ap.add_argument("--vad", default="silero", choices=["silero", "webrtc"])
    ap.add_argument("--max-late-ms", type=float, default=5.0)
    ap.add_argument("--rt-ms", type=float, default=60.0)
    ap.add_argument("--record", action="store_true",
                    help="keep this run's valid rows as the previous figures (bench/previous.json)")
    args = ap.parse_args()
    prev = Previous.load("bench_load")
    ratios: list[str] = []
    frames = (pcm16_frames(speech_pcm(16000)) if args.channel == "browser"
              else ulaw_frames(speech_pcm()))
    print(f"bench_load: channel={args.channel} vad={args.vad} {args.seconds:.0f} s window, "
          f"{len(frames) * 0.02:.1f} s speech loop; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'N':>5} {'cpu-ms/call-s':>13} {'calls/core':>10} {'returned':>8} "
          f"{'lat p50':>8} {'p95':>7} {'p99':>7} {'pacer p99':>9} {'rx-jit p99':>10} "
          f"{'gen-late p99':>12} "
          f"{'vad batch':>9} {'gen-cpu':>7} {'loop':>5} {'gc>10ms':>7} {'failed':>6}  note")
    broke: int | None = None
    for n in [int(x) for x in args.calls.split(",")]:
        server = srv.start(calls=n, vad=args.vad)
        try:
            run_calls(server, args.channel, 1, 1.0, 1, frames)  # warm-up: model, imports
            procs = args.procs or max(1, math.ceil(n / CALLS_PER_PROC[args.channel]))
            before = server.metrics()
            sum0, count0 = batch_totals(before)  # the warm-up call's batches
            result, cpu_s, loop_s, window = run_calls(server, args.channel, n, args.seconds, procs,
                                              frames)
            after = server.metrics()
            sum1, count1 = batch_totals(after)
            gc_long = long_gc_pauses(after) - long_gc_pauses(before)
            batch = (sum1 - sum0) / (count1 - count0) if count1 > count0 else float("nan")
            time.sleep(1.0)  # the calls' ends: their send times are written
            pacer = pacer_jitter(server.send_times(), window)
        finally:
            server.stop()
        call_s = result.sent * 0.02
        per = cpu_s * 1000 / call_s if call_s else float("nan")
        returned = result.matched / result.sent if result.sent else 0.0
        late = pct(result.late_ms, 99)
        p99 = pct(result.latency_ms, 99)
        notes = []
        if result.errors:
            notes.append(f"set-up failed: {result.errors[0]}")
        valid = late <= args.max_late_ms
        if not valid:
            notes.append(f"INVALID: generator late {late:.1f} ms p99")
        if returned < 0.99 or not p99 <= args.rt_ms:
            notes.append("breaks real time")
            if valid:
                broke = n if broke is None else broke
        print(f"{n:>5} {per:>13.2f} {1000 / per:>10.0f} {returned:>8.1%} "
              f"{pct(result.latency_ms, 50):>8.2f} {pct(result.latency_ms, 95):>7.2f} "
              f"{p99:>7.2f} {pct(pacer, 99):>9.2f} {pct(result.jitter_ms, 99):>10.2f} "
              f"{late:>12.2f} {batch:>9.1f} {result.cpu_s / (window[1] - window[0]):>7.0%} "
              f"{loop_s / cpu_s if cpu_s else 0.0:>5.0%} "
              f"{'-' if math.isnan(gc_long) else f'{gc_long:.0f}':>7} "
              f"{result.failed:>6}  {'; '.join(notes)}", flush=True)
        if valid and args.vad == "silero":
            row = f"{args.channel} N={n}"
            figures = {"cpu_ms_per_call_s": per, "returned_pct": 100 * returned,
                       "lat_p50_ms": pct(result.latency_ms, 50),
                       "lat_p95_ms": pct(result.latency_ms, 95), "lat_p99_ms": p99,
                       "pacer_p99_ms": pct(pacer, 99)}
            ratios.append(prev.against(row, figures))
            prev.keep(row, figures, load=os.getloadavg()[0])
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; first N that breaks "
          f"real time: {broke if broke is not None else 'none of the valid rows'} (invalid rows "
          "are not counted)")
    print("against the previous figures (new / previous; valid Silero rows):")
    for line in ratios or ["(no valid Silero rows)"]:
        print("  " + line)
    if args.record:
        print(f"recorded {prev.save()} rows in {prev.path}")


if __name__ == "__main__":
    main()
