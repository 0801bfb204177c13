"""The IVR classifier on callers' own words: a menu's main options judged on phrasings that are
in none of its examples (kept in a JSON file apart from the menu), each spoken by Piper and by
espeak-ng, sent down an 8 kHz mu-law phone line, transcribed by the real Whisper at 8 kHz with
the menu's hints, then decided by ``Understanding`` as a call would.

    python bench/bench_ivr.py [--phrases bench/corpus/ivr_acme.json] [--only piper|espeak]
    python bench/bench_ivr.py --phrases bench/corpus/ivr_clinic.json
    python bench/bench_ivr.py --text [--phrases FILE]     # no speech: the phrasing as heard

The phrasings file names its menu (``"menu"``, relative to the repository) and lists phrasings
per option name. ``bench/corpus/ivr_*.json`` are held-out test sets (never tuned on);
``bench/dev/ivr_*.json`` are the tuning sets. Synthesised audio is cached like
``bench_understanding.py``'s, so reruns only pay for STT.

Counted: routed right (picked outright, or asked back about the right option: "Did you want
billing?" and the caller says yes), asked about the wrong option (the caller says no; not a
wrong route), no match (the ladder reprompts), and wrong routes taken without asking (target 0).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

from bench_understanding import Voice
from callport.call.understand import (
    Confirm,
    Decision,
    Picked,
    Understanding,
    WhichOne,
    stt_hints,
)
from callport.flows.ivr import load_ivr

ROOT = Path(__file__).resolve().parent.parent
ACME = ROOT / "bench" / "corpus" / "ivr_acme.json"


_KIND = {"right": "right", "asked, right": "right", "which one, right": "right",
         "asked, wrong": "asked wrong", "no match": "no match"}


def verdict(decision: Decision, expected: str) -> str:
    """What a call would do with ``decision`` when the caller meant ``expected``."""
    match decision:
        case Picked(choice=choice) if choice.name == expected:
            return "right"
        case Picked(choice=choice):
            return f"WRONG ROUTE {choice.name}"
        case Confirm(choice=choice) if choice.name == expected:
            return "asked, right"
        case WhichOne(first=a, second=b) if expected in (a.name, b.name):
            return "which one, right"
        case Confirm() | WhichOne():
            return "asked, wrong"
    return "no match"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phrases", type=Path, default=ACME)
    parser.add_argument("--only", choices=["piper", "espeak"])
    parser.add_argument("--text", action="store_true", help="no speech: the phrasing as heard")
    parser.add_argument("--quiet", action="store_true", help="print only the totals")
    parser.add_argument("--sure-heard", type=float,
                        help="override Understanding.sure_heard (tuning on a dev set)")
    args = parser.parse_args()
    data = json.loads(args.phrases.read_text())
    phrases: dict[str, list[str]] = data["phrases"]
    ivr = load_ivr(ROOT / data["menu"])
    menu = ivr.menus[ivr.start]
    examples = {p.lower() for o in menu.options for p in o.choice.phrases}
    leaked = [p for ps in phrases.values() for p in ps if p.lower() in examples]
    assert not leaked, f"evaluation phrasings found among the menu's examples: {leaked}"
    unknown = set(phrases) - {o.choice.name for o in menu.options}
    assert not unknown, f"phrasings for options the menu does not have: {unknown}"
    understanding = Understanding(choices=[o.choice for o in menu.options])
    if args.sure_heard is not None:
        understanding.sure_heard = args.sure_heard
    understanding.warm()
    hints = stt_hints(understanding.choices)
    voices: list[Voice | None] = [None]
    stt = None
    if not args.text:
        from callport.speech.whisper import WhisperSTT

        voices = [Voice(n) for n in ([args.only] if args.only else ["piper", "espeak"])]
        stt = WhisperSTT(threads=2)
    counts: dict[str, Counter[str]] = {}
    started = time.perf_counter()
    for voice in voices:
        name = voice.name if voice else "text"
        tally = counts[name] = Counter()
        for expected, said in phrases.items():
            for phrase in said:
                heard, confidence = phrase, None
                if voice is not None and stt is not None:
                    pcm = await voice.audio(phrase)
                    got = await stt.transcribe(pcm, 8000, hints=hints)
                    heard, confidence = got.text, got.confidence
                outcome = verdict(understanding.words(heard, heard=confidence), expected)
                tally[_KIND.get(outcome, "wrong route")] += 1
                if not args.quiet:
                    print(f"{name:6} {expected:15} {phrase!r:55} heard {heard!r:55} "
                          f"(stt {confidence or 0:.2f}) {outcome}", flush=True)
    seconds = time.perf_counter() - started
    mode = "text as heard" if args.text else "8 kHz mu-law; Whisper tiny.en"
    print(f"\n{args.phrases.name}: {data['menu']} ({mode}), {seconds:.0f} s")
    if len(counts) > 1:
        counts["both"] = sum(counts.values(), Counter())
    for name, t in counts.items():
        total = sum(t.values())
        print(f"{name:6} routed right {t['right']}/{total} ({t['right'] / total:.1%}); asked "
              f"about the wrong option {t['asked wrong']}; no match {t['no match']}; "
              f"wrong routes without asking: {t['wrong route']}")
    wrong_routes = sum(t["wrong route"] for n, t in counts.items() if n != "both")
    return 0 if wrong_routes == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
