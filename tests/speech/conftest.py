"""Speech engines, built once per test session (models load lazily, once per process)."""

from __future__ import annotations

import shutil

import pytest

from callport.speech.espeak import EspeakTTS
from callport.speech.piper import PiperTTS
from callport.speech.whisper import WhisperSTT


@pytest.fixture(scope="session")
def piper_tts() -> PiperTTS:
    pytest.importorskip("piper")
    return PiperTTS(threads=1)


@pytest.fixture(scope="session")
def espeak_tts() -> EspeakTTS:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    return EspeakTTS()


@pytest.fixture(scope="session")
def whisper_stt() -> WhisperSTT:
    pytest.importorskip("faster_whisper")
    return WhisperSTT(threads=2)
