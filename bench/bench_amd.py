"""Answering-machine detection (``callport.audio.amd`` through ``callport.flows.amd.AmdTap``,
the product path: WebRTC VAD + detector on 20 ms frames) on synthetic answers.

    python bench/bench_amd.py [--per-class 24] [--seed 7] [--only piper|espeak]

Machine greetings are composed from templates (opener, who, apology, request, sometimes a
callback promise) and end, after a pause, in a beep of random pitch (450-1800 Hz) and length
(0.2-1.0 s); a few have a silent lead-in. Human answers are composed pick-ups (a hello,
sometimes a name or a question: "Yes? | Who's this?", "Hey. | Okafor residence.") after
0.2-1.2 s; for some, a wait of 0.5-1.5 s for the caller and a second phrase ("|" in the text),
then the line stays quiet while they wait. Every text is spoken by Piper (en_US) and by
espeak-ng, made 8 kHz mu-law phone audio, with faint line noise.

Machine is the positive class: precision = machines called machines / all called machines,
recall = machines called machines / all machines ("unknown" counts as not machine). Also
printed: how often the beep was found, and whether the message would start after the beep
(never over the greeting).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "src"))

OPENERS = ["Hi, you've reached", "Hello, this is", "You have reached", "Hey, it's",
           "Thanks for calling", "Hi there, you've got"]
WHO = ["Maria", "the Chen family", "Tom and Alice", "Dr. Patel's office", "Jordan",
       "Riverside Plumbing", "Sam Okafor", "the front desk"]
SORRY = ["I can't take your call right now.", "we're not available at the moment.",
         "I'm away from the phone.", "nobody can come to the phone.",
         "sorry I missed you.", ""]
ASK = ["Please leave your name and number after the tone.",
       "Leave a message and I'll get back to you.",
       "Please leave a brief message after the beep.",
       "Leave your details and we will call you back.",
       "Record your message at the tone."]
PROMISE = ["", "", "Thanks, and have a great day.", "I'll call you back as soon as I can.",
           "Our office hours are nine to five."]
HELLO = ["Hello?", "Hello.", "Hi?", "Yeah?", "Yes?", "Hey.", "Good morning.",
         "Good afternoon.", "Mm, hello?", "Sorry, hello?", "Hello there."]
TAIL = ["", "", "", "Who's this?", "Speaking.", "This is Dana.", "Mark speaking.",
        "Who is calling?", "It's Priya.", "Okafor residence.", "Can I help you?"]


def machine_texts(n: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        parts = [f"{rng.choice(OPENERS)} {rng.choice(WHO)}.", rng.choice(SORRY),
                 rng.choice(ASK), rng.choice(PROMISE)]
        seen.add(" ".join(p for p in parts if p))
    return sorted(seen)


def human_texts(n: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(" | ".join(p for p in (rng.choice(HELLO), rng.choice(TAIL)) if p))
    return sorted(seen)


class Voices:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tts: Any = None

    async def say(self, text: str) -> Any:
        import hashlib

        from bench_understanding import phone_line
        from callport.config import data_dir

        cache = data_dir() / "bench" / "amd" / self.name
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / (hashlib.sha1(text.encode()).hexdigest()[:16] + ".npy")
        if path.is_file():
            return np.load(path)
        if self._tts is None:
            if self.name == "piper":
                from callport.speech.piper import PiperTTS

                self._tts = PiperTTS(threads=1)
            else:
                from callport.speech.espeak import EspeakTTS

                self._tts = EspeakTTS()
        chunks = [c async for c in self._tts.synthesize(text)]
        gap = np.zeros(int(chunks[0].sample_rate * 0.12), dtype=np.int16)
        pcm = np.concatenate([x for c in chunks for x in (c.pcm, gap)])
        out = phone_line(pcm, chunks[0].sample_rate)
        np.save(path, out)
        return out


def silence(s: float) -> Any:
    return np.zeros(int(s * 8000), dtype=np.int16)


def beep(hz: float, s: float) -> Any:
    t = np.arange(int(s * 8000)) / 8000
    return (np.sin(2 * np.pi * hz * t) * 9000).astype(np.int16)


def classify(pcm: Any) -> tuple[Any, float | None, bool]:
    """(verdict, beep_at, message_ready_at) through the product's AmdTap."""
    from callport.audio.amd import AmdSettings
    from callport.call.taps import Direction, TapFrame
    from callport.flows.amd import AmdTap

    tap = AmdTap(settings=AmdSettings())
    ready_at = None
    for i in range(0, len(pcm) - 159, 160):
        at = (i + 160) / 8000
        tap.on_frame(TapFrame(Direction.IN, pcm[i:i + 160], 8000, at, at))
        d = tap.detector
        if d is not None and d.message_ready and ready_at is None:
            ready_at = at
    assert tap.detector is not None
    return tap.detector.verdict, tap.detector.beep_at, ready_at


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=["piper", "espeak"])
    args = parser.parse_args()
    rng = random.Random(args.seed)
    noise = np.random.default_rng(args.seed)
    machines, humans = machine_texts(args.per_class, rng), human_texts(args.per_class, rng)
    rows: list[tuple[str, str, str, Any, float | None, float | None, float]] = []
    started = time.perf_counter()
    for name in [args.only] if args.only else ["piper", "espeak"]:
        voice = Voices(name)
        for kind, texts in (("machine", machines), ("human", humans)):
            for text in texts:
                if kind == "human":  # a hello, a wait for the caller, maybe more words
                    said = [await voice.say(part) for part in text.split(" | ")]
                    speech = said[0]
                    for more in said[1:]:
                        speech = np.concatenate([speech, silence(rng.uniform(0.5, 1.5)),
                                                 more])
                else:
                    speech = await voice.say(text)
                lead = rng.uniform(0.2, 1.2) if kind == "human" or rng.random() < 0.7 \
                    else rng.uniform(1.5, 2.5)
                parts = [silence(lead), speech]
                end = 0.0
                if kind == "machine":
                    parts += [silence(rng.uniform(0.2, 0.9))]
                    end = sum(len(p) for p in parts) / 8000
                    parts += [beep(rng.uniform(450, 1800), rng.uniform(0.2, 1.0))]
                parts += [silence(6.0)]
                pcm = np.concatenate(parts)
                pcm = np.clip(pcm + noise.normal(0, 40, len(pcm)), -32768, 32767).astype(
                    np.int16)
                verdict, beep_at, ready_at = classify(pcm)
                rows.append((name, kind, text, verdict, beep_at, ready_at, end))
    tp = sum(1 for r in rows if r[1] == "machine" and r[3].result.value == "machine")
    fp = sum(1 for r in rows if r[1] == "human" and r[3].result.value == "machine")
    fn = sum(1 for r in rows if r[1] == "machine" and r[3].result.value != "machine")
    machines_n = sum(1 for r in rows if r[1] == "machine")
    humans_n = len(rows) - machines_n
    beeps = sum(1 for r in rows if r[1] == "machine" and r[4] is not None)
    after = sum(1 for r in rows if r[1] == "machine" and r[5] is not None and r[5] > r[6])
    unknown = sum(1 for r in rows if r[3].result.value == "unknown")
    for name, kind, text, verdict, *_ in rows:
        if verdict.result.value != kind:
            print(f"  miss [{name}] {kind} -> {verdict.result.value} ({verdict.reason}): {text}")
    human_at = [r[3].at for r in rows if r[1] == "human" and r[3].result.value == "human"]
    machine_at = [r[3].at for r in rows if r[1] == "machine" and r[3].result.value == "machine"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    print(f"answers: {machines_n} machine greetings with beeps, {humans_n} human answers "
          f"({len(machines)} + {len(humans)} texts x voices)")
    print(f"machine precision {precision:.3f}  recall {recall:.3f}  "
          f"(tp {tp}, fp {fp}, fn {fn}, unknown {unknown})")
    print(f"beep found {beeps}/{machines_n}; message would start after the greeting "
          f"{after}/{machines_n}")
    if human_at and machine_at:
        print(f"decision time (media s, median): human {median(human_at):.2f}, "
              f"machine {median(machine_at):.2f}")
    print(f"wall {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
