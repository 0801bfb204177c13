"""Browser channel bench: mouth-to-ear latency in echo mode and client VAD cost per frame.

Headless Debian Chromium with a fake microphone (espeak-ng speech) calls the channel in echo
mode (browser -> server -> browser). The page records its microphone frames and what its
playback path outputs, both stamped on the AudioContext clock; the delay of each 1 s speech
window between the two is the mouth-to-ear latency (minus real device latencies, which a
fake device does not have). WebRTC runs in a private network namespace (needs root and
``unshare``). Client VAD cost: time per Silero v5 frame (32 ms of audio) in onnxruntime-web
WASM, single-threaded, measured inside the page.

    python bench/bench_browser.py [--seconds 10] [--no-webrtc]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "browser")]

from browser_harness import synth_wav  # noqa: E402
from browser_netns_run import run_echo_call, run_in_netns  # noqa: E402

SENTENCES = [
    "Testing the browser channel, one two three.",
    "The quick brown fox jumps over the lazy dog.",
    "Add a task to buy milk tomorrow, and call the dentist on Friday.",
]


def describe(values: list[float]) -> str:
    if not values:
        return "no windows matched"
    a = np.asarray(values)
    return (f"median {np.median(a):6.1f}  p10 {np.percentile(a, 10):6.1f}  "
            f"p90 {np.percentile(a, 90):6.1f}  max {a.max():6.1f}  (n={len(a)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--no-webrtc", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        synth_wav(wav, SENTENCES, lead_s=0.8, gap_s=0.8, tail_s=0.8)
        print(f"chromium headless, fake mic, echo mode, {args.seconds:.0f} s per run, "
              f"{os.cpu_count()} cores")
        print("\nmouth-to-ear (capture -> server -> playback output), ms per 1 s window")
        ws = asyncio.run(run_echo_call("ws", wav, args.seconds))
        print(f"  websocket  {describe(ws['window_delays_ms'])}   server r={ws['r']:.3f}")
        if args.no_webrtc:
            pass
        elif shutil.which("unshare") and os.geteuid() == 0:
            rtc = run_in_netns(["echo", "webrtc", str(wav), "--seconds", str(args.seconds)],
                               timeout=args.seconds + 90)
            print(f"  webrtc     {describe(rtc['window_delays_ms'])}   server r={rtc['r']:.3f}")
        else:
            print("  webrtc     skipped (needs root and unshare for a network namespace)")
        gated = asyncio.run(run_echo_call("ws", wav, args.seconds, gate=True))
        vad = np.asarray(gated["vad_ms"][1:])  # the first frame pays for warm-up
        print("\nclient VAD (Silero v5, onnxruntime-web WASM, 1 thread), ms per 32 ms frame")
        if len(vad):
            print(f"  p50 {np.percentile(vad, 50):.2f}  p90 {np.percentile(vad, 90):.2f}  "
                  f"p99 {np.percentile(vad, 99):.2f}  max {vad.max():.2f}  (n={len(vad)}); "
                  f"mean {vad.mean():.2f} = {100 * vad.mean() / 32:.1f} % of one core; "
                  f"first frame {gated['vad_ms'][0]:.1f}")
        else:
            print("  no frames timed (vendor assets missing? run scripts/fetch_web_assets.sh)")
        print(f"  gated upload: server got {gated['seconds_received']:.1f} s "
              f"(speech + filled silence) of {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
