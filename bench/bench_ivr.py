"""The IVR classifier on callers' own words: examples/ivr/acme.toml's main menu judged on
phrasings that are in none of its examples (written apart from the menu, below), each spoken
by Piper and by espeak-ng, sent down an 8 kHz mu-law phone line, transcribed by the real
Whisper at 8 kHz with the menu's hints, then decided by ``Understanding`` as a call would.

    python bench/bench_ivr.py [--only piper|espeak]

Counted: routed right (picked outright, or asked back about the right option: "Did you want
billing?" and the caller says yes), asked about the wrong one (the caller says no; not a
wrong route), no match (the ladder reprompts), and wrong routes taken without asking (target 0).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import audioop
import sys
import time
from pathlib import Path

import numpy as np
import soxr

from callport.call.understand import Confirm, Picked, Understanding, WhichOne
from callport.flows.ivr import load_ivr

ACME = Path(__file__).resolve().parent.parent / "examples" / "ivr" / "acme.toml"

# Evaluation phrasings: new wordings, none of them in the menu's examples.
PHRASES: dict[str, list[str]] = {
    "sales": [
        "I'd like a quote for twenty licenses", "what would a business plan cost me",
        "I want to purchase your premium package", "can someone tell me your prices",
        "I'm thinking of buying one for my office", "do you have any discounts right now",
        "I'd like to order a few more units", "who can I talk to about a new contract",
        "I want to sign up as a new customer", "how much is the annual subscription",
        "put me through to the sales department", "I'd like to buy another one",
        "I want to talk to someone about pricing",
    ],
    "support": [
        "my router won't turn on", "the app keeps crashing when I log in",
        "I can't get my printer to connect", "the screen went black and stays black",
        "my internet has been down since this morning", "I'm getting an error when I pay",
        "something is wrong with my order it never arrived working",
        "the device makes a strange noise",
        "I forgot my password and can't get in", "it stopped syncing yesterday",
        "I need someone to help me troubleshoot", "the update broke everything",
        "my account is locked",
    ],
    "my tasks": [
        "what's on my to-do list today", "add call the dentist to my list",
        "read me my reminders", "I want to hear my tasks", "put pick up groceries on my list",
        "what do I still need to get done", "mark the report as done",
        "what tasks are due tomorrow", "I'd like to manage my to-dos",
        "check my list please", "add a reminder to water the plants",
        "go through my tasks with me",
    ],
    "leave a message": [
        "can I leave a voicemail", "I'd like to record a message for them",
        "just take a message please", "I want to leave a note for the team",
        "let me leave a message for the owner", "I'll leave my number so they can call back",
        "can you pass a message along", "please record what I say",
        "I want to leave a recorded message", "nobody's there so I'll leave a message",
        "can I drop a quick voice message",
    ],
    "operator": [
        "let me talk to a real human being", "can I speak with an actual person",
        "put me through to the front desk", "I want the receptionist",
        "get me someone who works there", "I'd rather talk to a person",
        "connect me to a staff member", "is there a live person I can speak to",
        "give me the switchboard", "I need to speak to somebody now",
        "transfer me to a human please",
    ],
}


def phone_line(pcm: np.ndarray, rate: int) -> np.ndarray:
    narrow = np.clip(soxr.resample(pcm, rate, 8000), -32768, 32767).astype(np.int16)
    coded = audioop.lin2ulaw(narrow.tobytes(), 2)
    return np.frombuffer(audioop.ulaw2lin(coded, 2), dtype=np.int16)


async def speak(tts: object, text: str) -> tuple[np.ndarray, int]:
    chunks = [c async for c in tts.synthesize(text)]  # type: ignore[attr-defined]
    return np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["piper", "espeak"])
    args = parser.parse_args()
    from callport.speech.espeak import EspeakTTS
    from callport.speech.whisper import WhisperSTT

    voices: dict[str, object] = {}
    if args.only in (None, "piper"):
        from callport.speech.piper import PiperTTS

        voices["piper"] = PiperTTS(threads=1)
    if args.only in (None, "espeak"):
        voices["espeak"] = EspeakTTS()
    stt = WhisperSTT(threads=2)
    ivr = load_ivr(ACME)
    menu = ivr.menus["main"]
    examples = {p.lower() for o in menu.options for p in o.choice.phrases}
    leaked = [p for ps in PHRASES.values() for p in ps if p.lower() in examples]
    assert not leaked, f"evaluation phrasings found among the menu's examples: {leaked}"
    understanding = Understanding(choices=[o.choice for o in menu.options])
    understanding.warm()
    hints = tuple(p for o in menu.options for p in (o.choice.spoken, *o.choice.phrases))
    total = right = asked_wrong = unmatched = wrong_routes = 0
    started = time.perf_counter()
    for voice, tts in voices.items():
        for expected, phrases in PHRASES.items():
            for phrase in phrases:
                pcm, rate = await speak(tts, phrase)
                heard = (await stt.transcribe(phone_line(pcm, rate), 8000, hints=hints)).text
                decision = understanding.words(heard)
                total += 1
                verdict = "no match"
                match decision:
                    case Picked(choice=choice) if choice.name == expected:
                        right, verdict = right + 1, "right"
                    case Picked(choice=choice):
                        wrong_routes, verdict = wrong_routes + 1, f"WRONG ROUTE {choice.name}"
                    case Confirm(choice=choice) if choice.name == expected:
                        right, verdict = right + 1, "asked, right"
                    case WhichOne(first=a, second=b) if expected in (a.name, b.name):
                        right, verdict = right + 1, "which one, right"
                    case Confirm() | WhichOne():
                        asked_wrong, verdict = asked_wrong + 1, "asked, wrong"
                    case _:
                        unmatched += 1
                print(f"{voice:6} {expected:15} {phrase!r:55} heard {heard!r:55} {verdict}",
                      flush=True)
    seconds = time.perf_counter() - started
    print(f"\n{total} spoken phrasings ({', '.join(voices)}; 8 kHz mu-law; Whisper tiny.en), "
          f"{seconds:.0f} s")
    print(f"accuracy: {right / total:.1%} routed right ({right}/{total}); asked about the "
          f"wrong option {asked_wrong}; no match {unmatched}; "
          f"wrong routes without asking: {wrong_routes}")
    return 0 if wrong_routes == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
