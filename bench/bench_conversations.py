"""Conversations per machine with the embedded stack: N callers talking at once.

Each caller is a real call on the real ``Runtime`` and ``CallSession`` (Silero VAD, turn
detection, the identification gate as the owner, the Task Manager), over the memory leg in
real time (``callport.talk.run_talk(realtime=True)``: caller audio and agent playout at 1x).
Caller turns are Piper-made speech ("add a task to buy milk tomorrow", ...), spoken through the real
Whisper STT; replies are synthesized by the real Piper. Each caller speaks ``--turns``
requests after the greeting, each after hearing the whole reply to the previous one. Two
arrival patterns (``--pattern``):

* ``burst``: callers start a random 0-3 s apart and speak again as soon as the reply ends,
  so their turns end at about the same moments: the worst case for the speech queue;
* ``talking``: callers arrive at random over ``--arrive-s`` seconds and pause 0.5-1.5 s
  after each reply before speaking again, as people on the phone do.

Printed per N: callers admitted / turned away busy (``server.max_conversations``, the
speech backlog: callport.server.admission), replies received of turns spoken by admitted
callers, callers left in silence (admitted but a turn got no reply, or refused without the
busy phrase: must be 0), end-of-speech-to-first-reply-audio p50/p95 (``first_audio_ms``),
and the speech backlog's peak. Then the largest N whose admitted callers were all answered
with p95 <= 1.5 s.

    .venv/bin/python bench/bench_conversations.py [--calls 5,10,20] [--turns 2]
        [--pattern burst|talking|both] [--arrive-s 10] [--max-conversations 0]
        [--stt-workers 1] [--whisper-threads 2] [--stt-batch 1] [--whisper-window 20]
        [--record]

``--max-conversations 0`` is the automatic capacity; give a large number to see the
machine without admission. Each row is printed against the previous figures of the same
pattern and N (``bench/previous.json``: ``new / previous``); ``--record`` makes this run's
the previous ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from callport.config import load_settings
from callport.server.capacity import admission_of
from callport.server.runtime import Runtime, build_runtime
from callport.speech.jobs import speech_backlog
from callport.speech.piper import PiperTTS
from callport.talk import TalkError, run_talk
from callport.types import PCM16

sys.path.insert(0, str(Path(__file__).resolve().parent))
from previous import Previous

# Requests whose replies stay short however many callers ran before (all callers act as the
# owner, on one list: "what is on my list" would read every earlier caller's task aloud).
REQUESTS = (
    "Add a task to buy milk tomorrow.",
    "Add a task to call the dentist on Friday.",
    "Add a task to water the plants.",
    "Add a task to pay the gas bill on Monday.",
    "Add a task to book a table for dinner.",
    "Add a task to renew my passport.",
)
P95_TARGET_MS = 1500.0


@dataclass
class Figures:
    n: int
    admitted: int = 0
    busy: int = 0
    silent: int = 0
    turns: int = 0
    replies: int = 0
    latencies: list[float] = field(default_factory=list)
    stt_ms: list[float] = field(default_factory=list)
    tts_ms: list[float] = field(default_factory=list)
    backlog_peak: int = 0
    age_peak: float = 0.0
    wall_s: float = 0.0


def caller_audio() -> list[tuple[PCM16, int]]:
    voice = PiperTTS(deterministic=True)
    return [(voice.synthesize_clause(text), voice.sample_rate) for text in REQUESTS]


def with_pause(item: tuple[PCM16, int], pause_s: float) -> tuple[PCM16, int]:
    """The caller's turn after ``pause_s`` of silence (the pause after hearing a reply)."""
    pcm, rate = item
    return np.concatenate([np.zeros(round(pause_s * rate), dtype=np.int16), pcm]), rate


async def one_caller(runtime: Runtime, n: int, audio: list[tuple[PCM16, int]], turns: int,
                     figures: Figures, rng: random.Random, pattern: str,
                     arrive_s: float) -> None:
    await asyncio.sleep(rng.uniform(0.0, 3.0 if pattern == "burst" else arrive_s))
    inputs = [audio[(n + k) % len(audio)] for k in range(turns)]
    if pattern == "talking":
        inputs = [with_pause(item, rng.uniform(0.5, 1.5)) for item in inputs]
    refused_before = admission_of(runtime).refused
    try:
        result = await run_talk(runtime, inputs, realtime=True, turn_timeout_s=30.0)
    except TalkError as exc:
        if "ended before" in str(exc) and admission_of(runtime).refused > refused_before:
            figures.busy += 1  # turned away: heard the busy phrase, hung up
        else:
            figures.silent += 1
            print(f"  caller {n}: {exc}", file=sys.stderr)
        return
    if result.hangup_reason == "busy":
        figures.busy += 1
        return
    figures.admitted += 1
    answered = 0
    for turn in result.turns:
        figures.turns += 1
        heard = np.abs(turn.reply_pcm).max(initial=0) > 500 if turn.reply_pcm.size else False
        if heard and turn.record is not None and turn.record.first_audio_ms is not None:
            figures.replies += 1
            answered += 1
            figures.latencies.append(turn.record.first_audio_ms)
            figures.stt_ms.append(turn.record.stt_ms)
            figures.tts_ms.append(turn.record.tts_ms)
    if answered < len(inputs):
        figures.silent += 1


async def watch_backlog(figures: Figures, stop: asyncio.Event) -> None:
    while not stop.is_set():
        pools = speech_backlog().values()
        figures.backlog_peak = max(figures.backlog_peak, sum(b.queued for b in pools))
        figures.age_peak = max([figures.age_peak, *(b.oldest_s for b in pools)])
        await asyncio.sleep(0.05)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(n: int, runtime: Runtime, audio: list[tuple[PCM16, int]], turns: int,
              seed: int, pattern: str, arrive_s: float) -> Figures:
    figures = Figures(n=n)
    rng = random.Random(seed + n)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_backlog(figures, stop))
    started = time.monotonic()
    await asyncio.gather(*(one_caller(runtime, k, audio, turns, figures, rng, pattern, arrive_s)
                           for k in range(n)))
    figures.wall_s = time.monotonic() - started
    stop.set()
    await watcher
    return figures


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", default="5,10,20")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--max-conversations", type=int, default=0)
    ap.add_argument("--stt-workers", type=int, default=1)
    ap.add_argument("--whisper-threads", type=int, default=2)
    ap.add_argument("--stt-batch", type=int, default=1)
    ap.add_argument("--whisper-window", type=float, default=20.0)
    ap.add_argument("--pattern", choices=["burst", "talking", "both"], default="both")
    ap.add_argument("--arrive-s", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--record", action="store_true",
                    help="keep this run's figures as the previous ones (bench/previous.json)")
    args = ap.parse_args()
    prev = Previous.load("bench_conversations")
    ratios: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        s = load_settings(None)
        s = replace(s, server=replace(s.server, db=str(Path(tmp) / "bench.db"),
                                      max_conversations=args.max_conversations),
                    speech=replace(s.speech, stt_workers=args.stt_workers,
                                   whisper_threads=args.whisper_threads,
                                   stt_batch=args.stt_batch,
                                   whisper_window_s=args.whisper_window,
                                   piper_variation=False))
        runtime = build_runtime(s)
        await runtime.warmup()
        audio = caller_audio()
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, cpus {os.cpu_count()},"
              f" load {load()}, stt_workers {args.stt_workers} x {args.whisper_threads} threads,"
              f" stt_batch {args.stt_batch}, whisper window {args.whisper_window:g} s,"
              f" max_conversations {admission_of(runtime).max_conversations}")
        patterns = ["burst", "talking"] if args.pattern == "both" else [args.pattern]
        for pattern in patterns:
            print(f"\n{pattern}" + (f" (arrivals over {args.arrive_s:g} s, 0.5-1.5 s pauses)"
                                     if pattern == "talking" else " (arrivals over 3 s)"))
            print(" N | admitted | busy | silent | replies/turns | p50 ms | p95 ms | backlog "
                  "peak (oldest s) | stt/tts p50 ms | wall s | cap | load")
            best = 0
            for n in (int(x) for x in args.calls.split(",")):
                f = await run(n, runtime, audio, args.turns, args.seed, pattern, args.arrive_s)
                p50, p95 = pct(f.latencies, 0.5), pct(f.latencies, 0.95)
                print(f"{n:>2} | {f.admitted:>8} | {f.busy:>4} | {f.silent:>6} | "
                      f"{f.replies:>5}/{f.turns:<5} | {p50:6.0f} | {p95:6.0f} | "
                      f"{f.backlog_peak:>4} ({f.age_peak:4.1f}) | {pct(f.stt_ms, 0.5):5.0f}/"
                      f"{pct(f.tts_ms, 0.5):<5.0f} | {f.wall_s:5.1f} | "
                      f"{admission_of(runtime).max_conversations:>3} | {load()}", flush=True)
                row = f"{pattern} N={n}"
                figures = {"busy": f.busy, "replies": f.replies, "turns": f.turns,
                           "silent": f.silent, "reply_p50_ms": p50, "reply_p95_ms": p95}
                ratios.append(prev.against(row, figures))
                prev.keep(row, figures, load=os.getloadavg()[0],
                          note=f"{args.turns} turns, whisper window {args.whisper_window:g} s")
                if f.silent == 0 and f.replies == f.turns and p95 <= P95_TARGET_MS:
                    best = max(best, f.admitted)
            print(f"{pattern}: largest N served (every admitted caller answered, p95 <= "
                  f"{P95_TARGET_MS:.0f} ms): {best}")
        print(f"load at the end {load()}")
    print("\nagainst the previous figures (new / previous):")
    for line in ratios:
        print("  " + line)
    if args.record:
        print(f"recorded {prev.save()} rows in {prev.path}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    asyncio.run(main())
