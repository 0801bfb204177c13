"""``[speech]`` and ``[turn]`` settings: STT/TTS engines and turn detection (part of
``callport.config``, which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechSettings:
    stt: str = "whisper"  # whisper
    tts: str = "auto"  # auto (piper, else espeak), piper, espeak
    whisper_threads: int = 2
    stt_workers: int = 1  # Whisper decodes at once (of different calls), each on whisper_threads
    stt_batch: int = 1  # utterances of different calls waiting at once decoded in one batch
    # Whisper's encoder input in seconds (30: Whisper's own window); shorter costs less
    # (bench/README.md, "Whisper's encoder window"); longer utterances go through 30 s.
    whisper_window_s: float = 20.0
    tts_threads: int = 1
    espeak_voice: str = "en-us"
    piper_variation: bool = True  # false: identical text renders identically (tests, benches)

    def problems(self) -> list[str]:
        out = []
        if self.stt not in {"whisper"}:
            out.append(f"speech.stt={self.stt!r}: supported: whisper")
        if self.tts not in {"auto", "piper", "espeak"}:
            out.append(f"speech.tts={self.tts!r}: use auto, piper or espeak")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSettings:
    vad: str = "silero"  # silero, webrtc
    start_threshold: float = 0.5
    stop_threshold: float = 0.35
    min_speech_ms: int = 120
    end_of_turn_ms: int = 500
    barge_in_ms: int = 160
    # the end of turn counts from where the caller audio's energy ended, at most this long
    # before the VAD's score fell (Silero lags ~106 ms at 8 kHz); 0: from the VAD's fall
    end_lookback_ms: int = 150

    def problems(self) -> list[str]:
        out = []
        if self.vad not in {"silero", "webrtc"}:
            out.append(f"turn.vad={self.vad!r}: use silero or webrtc")
        if not 0.0 < self.stop_threshold <= self.start_threshold < 1.0:
            out.append("turn: need 0 < stop_threshold <= start_threshold < 1")
        return out
