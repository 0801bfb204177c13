"""Where the caller's speech really ended, from the audio's energy near the VAD's boundary.

Silero's probability stays high for a while after the last sound (~106 ms at 8 kHz, ~43 ms
at 16 kHz: its recurrent state and context carry the speech on), so a pause counted from
where the probability fell starts late. ``energy_end`` looks at the caller audio just before
that point in 10 ms hops and puts the end of speech after the last hop within ``drop_db``
of the loudest hop of the last second of speech (the final word's vowels) and ``FLOOR_DB``
over the line's floor (its quietest hops in that second: the gaps between words), though a
hop within ``SPEECH_DB`` of the loudest always counts as speech. It never moves the end back
by more than ``lookback`` seconds, and leaves it where the VAD put it when the audio is loud
up to there (speech, or a line noisier than its gaps). Pure: PCM and media times in, a media
time out::

    end = energy_end(pcm, 8000, end_at=2.56, lookback=0.15)   # pcm ends at media time 2.56
"""

from __future__ import annotations

import numpy as np

from callport.types import PCM16

HOP_S = 0.01  # energy is measured in 10 ms hops
DROP_DB = 35.0  # a hop this far below the loudest hop of the last second is not speech
FLOOR_DB = 6.0  # ... nor one within this much of the line's floor (its quietest hops)
FLOOR_PERCENTILE = 10.0  # the floor: this percentile of the last second's hops
SPEECH_DB = 25.0  # ... but a hop within this much of the loudest is speech, whatever the floor
REFERENCE_S = 1.0  # the loudest hop is looked for in this much audio before the VAD's end


def energy_end(
    pcm: PCM16, rate: int, *, end_at: float, lookback: float, drop_db: float = DROP_DB
) -> float:
    """The media time the speech in ``pcm`` ended, ``pcm`` being the caller audio up to
    media time ``end_at`` (the VAD's end of speech; its last sample is just before it); in
    ``[end_at - lookback, end_at]``, ``end_at`` itself when the last hop is loud."""
    hop = max(1, round(rate * HOP_S))
    count = min(pcm.size // hop, round(REFERENCE_S / HOP_S))
    if lookback <= 0.0 or count == 0:
        return end_at
    x = pcm[pcm.size - count * hop :].astype(np.float32).reshape(count, hop)
    energy = np.einsum("ij,ij->i", x, x)
    loudest = float(energy.max())
    if loudest <= 0.0:
        return end_at
    floor = float(np.percentile(energy, FLOOR_PERCENTILE)) * 10.0 ** (FLOOR_DB / 10.0)
    threshold = max(
        loudest * 10.0 ** (-drop_db / 10.0), min(floor, loudest * 10.0 ** (-SPEECH_DB / 10.0))
    )
    loud = np.flatnonzero(energy > threshold)
    quiet_s = (count - 1 - int(loud[-1])) * hop / rate  # quiet hops after the last loud one
    return max(end_at - quiet_s, end_at - lookback)
