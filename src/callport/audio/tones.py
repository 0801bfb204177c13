"""Call-progress and DTMF tones: generation, and in-band DTMF detection.

DTMF (ITU-T Q.23) sends one row and one column frequency per key::

             1209  1336  1477  1633 Hz
     697 Hz    1     2     3     A
     770 Hz    4     5     6     B
     852 Hz    7     8     9     C
     941 Hz    *     0     #     D

``DtmfDetector`` finds key presses in caller audio when the channel gives no out-of-band
DTMF (a SIP peer without RFC 4733, a browser, a recording). It evaluates the eight
frequencies with a Goertzel-equivalent single-bin DFT on 20 ms blocks that advance 10 ms
at a time; all blocks of a chunk and all eight frequencies are one matrix product. A block
votes for a digit when (after Q.24's receiver tests, with thresholds chosen for speech
rejection rather than the letter of the recommendation):

- both the strongest row and column tone are above ``min_level_dbfs``;
- twist: neither tone is more than ``max_twist_db`` weaker than the other;
- relative peak: each beats the other tones of its group by ``min_peak_db``;
- purity: the two tones carry at least ``min_purity`` of the block's energy, which speech,
  music and noise (harmonics, many partials, broadband energy) do not;
- steadiness: the energy of the block's four 5 ms quarters varies by at most
  ``max_ripple_db``, so the tone fills the whole block (a block half in silence does not
  count, which keeps tones shorter than ~25 ms out).

A press is reported once, when two consecutive blocks vote for it (the tone has lasted
about 30 ms; any 40 ms tone is caught), and not again until the tone has been gone for
four blocks (a pause of 20 ms or more; a 10 ms drop-out is bridged). ``DtmfHit.at`` is the
media time at which the press began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DTMF_COLS",
    "DTMF_DIGITS",
    "DTMF_ROWS",
    "DtmfDetector",
    "DtmfHit",
    "dtmf_sequence",
    "dtmf_tone",
    "tone",
]

DTMF_ROWS: Final = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
DTMF_DIGITS: Final = "".join(_KEYPAD)
_DIGIT_FREQS: Final = {
    key: (DTMF_ROWS[r], DTMF_COLS[c]) for r, row in enumerate(_KEYPAD) for c, key in enumerate(row)
}

_DEFAULT_AMPLITUDE: Final = 0.25  # each tone at -12 dBFS; a pair peaks at -6 dBFS
_RAMP_MS: Final = 2.0  # raised-cosine on/off ramps: no clicks, no splatter
# A press ends after this many blocks (10 ms hops) without its digit: a gap of 20 ms or more
# spoils 4 blocks, a 10 ms drop-out only 3 (Q.24: bridge drop-outs, split on 40 ms pauses).
_RELEASE_BLOCKS: Final = 4


def _samples(sample_rate: int, duration_ms: float) -> int:
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if duration_ms < 0:
        raise ValueError(f"duration_ms must not be negative, got {duration_ms}")
    return round(sample_rate * duration_ms / 1000.0)


def tone(
    freq: float | Sequence[float],
    *,
    sample_rate: int,
    duration_ms: float = 1000.0,
    amplitude: float = _DEFAULT_AMPLITUDE,
) -> NDArray[np.int16]:
    """A sine (or a sum of sines, e.g. ``(440, 480)`` ringback) with soft edges.

    ``amplitude`` is each sine's peak as a fraction of full scale; the sum is clipped.
    """
    freqs = (float(freq),) if isinstance(freq, int | float) else tuple(float(f) for f in freq)
    n = _samples(sample_rate, duration_ms)
    for f in freqs:
        if not 0 < f < sample_rate / 2:
            raise ValueError(f"frequency {f} Hz is outside (0, {sample_rate / 2}) Hz")
    t = np.arange(n, dtype=np.float64) / sample_rate
    wave = np.zeros(n, dtype=np.float64)
    for f in freqs:
        wave += np.sin(2.0 * np.pi * f * t)
    wave *= amplitude * 32767.0
    ramp = min(n // 2, _samples(sample_rate, _RAMP_MS))
    if ramp:
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        wave[:ramp] *= edge
        wave[n - ramp :] *= edge[::-1]
    return np.clip(np.rint(wave), -32768, 32767).astype(np.int16)


def dtmf_tone(
    digit: str,
    *,
    sample_rate: int,
    duration_ms: float = 100.0,
    amplitude: float = _DEFAULT_AMPLITUDE,
) -> NDArray[np.int16]:
    """The tone pair of one key (``0-9``, ``*``, ``#``, ``A-D``)."""
    freqs = _DIGIT_FREQS.get(digit.upper())
    if freqs is None:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return tone(freqs, sample_rate=sample_rate, duration_ms=duration_ms, amplitude=amplitude)


def dtmf_sequence(
    digits: str,
    *,
    sample_rate: int,
    duration_ms: float = 100.0,
    gap_ms: float = 100.0,
    amplitude: float = _DEFAULT_AMPLITUDE,
) -> NDArray[np.int16]:
    """Tones for ``digits``, each followed by ``gap_ms`` of silence (``w``/``,`` = 500 ms)."""
    gap = np.zeros(_samples(sample_rate, gap_ms), dtype=np.int16)
    pause = np.zeros(_samples(sample_rate, 500.0), dtype=np.int16)
    parts: list[NDArray[np.int16]] = []
    for d in digits:
        if d in "wW,":
            parts.append(pause)
            continue
        parts.append(
            dtmf_tone(d, sample_rate=sample_rate, duration_ms=duration_ms, amplitude=amplitude)
        )
        parts.append(gap)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


@dataclass(frozen=True, slots=True)
class DtmfHit:
    """One key press found in audio: ``at`` is the media time (seconds) it began."""

    digit: str
    at: float


def _db(x: float) -> float:
    return float(10.0 ** (x / 10.0))


class DtmfDetector:
    """Streaming in-band DTMF detector for one caller's audio (see the module docstring)."""

    __slots__ = (
        "_active",
        "_basis_first",
        "_basis_second",
        "_block",
        "_buf",
        "_candidate",
        "_consumed",
        "_hop",
        "_max_ripple",
        "_min_level",
        "_min_peak",
        "_min_purity",
        "_misses",
        "_onset",
        "_rate",
        "_scale",
        "_streak",
        "_twist",
    )

    def __init__(
        self,
        *,
        sample_rate: int,
        min_level_dbfs: float = -36.0,
        max_twist_db: float = 8.0,
        min_peak_db: float = 8.0,
        min_purity: float = 0.8,
        max_ripple_db: float = 3.0,
    ) -> None:
        if sample_rate < 4000:
            raise ValueError(f"sample_rate must be at least 4000 Hz, got {sample_rate}")
        self._rate = sample_rate
        self._block = 4 * round(sample_rate * 0.005)  # ~20 ms, four whole 5 ms quarters
        self._hop = self._block // 2
        t = np.arange(self._block, dtype=np.float64) / sample_rate
        freqs = np.array(DTMF_ROWS + DTMF_COLS)
        phase = 2.0 * np.pi * np.outer(t, freqs)
        basis = np.concatenate([np.cos(phase), np.sin(phase)], axis=1).astype(np.float32)
        self._basis_first = np.ascontiguousarray(basis[: self._hop])
        self._basis_second = np.ascontiguousarray(basis[self._hop :])
        self._scale = np.float32(2.0 / (self._block * self._block))  # |X|^2 -> mean square
        # A sine of peak A at level L dBFS has mean square (A*32767)^2 / 2.
        self._min_level = (32767.0 * 10.0 ** (min_level_dbfs / 20.0)) ** 2 / 2.0
        self._twist = _db(max_twist_db)
        self._min_peak = _db(min_peak_db)
        self._min_purity = min_purity
        self._max_ripple = _db(max_ripple_db)
        self._buf = np.zeros(0, dtype=np.float32)
        self._consumed = 0  # stream index of self._buf[0]
        self._candidate: str | None = None
        self._streak = 0
        self._onset = 0
        self._active: str | None = None
        self._misses = 0

    @property
    def sample_rate(self) -> int:
        return self._rate

    def reset(self) -> None:
        """Forget buffered audio and any tone in progress (the stream clock keeps running)."""
        self._consumed += self._buf.size
        self._buf = np.zeros(0, dtype=np.float32)
        self._candidate, self._streak, self._active, self._misses = None, 0, None, 0

    def feed(self, pcm: NDArray[np.int16], at: float) -> list[DtmfHit]:
        """Add caller audio whose last sample is at media time ``at``; return new presses."""
        if pcm.dtype != np.int16:
            raise TypeError(f"DtmfDetector expects int16 PCM, got {pcm.dtype}")
        x = pcm.reshape(-1).astype(np.float32)
        total = self._consumed + self._buf.size + x.size
        origin = at - total / self._rate  # media time of stream sample 0
        buf = np.concatenate([self._buf, x]) if self._buf.size else x
        blocks = 0 if buf.size < self._block else 1 + (buf.size - self._block) // self._hop
        hits: list[DtmfHit] = []
        if blocks:
            votes = self._votes(buf, blocks)
            for i, vote in enumerate(votes):
                start = self._consumed + i * self._hop
                hit = self._step(vote, start)
                if hit is not None:
                    hits.append(DtmfHit(hit, origin + self._onset / self._rate))
            used = blocks * self._hop
            self._consumed += used
            buf = buf[used:]
        self._buf = buf.copy() if buf.base is not None else buf
        return hits

    def _votes(self, buf: NDArray[np.float32], blocks: int) -> list[str | None]:
        """The digit each block votes for, or None.

        Block i is hop-sized segments i and i+1, so every sum over a block is a sum of two
        per-segment sums: one reshape, no strided windows, no Python loop.
        """
        hop = self._hop
        seg = buf[: (blocks + 1) * hop].reshape(blocks + 1, hop)
        proj = seg @ self._basis_first
        proj[:-1] += seg[1:] @ self._basis_second  # (blocks, 16): cos and sin parts
        proj = proj[:-1]
        proj *= proj
        power = (proj[:, :8] + proj[:, 8:]) * self._scale  # mean square of each tone
        rows, cols = power[:, :4], power[:, 4:]
        pr = rows.max(axis=1)
        pc = cols.max(axis=1)
        halves = seg.reshape(blocks + 1, 2, hop // 2)
        quarter = np.einsum("ijk,ijk->ij", halves, halves)  # energy of each 5 ms quarter
        energy = (quarter[:-1].sum(axis=1) + quarter[1:].sum(axis=1)) / self._block
        # Cheap gate first: speech, music and silence almost always fail purity or level.
        ok = (pr + pc >= energy * self._min_purity) & (np.minimum(pr, pc) >= self._min_level)
        if not ok.any():
            return [None] * blocks
        r = rows.argmax(axis=1)
        c = cols.argmax(axis=1)
        second_r = np.sort(rows, axis=1)[:, 2]
        second_c = np.sort(cols, axis=1)[:, 2]
        quarters = np.concatenate([quarter[:-1], quarter[1:]], axis=1)
        ok &= (
            (pr <= pc * self._twist)
            & (pc <= pr * self._twist)
            & (pr >= second_r * self._min_peak)
            & (pc >= second_c * self._min_peak)
            & (quarters.max(axis=1) <= quarters.min(axis=1) * self._max_ripple)
        )
        return [_KEYPAD[ri][ci] if good else None for ri, ci, good in zip(r, c, ok, strict=True)]

    def _step(self, vote: str | None, start: int) -> str | None:
        """Advance the press state machine by one block; return a digit when a press starts."""
        if vote is not None and vote == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = vote, 1 if vote is not None else 0
            self._onset = start
        if self._active is not None:
            if vote == self._active:
                self._misses = 0
                return None
            self._misses += 1
            if self._misses < _RELEASE_BLOCKS:
                return None
            self._active = None
        if self._candidate is not None and self._streak >= 2:
            self._active, self._misses = self._candidate, 0
            return self._candidate
        return None
