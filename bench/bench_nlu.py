"""NLU figures: embedding latency (one BLAS thread) and intent accuracy on the labelled set.

    python bench/bench_nlu.py            # OMP/OPENBLAS threads are pinned to 1 below
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import statistics
import time
from collections import Counter
from pathlib import Path

from callport.agents.taskmanager.examples import build_classifier
from callport.nlu import embed

CASES = Path(__file__).resolve().parent.parent / "tests" / "taskmanager" / "intent_cases.json"
SENTENCES = [
    "add a task to buy milk tomorrow at 3 pm",
    "what's on my list",
    "yes",
    "reschedule call the plumber for next monday at 10 am please",
]


def main() -> None:
    t0 = time.perf_counter()
    embed.load()
    print(f"model load: {(time.perf_counter() - t0) * 1000:.0f} ms")
    for text in SENTENCES:
        embed.embed([text])
        runs = []
        for _ in range(30):
            t = time.perf_counter()
            embed.embed([text])
            runs.append((time.perf_counter() - t) * 1000)
        print(f"embed 1 sentence ({len(text.split()):2d} words): median "
              f"{statistics.median(runs):5.1f} ms  p90 {sorted(runs)[26]:5.1f} ms")
    t = time.perf_counter()
    embed.embed(SENTENCES * 8)
    print(f"embed batch of 32: {(time.perf_counter() - t) * 1000 / 32:.1f} ms per sentence")

    classifier = build_classifier()
    t = time.perf_counter()
    classifier.warm()
    print(f"classifier warm-up (embed examples): {(time.perf_counter() - t) * 1000:.0f} ms")
    cases = json.loads(CASES.read_text())["cases"]
    errors: Counter[str] = Counter()
    times = []
    for text, want in cases:
        t = time.perf_counter()
        got = classifier.classify(text).intent
        times.append((time.perf_counter() - t) * 1000)
        if got != want:
            errors[f"{want} -> {got}"] += 1
            print(f"  miss: {text!r}: want {want}, got {got}")
    right = len(cases) - sum(errors.values())
    print(f"intent accuracy: {right}/{len(cases)} = {right / len(cases):.1%} "
          f"(classify median {statistics.median(times):.1f} ms)")


if __name__ == "__main__":
    main()
