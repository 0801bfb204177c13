"""Both VAD engines and the turn detector on real synthesized speech (espeak-ng)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.audio.resample import resample
from callport.vad.base import VadEngine
from callport.vad.silero import SileroVad
from callport.vad.turn import SpeechStarted, TurnDetector, TurnEnded, TurnEvent
from callport.vad.webrtc import WebRtcVad

pytestmark = pytest.mark.slow

PAD = 0.6
TEXT = "Add a task to buy milk tomorrow morning, then call the dentist."


class Utterance:
    def __init__(self, pcm: np.ndarray, rate: int, start: float, end: float) -> None:  # type: ignore[type-arg]
        self.pcm, self.rate, self.start, self.end = pcm, rate, start, end


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:  # type: ignore[type-arg]
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(tmp_path_factory.mktemp("espeak")) / "utterance.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(out), TEXT], check=True, timeout=30)
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def padded(spoken: tuple[np.ndarray, int], rate: int) -> Utterance:  # type: ignore[type-arg]
    pcm, source_rate = spoken
    speech = resample(pcm, source_rate, rate)
    loud = np.nonzero(np.abs(speech.astype(np.int32)) > 0.02 * np.abs(speech).max())[0]
    silence = np.zeros(int(PAD * rate), dtype=np.int16)
    return Utterance(
        np.concatenate([silence, speech, silence]),
        rate,
        start=PAD + loud[0] / rate,
        end=PAD + loud[-1] / rate,
    )


def detect(vad: VadEngine, utt: Utterance) -> tuple[list[tuple[float, TurnEvent]], list[float]]:
    """Feed 20 ms frames like a leg does; events paired with the media time they fired."""
    stream = vad.new_stream(utt.rate)
    detector = TurnDetector()
    frame = utt.rate // 50
    events: list[tuple[float, TurnEvent]] = []
    silent_probs: list[float] = []
    for i in range(0, utt.pcm.size, frame):
        stream.push(utt.pcm[i : i + frame])
        for score in vad.score([stream])[0]:
            if score.at < utt.start - 0.05 or score.at > utt.end + 0.6:
                silent_probs.append(score.prob)
            events += [(score.at, e) for e in detector.feed(score)]
    return events, silent_probs


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize("engine", ["silero", "webrtc"])
def test_one_turn_found_where_the_speech_is(
    spoken: tuple[np.ndarray, int],  # type: ignore[type-arg]
    rate: int,
    engine: str,
) -> None:
    utt = padded(spoken, rate)
    assert utt.end - utt.start > 2.0  # espeak said the whole sentence
    vad: VadEngine = SileroVad() if engine == "silero" else WebRtcVad(aggressiveness=2)
    events, silent_probs = detect(vad, utt)

    kinds = [type(e).__name__ for _, e in events]
    assert kinds.count("SpeechStarted") == 1 and kinds.count("TurnEnded") == 1, kinds
    assert "SpeechDiscarded" not in kinds  # nothing in the silence
    (started,) = [e for _, e in events if isinstance(e, SpeechStarted)]
    assert abs(started.at - utt.start) <= 0.1

    ((ended_when, ended),) = [(t, e) for t, e in events if isinstance(e, TurnEnded)]
    assert ended.started_at == started.at
    assert utt.end - 0.1 <= ended.ended_at <= utt.end + 0.3
    assert ended_when >= utt.end + 0.5  # reported only after end_of_turn_ms of quiet
    assert max(silent_probs) < 0.35


def test_silero_on_noisy_mulaw_phone_audio(spoken: tuple[np.ndarray, int]) -> None:  # type: ignore[type-arg]
    """White noise at 10 dB SNR through G.711 µ-law: still one turn, nothing in the noise."""
    utt = padded(spoken, 8000)
    speech_rms = float(
        np.sqrt(np.mean(utt.pcm.astype(np.float64) ** 2))
        * np.sqrt(utt.pcm.size / (utt.pcm.size - 2 * PAD * 8000))
    )
    noise = np.random.default_rng(7).normal(0.0, speech_rms / 10 ** (10 / 20), utt.pcm.size)
    noisy = np.clip(utt.pcm + noise, -32768, 32767).astype(np.int16)
    utt.pcm = ulaw_decode(ulaw_encode(noisy))
    events, _ = detect(SileroVad(), utt)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "BargeIn", "TurnEnded"], kinds
    started, ended = events[0][1], events[2][1]
    assert isinstance(started, SpeechStarted) and abs(started.at - utt.start) <= 0.1
    assert isinstance(ended, TurnEnded) and utt.end - 0.1 <= ended.ended_at <= utt.end + 0.3
