"""Piper and espeak-ng produce clause-chunked, non-silent PCM16 at 22050 Hz."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callport.speech.base import SpeechChunk
from callport.speech.espeak import EspeakError, EspeakTTS, parse_wav
from callport.speech.piper import PiperTTS

LONG = ("I have added the task buy milk to your list, and I set it for tomorrow "
        "morning at nine, but you can change it later. Anything else?")
CLAUSES = [
    "I have added the task buy milk to your list,",
    "and I set it for tomorrow morning at nine,",
    "but you can change it later.",
    "Anything else?",
]


def _rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def _check_chunks(chunks: list[SpeechChunk], rate: int) -> None:
    assert [c.text for c in chunks] == CLAUSES
    for chunk in chunks:
        assert chunk.sample_rate == rate
        assert chunk.pcm.dtype == np.int16 and chunk.pcm.ndim == 1
        seconds = chunk.pcm.size / rate
        # ~2-4 words per second of speech; far outside that is garbage or silence
        assert 0.15 * len(chunk.text.split()) < seconds < 1.0 * len(chunk.text.split()) + 0.5
        assert _rms(chunk.pcm) > 300  # clearly audible, not silence or dither
        assert np.abs(chunk.pcm).max() < 32767  # not clipped flat


@pytest.mark.slow
async def test_piper_yields_audible_clauses(piper_tts: PiperTTS) -> None:
    assert piper_tts.sample_rate == 22050
    chunks = [c async for c in piper_tts.synthesize(LONG)]
    _check_chunks(chunks, 22050)


@pytest.mark.slow
async def test_piper_variation_off_renders_identically(piper_tts: PiperTTS) -> None:
    fixed = PiperTTS(deterministic=True)
    text = "Add a task to buy milk tomorrow."
    first = fixed.synthesize_clause(text)
    assert np.array_equal(first, fixed.synthesize_clause(text)) and _rms(first) > 300
    # with variation (the default) two renderings of one text differ, as speech does
    assert not np.array_equal(piper_tts.synthesize_clause(text), piper_tts.synthesize_clause(text))


async def test_espeak_yields_audible_clauses(espeak_tts: EspeakTTS) -> None:
    assert espeak_tts.sample_rate == 22050
    chunks = [c async for c in espeak_tts.synthesize(LONG)]
    _check_chunks(chunks, 22050)


async def test_espeak_reads_digits_as_words(espeak_tts: EspeakTTS) -> None:
    # "3:30 PM" normalised to "three thirty P M" takes longer than the bare 6 characters
    short = await espeak_tts.synthesize_clause("at 3:30 PM")
    assert short.size / 22050 > 0.8


async def test_espeak_text_starting_with_dash_is_text(espeak_tts: EspeakTTS) -> None:
    pcm = await espeak_tts.synthesize_clause("-v is not an option here")
    assert _rms(pcm) > 300


async def test_punctuation_only_gives_no_chunks(espeak_tts: EspeakTTS) -> None:
    assert [c async for c in espeak_tts.synthesize(" ... ?! ")] == []


async def test_espeak_failure_is_an_error_not_silence() -> None:
    tts = EspeakTTS(binary="false")  # a program that exits 1 with no output
    with pytest.raises(EspeakError, match="exited 1"):
        await tts.synthesize_clause("hello there")


async def test_espeak_that_ends_before_reading_its_text_is_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The program has exited (and the loop has seen it) before its text is written: uvloop
    raised RuntimeError on the closed stdin (the CI's rare failure above); now, as under
    asyncio, it is an EspeakError with the exit status."""
    real = asyncio.create_subprocess_exec

    async def exited_first(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await real(*args, **kwargs)
        await proc.wait()
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", exited_first)
    tts = EspeakTTS(binary="false")
    with pytest.raises(EspeakError, match="exited 1"):
        await tts.synthesize_clause("hello there")


def test_parse_wav_rejects_garbage() -> None:
    with pytest.raises(EspeakError):
        parse_wav(b"not a wav file at all")


def _espeak_children(*, zombies: bool = True) -> list[int]:
    """Our espeak-ng children; ``zombies=False``: only those still running (a killed child
    stays a zombie until the loop reaps it: at once under asyncio, a moment later under
    uvloop when the cancellation came while the subprocess was still being set up)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text.rsplit(")", 1)[1].split()
            name = text.split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me and name.startswith("espeak") and (zombies or fields[0] != "Z"):
            found.append(int(stat.parent.name))
    return found


async def test_cancelled_espeak_is_killed(espeak_tts: EspeakTTS) -> None:
    """Barge-in cancels synthesis: the espeak-ng child must not outlive it."""
    task = asyncio.create_task(espeak_tts.synthesize_clause("add a task to buy milk " * 400))
    for _ in range(200):
        await asyncio.sleep(0.005)
        if _espeak_children():
            break
    assert _espeak_children(), "espeak-ng never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _espeak_children(zombies=False) == []  # killed, not left speaking
    for _ in range(200):  # and reaped by the event loop (no zombie left behind)
        if not _espeak_children():
            break
        await asyncio.sleep(0.01)
    assert _espeak_children() == []
