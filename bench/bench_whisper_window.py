"""Whisper's encoder window against word errors: ``bench_understanding.stt_eval`` (the corpus's
distinct caller turns, Piper and espeak-ng at 8 kHz mu-law, the product prompt and hints) run
once per ``speech.whisper_window_s`` value given, with ``WhisperSTT(window_s=W)``.

    .venv/bin/python bench/bench_whisper_window.py [--corpus bench/dev/taskmanager_dev.json]
        30 20 15 10

Tune on the dev set (bench/dev/), then check the chosen window on the held-out corpus.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_understanding as bu
import callport.speech.whisper as whisper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=bu.CORPUS)
    ap.add_argument("windows", nargs="+", type=float)
    args = ap.parse_args()
    corpus = bu.load_corpus(args.corpus)
    product = whisper.WhisperSTT.__init__
    for window in args.windows:
        def init(self: whisper.WhisperSTT, *a: object, _w: float = window, **k: object) -> None:
            k.setdefault("window_s", _w)
            product(self, *a, **k)  # type: ignore[arg-type]

        whisper.WhisperSTT.__init__ = init  # type: ignore[method-assign]
        print(f"== window {window:g} s on {args.corpus}", flush=True)
        started = time.perf_counter()
        bu.stt_eval(corpus, [bu.Voice("piper"), bu.Voice("espeak")], ["tiny.en"], None)
        print(f"{time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
