"""Speech stack latency: Whisper per utterance, Piper and espeak-ng time to first audio.

Whisper: ~10 task-manager utterances synthesized with Piper (and espeak-ng), decoded at
16 kHz and after an 8 kHz G.711 mu-law round trip; prints median / p90 latency and word
errors for three decoding setups (no prompt, the default domain prompt, hotwords) on the
same audio, so the prompt's effect is measured rather than assumed.

TTS: for each reply, time to first audio (first clause ready) and real-time factor
(synthesis time / audio duration), clause chunking on vs one chunk per sentence.

    python bench/bench_speech.py [--utterances 10] [--skip-espeak-stt]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time

import numpy as np
import soxr

from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.speech.base import TTS
from callport.speech.espeak import EspeakTTS
from callport.speech.piper import PiperTTS
from callport.speech.whisper import DEFAULT_PROMPT, WhisperSTT

UTTERANCES = [
    "add a task to buy milk tomorrow",
    "add a task to call the dentist on friday",
    "mark the report task as done",
    "what are my tasks for today",
    "delete the task about the car",
    "remind me to pay rent next monday",
    "add a task to water the plants",
    "read my tasks",
    "change the dentist task to thursday",
    "yes please",
    "no thanks that is all",
    "add a high priority task to send the invoice",
]
REPLIES = [
    "Done.",
    "Your task has been added.",
    "I added buy milk to your list for tomorrow morning, and you have two other tasks today.",
    "You have three tasks: call the dentist at 3:30 PM, pay rent, which is due on March 3, "
    "and send the invoice for $1,250, which is overdue.",
    "Okay. Say add a task, list my tasks, or mark a task as done. What would you like to do?",
]
WORDS = re.compile(r"[a-z']+")


def word_errors(reference: str, hypothesis: str) -> int:
    ref, hyp = WORDS.findall(reference.lower()), WORDS.findall(hypothesis.lower())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def speak(tts: TTS, text: str) -> np.ndarray:
    return np.concatenate([c.pcm async for c in tts.synthesize(text)])


def phone_line(pcm: np.ndarray, rate: int) -> np.ndarray:
    narrow = np.clip(soxr.resample(pcm, rate, 8000), -32768, 32767).astype(np.int16)
    return ulaw_decode(ulaw_encode(narrow))


async def bench_tts(name: str, tts: TTS, sentence_tts: TTS) -> None:
    """``sentence_tts`` is the same engine with clause cutting off (one chunk a sentence)."""
    print(f"\n== {name} TTS ({tts.sample_rate} Hz) ==")
    print(f"{'reply':<42} {'clauses':>7} {'TTFA ms':>8} {'1-chunk':>8} {'audio s':>8} {'RTF':>6}")
    ttfas, whole = [], []
    for reply in REPLIES:
        started = time.perf_counter()
        first = None
        n = 0
        audio = 0
        async for chunk in tts.synthesize(reply):
            if first is None:
                first = time.perf_counter() - started
            n += 1
            audio += chunk.pcm.size
        total = time.perf_counter() - started
        # Same reply as one chunk per sentence (no clause cut): what TTFA would be without it.
        started = time.perf_counter()
        async for _chunk in sentence_tts.synthesize(reply):
            break
        one = time.perf_counter() - started
        seconds = audio / tts.sample_rate
        ttfas.append(first or 0.0)
        whole.append(one)
        print(f"{reply[:40]:<42} {n:>7} {1000 * (first or 0):>8.0f} {1000 * one:>8.0f} "
              f"{seconds:>8.2f} {total / seconds:>6.3f}")
    print(f"median TTFA {1000 * statistics.median(ttfas):.0f} ms with clauses, "
          f"{1000 * statistics.median(whole):.0f} ms sentence-at-a-time")


async def bench_stt(voice: str, tts: TTS, utterances: list[str]) -> None:
    setups = {
        "no prompt": WhisperSTT(prompt=None),
        "prompt": WhisperSTT(prompt=DEFAULT_PROMPT),
        "hotwords": WhisperSTT(prompt=None, hotwords="task tasks"),
    }
    audio = []
    for text in utterances:
        pcm = await speak(tts, text.capitalize() + ".")
        wide = soxr.resample(pcm, tts.sample_rate, 16000).astype(np.int16)
        audio.append((text, wide, phone_line(pcm, tts.sample_rate)))
    ref_words = sum(len(WORDS.findall(t)) for t in utterances)
    print(f"\n== Whisper tiny.en on {voice} audio: {len(utterances)} utterances, "
          f"{ref_words} words ==")
    print(f"{'setup':<10} {'line':<10} {'median ms':>9} {'p90 ms':>7} {'WER %':>6} {'exact':>6}")
    for label, stt in setups.items():
        for line, index, rate in (("16k", 1, 16000), ("8k mu-law", 2, 8000)):
            latencies, errors, exact, misses = [], 0, 0, []
            for item in audio:
                started = time.perf_counter()
                result = await stt.transcribe(item[index], rate)  # type: ignore[arg-type]
                latencies.append(time.perf_counter() - started)
                e = word_errors(item[0], result.text)
                errors += e
                exact += e == 0
                if e:
                    misses.append(f"{item[0]!r} -> {result.text!r}")
            print(f"{label:<10} {line:<10} {1000 * statistics.median(latencies):>9.0f} "
                  f"{1000 * pct(latencies, 0.9):>7.0f} {100 * errors / ref_words:>6.1f} "
                  f"{exact:>3}/{len(audio)}")
            for miss in misses[:4]:
                print(f"{'':<22}{miss}")
        rng = np.random.default_rng(0)
        noise = [rng.normal(0, level, 16000).astype(np.int16) for level in (100, 300, 1000, 3000)]
        heard = [(await stt.transcribe(clip, 16000)).text for clip in noise]
        print(f"{label:<10} noise      {sum(bool(h) for h in heard)}/{len(noise)} clips gave words "
              f"{[h for h in heard if h]}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=10)
    parser.add_argument("--skip-espeak-stt", action="store_true")
    args = parser.parse_args()
    utterances = UTTERANCES[: args.utterances]

    started = time.perf_counter()
    piper = PiperTTS(threads=1)
    await piper.warmup()
    print(f"piper voice load + first clause: {time.perf_counter() - started:.2f} s")
    espeak = EspeakTTS()
    started = time.perf_counter()
    await WhisperSTT().warmup()
    print(f"whisper model load + first decode: {time.perf_counter() - started:.2f} s")

    await bench_tts("Piper (1 thread)", piper, PiperTTS(threads=1, long_chars=10_000))
    await bench_tts("espeak-ng", espeak, EspeakTTS(long_chars=10_000))
    await bench_stt("Piper", piper, utterances)
    if not args.skip_espeak_stt:
        await bench_stt("espeak-ng", espeak, utterances)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
