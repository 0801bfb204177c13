"""Whisper decoding of several utterances in one CTranslate2 call (greedy, no timestamps).

faster-whisper's ``WhisperModel.transcribe`` decodes one audio at a time; this module talks
to the CTranslate2 model under it directly so that utterances of different calls share one
encoder and one ``generate`` call (:class:`callport.speech.batching.BatchJobs` gathers
them). Per utterance it does what ``transcribe`` does for a clip under 30 s with
``without_timestamps``, ``condition_on_previous_text=False`` and the temperatures
(0.0, 0.4): log-Mel features, the prompt ``<|startofprev|> prompt <|startoftranscript|>
<|en|> <|transcribe|> <|notimestamps|>``, one greedy pass, and a sampled retry at 0.4 for
an utterance whose text is too repetitive (compression ratio > 2.4) or unlikely (mean
log-probability < -1) unless Whisper rates it silence.

The encoder input need not be Whisper's 30 s (3000 frames): CTranslate2's encoder takes any
length up to that, and its cost grows with it (tiny.en, 2 threads: 283 ms for 30 s, 36 ms
for 10 s, 15 ms for 4 s). The window is fixed (``window_s``, every utterance padded to it):
fitted to each utterance plus 0.5-2 s of padding, tiny.en no longer ended its text and
repeated itself up to the length limit (WER > 500 % on the dev set); padded to 10-20 s it
transcribes as at 30 s (bench/README.md, "Whisper's encoder window").
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Decoded", "Request", "WhisperDecoder"]

FALLBACK_TEMPERATURE = 0.4
FALLBACK_HYPOTHESES = 5  # faster-whisper's best_of
COMPRESSION_RATIO_MAX = 2.4
LOG_PROB_MIN = -1.0
NO_SPEECH_SILENCE = 0.6


@dataclass(frozen=True, slots=True)
class Request:
    """One utterance: float32 audio in [-1, 1) at 16 kHz and its decoding prompt."""

    audio: NDArray[np.float32]
    prompt: str | None


@dataclass(frozen=True, slots=True)
class Decoded:
    """One utterance's text and Whisper's own scores for it (what a faster-whisper segment
    carries and ``callport.speech.whisper.segment_confidence`` reads)."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    temperature: float = 0.0


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


class WhisperDecoder:
    """Batched greedy decoding on a loaded ``faster_whisper.WhisperModel``."""

    def __init__(self, model: Any, *, beam_size: int = 1, hotwords: str | None = None,
                 window_s: float = 30.0) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._model = model
        self._ct = model.model
        self._extractor = model.feature_extractor
        self._tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                                    task="transcribe", language="en")
        self._suppress = get_suppressed_tokens(self._tokenizer, [-1])
        self._beam_size = beam_size
        self._max_length = int(model.max_length)
        self._hotwords = hotwords
        self.frames = int(self._extractor.nb_max_frames)  # what the encoder takes
        self._hop = int(self._extractor.hop_length)
        per_s = int(self._extractor.sampling_rate) // self._hop  # 100 frames a second
        # The encoder's input: a fixed window of ``window_s`` seconds (even frames for the
        # stride-2 convolution), at most the model's own 30 s.
        self.window = max(2, min(self.frames, 2 * round(window_s * per_s / 2)))

    @property
    def max_samples(self) -> int:
        """The longest utterance (16 kHz samples) one encoder window holds."""
        return self.window * self._hop

    def features(self, audio: NDArray[np.float32]) -> NDArray[np.float32]:
        """Log-Mel features (n_mels x frames) of the utterance, at most :attr:`frames`."""
        mel = self._extractor(audio)
        return np.asarray(mel[:, : min(mel.shape[-1] - 1, self.window)], dtype=np.float32)

    def prompt_tokens(self, prompt: str | None) -> list[int]:
        tok = self._tokenizer
        half = self._max_length // 2 - 1
        out: list[int] = []
        if prompt or self._hotwords:
            out.append(tok.sot_prev)
            if self._hotwords:
                out.extend(tok.encode(" " + self._hotwords.strip())[:half])
            if prompt:
                out.extend(tok.encode(" " + prompt.strip())[-half:])
        out.extend(tok.sot_sequence)
        out.append(tok.no_timestamps)
        return out

    def decode(self, requests: Sequence[Request]) -> list[Decoded]:
        """One result per request, in order, from one encoder pass for all of them."""
        if not requests:
            return []
        import ctranslate2  # type: ignore[import-untyped]

        mels = [self.features(r.audio) for r in requests]
        batch = np.zeros((len(mels), mels[0].shape[0], self.window), dtype=np.float32)
        for k, mel in enumerate(mels):
            batch[k, :, : mel.shape[-1]] = mel
        encoded = self._ct.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)
        prompts = [self.prompt_tokens(r.prompt) for r in requests]
        results = self._generate(encoded, prompts, temperature=0.0)
        retry = [k for k, d in enumerate(results) if _needs_fallback(d)]
        if retry:
            subset = _select(encoded, retry)
            again = self._generate(subset, [prompts[k] for k in retry],
                                   temperature=FALLBACK_TEMPERATURE)
            for k, decoded in zip(retry, again, strict=True):
                first = results[k]
                cands = [c for c in (first, decoded)
                         if compression_ratio(c.text) <= COMPRESSION_RATIO_MAX]
                results[k] = decoded if not _needs_fallback(decoded) else max(
                    cands or [first, decoded], key=lambda c: c.avg_logprob)
        return results

    def _generate(self, encoded: Any, prompts: list[list[int]], *, temperature: float
                  ) -> list[Decoded]:
        if temperature > 0:
            kwargs: dict[str, Any] = {"beam_size": 1, "num_hypotheses": FALLBACK_HYPOTHESES,
                                      "sampling_topk": 0, "sampling_temperature": temperature}
        else:
            kwargs = {"beam_size": self._beam_size, "patience": 1.0}
        out = self._ct.generate(
            encoded, prompts, length_penalty=1.0, repetition_penalty=1.0,
            no_repeat_ngram_size=0, max_length=self._max_length, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self._suppress,
            max_initial_timestamp_index=50, **kwargs)
        decoded = []
        for result in out:
            tokens = result.sequences_ids[0]
            score = float(result.scores[0]) * (len(tokens) ** 1.0)
            decoded.append(Decoded(text=self._tokenizer.decode(tokens).strip(),
                                   avg_logprob=score / (len(tokens) + 1),
                                   no_speech_prob=float(result.no_speech_prob),
                                   temperature=temperature))
        return decoded


def _needs_fallback(d: Decoded) -> bool:
    if d.no_speech_prob > NO_SPEECH_SILENCE and d.avg_logprob < LOG_PROB_MIN:
        return False  # silence: a retry would only make words up
    return compression_ratio(d.text) > COMPRESSION_RATIO_MAX or d.avg_logprob < LOG_PROB_MIN


def _select(encoded: Any, rows: list[int]) -> Any:
    """The encoder output of some rows of the batch (a CPU StorageView reads as an array)."""
    import ctranslate2

    if len(rows) == encoded.shape[0]:
        return encoded
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[rows]))
