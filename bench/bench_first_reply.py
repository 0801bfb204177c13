"""First-reply latency: end of the caller's speech to the first reply audio, on the FIRST
turn of a fresh process, with the models warmed before it (what `callport serve` and
`callport talk` do now) and cold (loaded by the first turn, as before).

Each run is a fresh interpreter (so nothing is cached in memory), a spoken espeak-ng request
through `run_talk` (the same CallSession a call uses), three turns: the first turn's figure
against the later turns' shows what loading costs. Prints medians per mode.

    .venv/bin/python bench/bench_first_reply.py [RUNS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, json, sys
from dataclasses import replace
from pathlib import Path
from callport.audio.decode import read_audio
from callport.config import load_settings
from callport.server.runtime import build_runtime
from callport.talk import run_talk

async def main(wav, db, warm):
    s = load_settings(None)
    s = replace(s, server=replace(s.server, db=db))
    rt = build_runtime(s)
    if warm:
        await rt.warmup()
    pcm = read_audio(Path(wav))
    result = await run_talk(rt, [pcm, pcm, pcm], turn_timeout_s=600.0)
    print(json.dumps([t.record.first_audio_ms if t.record else None for t in result.turns]))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "warm"))
"""


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "q.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav),
                        "what is on my list today"], check=True)
        for mode in ("warm", "cold"):
            first: list[float] = []
            later: list[float] = []
            for n in range(runs):
                out = subprocess.run([sys.executable, "-c", CHILD, str(wav),
                                      str(Path(tmp) / f"{mode}{n}.db"), mode],
                                     capture_output=True, text=True, check=True)
                turns = json.loads(out.stdout.strip().splitlines()[-1])
                first.append(turns[0])
                later.extend(t for t in turns[1:] if t is not None)
            print(f"{mode:>4}: first turn median {statistics.median(first):6.0f} ms "
                  f"(runs {', '.join(f'{x:.0f}' for x in first)}); later turns median "
                  f"{statistics.median(later):6.0f} ms; first/later "
                  f"{statistics.median(first) / statistics.median(later):.2f}x")


if __name__ == "__main__":
    main()
