"""End to end: synthesized speech for a whole Task Manager conversation through
`callport talk --phone` (8 kHz mu-law both ways), the real embedded stack (Silero VAD,
Whisper tiny.en, MiniLM intents, SQLite, Piper replies).

Checks the store after the call, the intents, and the reply audio transcribed back.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callport.audio.wav import read_wav, write_wav

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
TURNS: list[dict[str, Any]] = tomllib.loads((HERE / "requests.toml").read_text())["turn"]
EXPECTED_INTENTS = [
    "add", "add", "add", "add", "list", "complete", "yes", "reschedule", "delete", "yes",
    "delete", "no", None, "help", "add", "list", "goodbye",
]


@dataclass
class Conversation:
    turns: list[dict[str, Any]]
    output: np.ndarray
    rate: int
    tasks: list[dict[str, Any]]
    started: datetime


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callport.cli", *args],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )


async def _synthesize(texts: list[str], folder: Path) -> list[Path]:
    from callport.speech.piper import PiperTTS

    tts = PiperTTS(deterministic=True)  # the same caller audio every run
    paths = []
    for i, text in enumerate(texts):
        chunks = [c.pcm async for c in tts.synthesize(text)]
        path = folder / f"turn{i:02d}.wav"
        write_wav(path, np.concatenate(chunks), tts.sample_rate)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    folder = tmp_path_factory.mktemp("talk")
    wavs = asyncio.run(_synthesize([t["say"] for t in TURNS], folder))
    env = {**os.environ, "CALLPORT_DB": str(folder / "tasks.db"), "CALLPORT_CONFIG": "",
           "CALLPORT_SPEECH_PIPER_VARIATION": "false"}
    out = folder / "agent.wav"
    started = datetime.now()
    proc = _cli("talk", "--phone", "--json", "--out", str(out), *map(str, wavs), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    listed = _cli("tasks", "list", "--all", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    pcm, rate = read_wav(out)
    return Conversation(result["turns"], pcm, rate, json.loads(listed.stdout), started)


def _task(conv: Conversation, word: str) -> dict[str, Any] | None:
    found = [t for t in conv.tasks if word in t["title"].lower()]
    return found[0] if found else None


def _next_weekday(today: date, weekday: int) -> date:
    ahead = (weekday - today.weekday()) % 7
    return today + timedelta(days=ahead or 7)


def test_every_turn_was_heard_and_understood(conversation: Conversation) -> None:
    assert len(conversation.turns) == len(TURNS)
    intents = [t.get("intent") for t in conversation.turns]
    right = sum(a == b for a, b in zip(intents, EXPECTED_INTENTS, strict=True))
    assert right >= len(TURNS) - 1, list(zip(intents, EXPECTED_INTENTS, strict=True))
    assert all(t["transcript"] for t in conversation.turns)


def test_store_reflects_the_conversation(conversation: Conversation) -> None:
    today = conversation.started.date()
    heard = [(t.get("transcript"), t.get("intent"), t.get("reply")) for t in conversation.turns]
    milk = _task(conversation, "milk")
    assert milk is not None and milk["done"] is True, heard
    dentist = _task(conversation, "dentist")
    assert dentist is not None and not dentist["done"]
    due = datetime.fromisoformat(dentist["due"])
    assert (due.date(), due.hour) == (today + timedelta(days=1), 10)  # rescheduled
    assert _task(conversation, "plants") is None  # deleted after "yes"
    rent = _task(conversation, "rent")
    assert rent is not None  # "no" kept it
    assert datetime.fromisoformat(rent["due"]).date() == _next_weekday(today, 0)
    flight = _task(conversation, "flight")
    assert flight is not None
    assert datetime.fromisoformat(flight["due"]).date() == today + timedelta(days=3)


def test_reply_audio_says_the_expected_words(conversation: Conversation) -> None:
    from callport.speech.whisper import WhisperSTT

    stt = WhisperSTT()
    misses = []
    for spec, turn in zip(TURNS, conversation.turns, strict=True):
        start, end = turn["reply_audio_s"]
        clip = conversation.output[int(start * conversation.rate) : int(end * conversation.rate)]
        assert len(clip) > 0.3 * conversation.rate, f"no reply audio for {spec['say']!r}"
        heard = stt.transcribe_sync(clip, conversation.rate).text.lower()
        missing = [w for w in spec["reply_has"] if w not in heard]
        if missing:
            misses.append((spec["say"], turn["reply"], heard, missing))
    # tiny.en on 8 kHz telephone audio sometimes drops a clause; the words must come through
    # in all but two of the sixteen replies (and the store checks above are exact).
    assert len(misses) <= 2, misses


def test_timing_breakdown_is_reported(conversation: Conversation) -> None:
    for turn in conversation.turns:
        timing = turn["timing_ms"]
        assert timing["stt"] > 0 and timing["endpoint"] >= 400
        assert timing["end_of_speech_to_first_audio"] is not None
