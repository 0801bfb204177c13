"""Audio hot-path costs: microseconds per 20 ms frame.

Run: ``python bench/bench_audio.py``. Prints one table: G.711 encode/decode (ours vs stdlib
``audioop`` when present, and the ratio), streaming resampling per rate pair, re-framing,
and the DTMF detector. Each figure is the best of several repeats of many calls.
"""

from __future__ import annotations

import sys
import timeit
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from callport.audio.frame import Reframer
from callport.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callport.audio.resample import StreamResampler
from callport.audio.tones import DtmfDetector, dtmf_sequence


def _audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


def per_call_us(fn: Callable[[], object], number: int = 2000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def row(name: str, ours: float, ref: float | None = None) -> None:
    if ref is None:
        print(f"{name:<38} {ours:>9.2f} {'-':>9} {'-':>7}")
    else:
        print(f"{name:<38} {ours:>9.2f} {ref:>9.2f} {ours / ref:>6.2f}x")


def main() -> None:
    rng = np.random.default_rng(0)
    frame8 = (rng.standard_normal(160) * 4000).astype(np.int16)
    bytes8 = frame8.tobytes()
    ulaw = ulaw_encode(frame8)
    alaw = alaw_encode(frame8)
    ao = _audioop()
    print(f"{'per 20 ms frame':<38} {'ours µs':>9} {'audioop':>9} {'ratio':>7}")
    print("-" * 66)
    cases: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        ("ulaw encode (160 samples)", lambda: ulaw_encode(frame8), None),
        ("ulaw decode", lambda: ulaw_decode(ulaw), None),
        ("alaw encode", lambda: alaw_encode(frame8), None),
        ("alaw decode", lambda: alaw_decode(alaw), None),
    ]
    if ao is not None:
        refs = [
            lambda: ao.lin2ulaw(bytes8, 2),
            lambda: ao.ulaw2lin(ulaw, 2),
            lambda: ao.lin2alaw(bytes8, 2),
            lambda: ao.alaw2lin(alaw, 2),
        ]
        cases = [(n, f, r) for (n, f, _), r in zip(cases, refs, strict=True)]
    for name, fn, ref in cases:
        row(name, per_call_us(fn), None if ref is None else per_call_us(ref))
    # bytes -> int16 -> bytes as a channel really does it (decode + frombuffer/tobytes)
    row("ulaw decode+encode round trip", per_call_us(lambda: ulaw_encode(ulaw_decode(ulaw))))

    for a, b in [
        (8000, 16000),
        (16000, 8000),
        (22050, 8000),
        (22050, 16000),
        (24000, 8000),
        (16000, 48000),
        (48000, 16000),
        (48000, 8000),
    ]:
        r = StreamResampler(in_rate=a, out_rate=b)
        chunk = (rng.standard_normal(a // 50) * 4000).astype(np.int16)
        row(
            f"resample {a}->{b} HQ (lat {r.latency_ms:.0f} ms)",
            per_call_us(partial(r.process, chunk), number=1000),
        )

    reframer = Reframer(frame_samples=160)
    odd = (rng.standard_normal(147) * 4000).astype(np.int16)  # 147 samples in, 160 out
    row("reframe 147 -> 160 samples", per_call_us(lambda: reframer.push(odd)))

    for rate in (8000, 16000):
        det = DtmfDetector(sample_rate=rate)
        n = rate // 50
        signal = dtmf_sequence("1234567890", sample_rate=rate)
        frames = [signal[i : i + n] for i in range(0, signal.size - n + 1, n)]
        state = {"i": 0}

        def feed(
            det: DtmfDetector = det,
            frames: list[np.ndarray] = frames,
            state: dict[str, int] = state,
        ) -> None:
            i = state["i"] = (state["i"] + 1) % len(frames)
            det.feed(frames[i], i * 0.02)

        row(f"dtmf detect {rate} Hz (tones)", per_call_us(feed, number=1000))
        quiet = DtmfDetector(sample_rate=rate)
        noise = (rng.standard_normal(n) * 3000).astype(np.int16)
        row(f"dtmf detect {rate} Hz (noise)", per_call_us(partial(quiet.feed, noise, 0.0)))


if __name__ == "__main__":
    main()
