"""What a waiting caller hears: the hold music of a queue and the words of its announcements."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from callport.call.sources import HoldMusic
from callport.config_queues import QueueDefaults
from callport.types import PCM16

RATE = 16000

# callport's own hold loop: a slow I - vi - IV - V progression in C major, each chord a soft
# arpeggio over a sustained pad with a gentle swell, 2 s a chord, 8 s round. About -28 dBFS:
# pleasant, never silent, quiet enough that an announcement over it stays clear.
_PROGRESSION: tuple[tuple[float, ...], ...] = (
    (261.63, 329.63, 392.00),  # C
    (220.00, 261.63, 329.63),  # Am
    (174.61, 220.00, 261.63),  # F
    (196.00, 246.94, 293.66),  # G
)
_CHORD_S = 2.0


def builtin_loop(sample_rate: int = RATE) -> PCM16:
    """The built-in hold music: one 8 s loop (it joins end to start without a click)."""
    n = int(_CHORD_S * sample_rate)
    t = np.arange(n) / sample_rate
    swell = 0.6 + 0.4 * np.sin(np.pi * t / _CHORD_S)  # zero-free: the music never drops out
    parts = []
    for chord in _PROGRESSION:
        pad = sum(np.sin(2 * np.pi * f * t) for f in chord) / len(chord)
        notes = np.zeros(n)
        step = n // 4
        for i, f in enumerate((*chord, chord[1] * 2)):  # arpeggio: root, third, fifth, octave
            seg = np.arange(n - i * step) / sample_rate
            notes[i * step:] += np.sin(2 * np.pi * f * seg) * np.exp(-2.5 * seg)
        parts.append((0.08 * pad + 0.06 * notes) * swell)
    loop = np.concatenate(parts)
    fade = int(0.05 * sample_rate)  # crossfade the chord joins
    for k in range(1, len(_PROGRESSION)):
        at = k * n
        ramp = np.linspace(0.0, 1.0, fade)
        loop[at - fade:at] *= 1.0 - 0.5 * ramp
        loop[at:at + fade] *= 0.5 + 0.5 * ramp
    return np.clip(loop * 32767, -32768, 32767).astype(np.int16)


def music_of(rules: QueueDefaults) -> tuple[PCM16, int]:
    """The queue's music, decoded: ``builtin`` or the file ``hold_music`` names (WAV, OGG,
    MP3: ``callport.audio.decode``)."""
    if rules.hold_music == "builtin":
        return builtin_loop(), RATE
    from callport.audio.decode import read_audio

    pcm, rate = read_audio(Path(rules.hold_music))
    if len(pcm) == 0:
        raise ValueError(f"{rules.hold_music}: no audio in it")
    return pcm, rate


class ResumingMusic:
    """One caller's hold music: endless, and when it is played again after an announcement it
    goes on where it stopped (``HoldMusic`` starts its loop again on every ``open``)."""

    def __init__(self, *, pcm: PCM16, sample_rate: int, label: str = "hold-music") -> None:
        self._music = HoldMusic(pcm=pcm, sample_rate=sample_rate, label=label)
        self._rate = 0
        self.frames_read = 0

    @property
    def label(self) -> str:
        return self._music.label

    @property
    def endless(self) -> bool:
        return True

    def open(self, sample_rate: int) -> None:
        if sample_rate != self._rate:
            self._music.open(sample_rate)
            self._rate = sample_rate

    def read(self, samples: int) -> PCM16 | None:
        self.frames_read += 1
        return self._music.read(samples)

    async def ready(self) -> None:
        return None


_KEY_WORDS = {"voicemail": "to leave a message", "callback": "to be called back",
              "leave": "to leave the line"}


def keys_prompt(rules: QueueDefaults, *, callback: bool, voicemail: bool) -> str:
    """``Press 1 to leave a message, or 2 to be called back.`` for the keys this call offers."""
    offered = [(d, a) for d, a in rules.key_actions().items()
               if (a != "callback" or callback) and (a != "voicemail" or voicemail)]
    if not offered:
        return ""
    said = [f"{_spoken_key(d)} {_KEY_WORDS[a]}" for d, a in offered]
    text = ", or ".join(said) if len(said) <= 2 else ", ".join(said[:-1]) + ", or " + said[-1]
    return f"Press {text}."


def _spoken_key(digit: str) -> str:
    return {"*": "star", "#": "pound"}.get(digit, digit)


def announcement(position: int, expected_s: float | None) -> str:
    """Position and expected wait, rounded up to whole minutes."""
    where = ("You are next in line." if position <= 1
             else f"You are number {position} in line.")
    if expected_s is None:
        return where
    minutes = max(1, math.ceil(expected_s / 60.0))
    wait = "about one minute" if minutes == 1 else f"about {minutes} minutes"
    return f"{where} The expected wait is {wait}."


PLEASE_HOLD = "Please hold, the next available person will be with you shortly."
NO_ONE = "I'm sorry, nobody can take your call right now. Please try again later."
NO_MESSAGES = "I'm sorry, messages can't be left here."
NO_CALLBACK = "I'm sorry, we can't call you back on this line."


def callback_booked(number: str) -> str:
    spoken = " ".join(number.lstrip("+"))
    return (f"Thank you. We will call you back at {spoken} when it is your turn; you keep "
            "your place in line. Goodbye.")
