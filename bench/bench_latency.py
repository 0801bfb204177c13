"""End of caller speech -> first reply audio, by stage, for the embedded stack.

Synthesizes the Task Manager conversation of tests/e2e/requests.toml with Piper, runs it
through the same CallSession as a phone call (``run_talk``, 8 kHz mu-law both ways, in real
time so speculative STT during the caller's pause counts as it would live) on a
throwaway database, and prints per turn: endpointing delay (the end-of-turn silence, media
time), STT, agent (intent + store), TTS time to first clause, and the total, then medians.

    python bench/bench_latency.py [--pcm]   # --pcm: 16 kHz linear instead of phone audio
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import tomllib
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from callport.config import load_settings
from callport.server.runtime import build_runtime
from callport.talk import run_talk

ROOT = Path(__file__).resolve().parents[1]


async def main_async(phone: bool) -> None:
    turns = tomllib.loads((ROOT / "tests/e2e/requests.toml").read_text())["turn"]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, env={"CALLPORT_DB": str(Path(tmp) / "bench.db")})
        runtime = build_runtime(settings)
        print("loading models...", flush=True)
        await runtime.warmup()
        tts = runtime.tts
        inputs = []
        for t in turns:
            chunks = [c.pcm async for c in tts.synthesize(t["say"])]
            inputs.append((np.concatenate(chunks), tts.sample_rate))
        result = await run_talk(runtime, inputs, phone=phone, realtime=True)
    header = f"{'request':<48} {'endpt':>6} {'stt':>6} {'agent':>6} {'tts':>6} {'total':>7}"
    print(header)
    print("-" * len(header))
    totals, stages = [], {"endpoint": [], "stt": [], "agent": [], "tts": []}
    for spec, turn in zip(turns, result.turns, strict=False):
        r = turn.record
        if r is None or r.first_audio_ms is None:
            print(f"{spec['say'][:48]:<48} (no reply)")
            continue
        totals.append(r.first_audio_ms)
        for key, value in (("endpoint", r.endpoint_ms), ("stt", r.stt_ms),
                           ("agent", r.agent_ms), ("tts", r.tts_ms)):
            stages[key].append(value)
        print(f"{spec['say'][:48]:<48} {r.endpoint_ms:>6.0f} {r.stt_ms:>6.0f} {r.agent_ms:>6.0f} "
              f"{r.tts_ms:>6.0f} {r.first_audio_ms:>7.0f}")
    print("-" * len(header))
    med = {k: statistics.median(v) for k, v in stages.items() if v}
    print(f"{'median (ms)':<48} {med['endpoint']:>6.0f} {med['stt']:>6.0f} {med['agent']:>6.0f} "
          f"{med['tts']:>6.0f} {statistics.median(totals):>7.0f}")
    print(f"end of speech -> first reply audio: median {statistics.median(totals):.0f} ms, "
          f"p90 {sorted(totals)[int(0.9 * (len(totals) - 1))]:.0f} ms over {len(totals)} turns "
          f"({'8 kHz mu-law' if phone else '16 kHz PCM'}); target <= 1000 ms median")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pcm", action="store_true", help="16 kHz PCM instead of 8 kHz mu-law")
    args = ap.parse_args()
    asyncio.run(main_async(phone=not args.pcm))


if __name__ == "__main__":
    main()
