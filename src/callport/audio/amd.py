"""Answering-machine detection (AMD), pure: the pattern of speech and silence at the start of
an answered outbound call, plus a beep detector. Sans-IO, simulated time: the driver
(``callport.flows.amd``) feeds each frame's PCM, whether the VAD called it speech, and its
media time.

Heuristics (after Asterisk ``app_amd`` and Jambonz ``amd``), all thresholds in ``AmdSettings``:

- a long silence before anyone speaks (``initial_silence_s``): machine (a voicemail that waits
  before its greeting, or an unattended line), ``unknown`` when nothing at all is heard;
- a person says a short word or two ("Hello?") and waits (``after_greeting_silence_s``):
  human;
- a long unbroken greeting (``greeting_s``) or many words (``max_words``): machine;
- a beep (one pure tone between 400 and 2000 Hz held ``beep_s`` or more): machine, at once;
- nothing decided by ``total_s``: unknown.

After a machine verdict the detector keeps listening for the beep (``beep_at``) so a message
is spoken after it; ``message_ready`` tells when: at the beep, or once the greeting has been
followed by ``after_greeting_silence_s`` of silence (some machines never beep), or at
``beep_timeout_s``.

``BeepDetector`` looks at each frame's spectrum (FFT): a frame is tonal when its peak between
400 and 2000 Hz holds most of the frame's energy; a run of tonal frames on (about) the same
frequency for ``beep_s`` is a beep.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["AmdDetector", "AmdResult", "AmdSettings", "AmdVerdict", "BeepDetector",
           "provider_result"]


class AmdResult(enum.Enum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class AmdSettings:
    initial_silence_s: float = 3.5
    greeting_s: float = 2.4  # speech this long with no pause of after_greeting_silence_s
    after_greeting_silence_s: float = 0.8  # silence after speech that ends a human's hello
    min_word_s: float = 0.12  # shorter bursts are noise, not words
    word_gap_s: float = 0.15  # silence that separates two words
    max_words: int = 4
    total_s: float = 6.0
    beep_s: float = 0.15
    beep_timeout_s: float = 20.0  # after a machine verdict: give up waiting for the beep


@dataclass(frozen=True, slots=True, kw_only=True)
class AmdVerdict:
    result: AmdResult
    reason: str  # "greeting 2.4 s", "beep 1000 Hz", "hello then silence", ...
    at: float  # media time of the decision
    words: int = 0
    greeting_s: float = 0.0


class BeepDetector:
    """A pure tone 400-2000 Hz held ``beep_s``: ``feed(pcm, at)`` returns its frequency once,
    when the run reaches ``beep_s``; ``last_hz`` keeps it."""

    def __init__(self, *, sample_rate: int, beep_s: float = 0.15, purity: float = 0.8,
                 min_dbfs: float = -40.0) -> None:
        self.sample_rate = sample_rate
        self.beep_s = beep_s
        self.purity = purity
        self.min_power = (10 ** (min_dbfs / 20) * 32768) ** 2 / 2
        self._run_s = 0.0
        self._run_hz = 0.0
        self._fired = False
        self.last_hz = 0.0

    def _tone(self, x: NDArray[np.float64]) -> float:
        """The frame's dominant frequency when it is a pure tone, else 0: the Hann-windowed
        spectrum's peak (400-2000 Hz) and its two neighbours on each side hold ``purity`` of
        the frame's energy."""
        n = len(x)
        if n < 32 or float(np.dot(x, x)) / n < self.min_power:
            return 0.0
        size = 1 << max(n - 1, 1).bit_length()  # zero-padded: bins of <= rate/n Hz
        spectrum = np.abs(np.fft.rfft(x * np.hanning(n), size)) ** 2
        total = float(spectrum.sum())
        hz_per_bin = self.sample_rate / size
        lo, hi = int(400 / hz_per_bin), int(2000 / hz_per_bin) + 1
        best = lo + int(np.argmax(spectrum[lo:hi]))
        near = float(spectrum[max(best - 2, 0):best + 3].sum())
        return best * hz_per_bin if total > 0 and near >= self.purity * total else 0.0

    @property
    def run_s(self) -> float:
        """How long the current tone has lasted (0: none)."""
        return self._run_s

    def feed(self, pcm: NDArray[np.int16], at: float) -> float | None:
        x = pcm.astype(np.float64)
        hz = self._tone(x)
        dur = len(pcm) / self.sample_rate
        if hz and self._run_s and abs(hz - self._run_hz) <= 60:
            self._run_s += dur
        elif hz:
            self._run_s, self._run_hz, self._fired = dur, hz, False
        else:
            self._run_s, self._fired = 0.0, False
        if self._run_s >= self.beep_s - 1e-9 and not self._fired:
            self._fired = True
            self.last_hz = self._run_hz
            return self._run_hz
        return None


class AmdDetector:
    """Feed frames in order: ``feed(pcm, speech, at)``; ``verdict`` is set once decided (it
    never changes after), ``beep_at`` once a beep was heard, ``message_ready`` once a message
    may be spoken (machine only)."""

    def __init__(self, *, sample_rate: int, settings: AmdSettings | None = None) -> None:
        self.settings = s = settings or AmdSettings()
        self.beeps = BeepDetector(sample_rate=sample_rate, beep_s=s.beep_s)
        self.verdict: AmdVerdict | None = None
        self.beep_at: float | None = None
        self.message_ready = False
        self._start: float | None = None
        self._heard = False  # any word yet
        self._words = 0
        self._speech_s = 0.0  # the current burst
        self._silence_s = 0.0  # the current silence
        self._burst_counted = False
        self._longest = 0.0
        self._speech_total = 0.0
        self._greeting_from: float | None = None  # when the words now being said began

    def feed(self, pcm: NDArray[np.int16], speech: bool, at: float) -> AmdVerdict | None:
        """One frame ending at media time ``at``; returns the verdict when it is decided by
        this frame (None otherwise)."""
        s = self.settings
        dur = len(pcm) / self.beeps.sample_rate
        if self._start is None:
            self._start = at - dur
        elapsed = at - self._start
        hz = self.beeps.feed(pcm, at)
        if hz is not None:
            if self.beep_at is None:
                self.beep_at = at
            if self.verdict is None or self.verdict.result is AmdResult.MACHINE:
                self.message_ready = True
            if self.verdict is None:
                return self._decide(AmdResult.MACHINE, f"beep {hz:.0f} Hz", at)
        if hz is None and self.beeps.run_s > 0:
            speech = False  # a tone in progress is not a word
        self._cadence(speech, dur)
        if self._burst_counted and self._greeting_from is None:  # a word, not a click
            self._greeting_from = at - self._speech_s
        elif self._silence_s >= s.after_greeting_silence_s:
            self._greeting_from = None
        if self.verdict is not None:
            if (self.verdict.result is AmdResult.MACHINE and not self.message_ready
                    and ((self._heard and self._silence_s >= s.after_greeting_silence_s * 2
                          and self.beeps.run_s == 0)
                         or at - self.verdict.at >= s.beep_timeout_s)):
                self.message_ready = True  # no beep came: speak in the greeting's silence
            return None
        if not self._heard:
            if elapsed >= s.initial_silence_s:
                return self._decide(AmdResult.MACHINE if self._speech_total else
                                    AmdResult.UNKNOWN, f"initial silence {elapsed:.1f} s", at)
            return None
        if self._greeting_from is not None and at - self._greeting_from >= s.greeting_s:
            return self._decide(AmdResult.MACHINE,
                                f"greeting {at - self._greeting_from:.1f} s", at)
        if self._words > s.max_words:
            return self._decide(AmdResult.MACHINE, f"{self._words} words", at)
        if self._silence_s >= s.after_greeting_silence_s:
            return self._decide(AmdResult.HUMAN, f"{self._words} word(s) then silence", at)
        if elapsed >= s.total_s:
            return self._decide(AmdResult.UNKNOWN, f"undecided after {elapsed:.1f} s", at)
        return None

    def _cadence(self, speech: bool, dur: float) -> None:
        s = self.settings
        if speech:
            self._speech_s += dur
            self._speech_total += dur
            if self._silence_s >= s.word_gap_s:
                self._burst_counted = False
            self._silence_s = 0.0
            if self._speech_s >= s.min_word_s and not self._burst_counted:
                self._burst_counted = True
                self._words += 1
                self._heard = True
            self._longest = max(self._longest, self._speech_s)
        else:
            self._silence_s += dur
            if self._silence_s >= s.word_gap_s:
                self._speech_s = 0.0

    def _decide(self, result: AmdResult, reason: str, at: float) -> AmdVerdict:
        self.verdict = AmdVerdict(result=result, reason=reason, at=at, words=self._words,
                                  greeting_s=round(self._longest, 2))
        return self.verdict


def provider_result(answered_by: str) -> str:
    """A carrier's AMD answer as ours: Twilio ``AnsweredBy`` (human, machine_start,
    machine_end_beep, ..., fax, unknown), Telnyx ``result`` (human, machine, not_sure)."""
    said = answered_by.strip().lower()
    if said.startswith("machine") or said == "fax":
        return AmdResult.MACHINE.value
    return AmdResult.HUMAN.value if said == "human" else AmdResult.UNKNOWN.value
