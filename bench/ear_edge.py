"""Where the end of turn starts, offline on spoken corpus audio: the VAD's fall against the
audio's energy (``turn.end_lookback_ms``), and when the speculative STT pass starts.

Every caller turn of a Task Manager set (``--set dev``: bench/dev, the tuning set; ``--set
corpus``: bench/corpus, held out) is spoken by Piper and by espeak-ng, put through an 8 kHz
mu-law phone line (cached WAVs), padded with 0.6 s of line quiet before and 1.5 s after, and,
with ``--noise``, hiss added (``-60`` dBFS, or ``snr20``: 20 dB below the speech). The real
Silero VAD scores it in 20 ms frames as a call delivers them; each setting replays the same
scores and audio through the real ``SessionCore`` and ``TurnDetector`` (``[turn]`` defaults)
in simulated media time. Printed per setting, against the true end of the speech (last
10 ms over int16 RMS 300, as bench_ear trims its requests):

- turns: utterances heard as exactly one turn, as more than one (a pause inside the
  utterance ended the turn), as none (lost);
- pause start - true end: where the end-of-turn silence is counted from (p5/p50/p95 ms; a
  negative figure is a start before the last sound);
- decided - true end: when the turn ended (what the caller waits for before STT/agent);
- early STT: speculative passes started per utterance, how many were wasted (the caller
  went on), and the head start the reused pass had when the turn ended (its decode time
  within that is hidden).

    python bench/ear_edge.py [--set dev|corpus] [--noise -60|snr20] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path[:0] = [str(Path(__file__).resolve().parent)]

from ear_common import SPEECH_RMS  # noqa: E402

BENCH = Path(__file__).resolve().parent
SETS = {
    "dev": BENCH / "dev" / "taskmanager_dev.json",
    "corpus": BENCH / "corpus" / "taskmanager.json",
}
RATE = 8000
FRAME = RATE // 50
LEAD_S, TRAIL_S = 0.6, 1.5
LOOKBACKS = (0, 100, 150, 200)  # turn.end_lookback_ms settings compared
EARLY_CUTS = (0.25, 0.2, 0.15)  # speculative cut after this much pause (with lookback 150)
Pcm = NDArray[np.int16]


def texts(name: str, limit: int) -> list[str]:
    cases = json.loads(SETS[name].read_text())["cases"]
    out = [t for c in cases for t in c["turns"]]
    return out[:limit] if limit else out


def _cache(voice: str) -> Path:
    from callport.config import data_dir

    path = data_dir() / "bench" / "ear_edge" / voice
    path.mkdir(parents=True, exist_ok=True)
    return path


def spoken(voice: str, text: str) -> Pcm:
    """``text`` spoken by ``voice`` on an 8 kHz mu-law line (cached)."""
    from callport.audio.g711 import ulaw_decode, ulaw_encode
    from callport.audio.resample import resample

    path = _cache(voice) / (hashlib.sha1(text.encode()).hexdigest()[:16] + ".wav")
    if path.is_file():
        with wave.open(str(path)) as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if voice == "piper":
        from callport.speech.piper import PiperTTS

        tts: object = PiperTTS(threads=1)
    else:
        from callport.speech.espeak import EspeakTTS

        tts = EspeakTTS()

    async def run() -> tuple[Pcm, int]:
        chunks = [c async for c in tts.synthesize(text)]  # type: ignore[attr-defined]
        return np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate

    pcm, rate = asyncio.run(run())
    pcm = ulaw_decode(ulaw_encode(resample(pcm, rate, RATE)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return pcm


def true_end(pcm: Pcm) -> float:
    hop = RATE // 100
    frames = pcm[: pcm.size // hop * hop].reshape(-1, hop).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > SPEECH_RMS)
    return float((loud[-1] + 1) * hop / RATE) if loud.size else 0.0


def line(pcm: Pcm, noise: str, rng: np.random.Generator) -> Pcm:
    audio = np.concatenate(
        [np.zeros(int(LEAD_S * RATE), np.int16), pcm, np.zeros(int(TRAIL_S * RATE), np.int16)]
    ).astype(np.float64)
    if noise:
        speech = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
        level = speech / 10.0 if noise == "snr20" else 32768.0 * 10.0 ** (float(noise) / 20.0)
        audio += rng.normal(0.0, level, audio.size)
    return np.clip(audio, -32768, 32767).astype(np.int16)


@dataclass(slots=True)
class Tally:
    one: int = 0
    split: int = 0
    lost: int = 0
    start_ms: list[float] = field(default_factory=list)
    decided_ms: list[float] = field(default_factory=list)
    early: int = 0
    wasted: int = 0
    head_ms: list[float] = field(default_factory=list)


def replay(
    audio: Pcm,
    scores: Sequence[Sequence[object]],
    end: float,
    lookback_ms: int,
    early_cut_s: float,
    tally: Tally,
) -> None:
    from callport.call.turns import PauseReady, SessionCore, TurnReady
    from callport.config import TurnSettings
    from callport.vad.turn import TurnDetector

    t = TurnSettings()
    detector = TurnDetector(
        start_threshold=t.start_threshold,
        stop_threshold=t.stop_threshold,
        min_speech_ms=t.min_speech_ms,
        end_of_turn_ms=t.end_of_turn_ms,
        barge_in_ms=t.barge_in_ms,
        end_lookback_ms=lookback_ms,
    )
    core = SessionCore(sample_rate=RATE, frame_ms=20, turn=detector, early_cut_s=early_cut_s)
    turns: list[TurnReady] = []
    pauses: list[PauseReady] = []
    for k, frame_scores in enumerate(scores):
        at = (k + 1) * FRAME / RATE
        core.audio(audio[k * FRAME : (k + 1) * FRAME], at)
        for event in core.scores(frame_scores, wall=at):  # type: ignore[arg-type]
            if isinstance(event, TurnReady):
                turns.append(event)
            elif isinstance(event, PauseReady):
                pauses.append(event)
    if not turns:
        tally.lost += 1
        return
    if len(turns) == 1:
        tally.one += 1
    else:
        tally.split += 1
    last = turns[-1].utterance
    tally.start_ms.append((last.ended_at - end) * 1000.0)
    tally.decided_ms.append((last.detected_at - end) * 1000.0)
    tally.early += len(pauses)
    used = [
        p
        for p in pauses
        if p.utterance.ended_at == last.ended_at and p.utterance.started_at == last.started_at
    ]
    tally.wasted += len(pauses) - len(used)
    if used:
        tally.head_ms.append((last.detected_at - used[-1].utterance.detected_at) * 1000.0)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SETS), default="dev")
    ap.add_argument("--noise", default="", help="hiss: a dBFS level (-60) or snr20")
    ap.add_argument("--limit", type=int, default=0, help="first N caller turns only")
    ap.add_argument("--voices", default="piper,espeak")
    args = ap.parse_args()
    from callport.vad.silero import SileroVad

    vad = SileroVad()
    rng = np.random.default_rng(18)
    settings = [(lb, EARLY_CUTS[0]) for lb in LOOKBACKS] + [(150, c) for c in EARLY_CUTS[1:]]
    tallies = {s: Tally() for s in settings}
    phrases = texts(args.set, args.limit)
    voices = [v for v in args.voices.split(",") if v]
    for voice in voices:
        for text in phrases:
            pcm = spoken(voice, text)
            end = LEAD_S + true_end(pcm)
            audio = line(pcm, args.noise, rng)
            stream = vad.new_stream(RATE)
            scores = [
                vad.process(stream, audio[i : i + FRAME])
                for i in range(0, audio.size - FRAME + 1, FRAME)
            ]
            for (lookback, cut), tally in tallies.items():
                replay(audio, scores, end, lookback, cut, tally)
    n = len(phrases) * len(voices)
    print(
        f"set {args.set}: {len(phrases)} caller turns x {len(voices)} voices = {n} "
        f"utterances; noise: {args.noise or 'none (line quiet)'}"
    )
    print(
        f"{'lookback ms':>11} {'early cut':>9} {'one':>4} {'split':>5} {'lost':>4}  "
        f"{'pause start - end p5/p50/p95':>29}  {'decided - end p50/p95':>22}  "
        f"{'early/utt':>9} {'wasted':>6} {'head start p50/p5':>18}"
    )
    for (lookback, cut), t in tallies.items():
        print(
            f"{lookback:>11} {cut * 1000:>9.0f} {t.one:>4} {t.split:>5} {t.lost:>4}  "
            f"{pct(t.start_ms, 5):>9.0f} {pct(t.start_ms, 50):>9.0f} {pct(t.start_ms, 95):>9.0f}"
            f"  {pct(t.decided_ms, 50):>11.0f} {pct(t.decided_ms, 95):>10.0f}  "
            f"{t.early / max(1, n):>9.2f} {t.wasted:>6} {pct(t.head_ms, 50):>9.0f} "
            f"{pct(t.head_ms, 5):>8.0f}"
        )


if __name__ == "__main__":
    main()
