"""VAD protocols: engines score per-call streams in batches; scores carry media time.

A ``VadStream`` belongs to one call: it buffers that call's PCM16 (any chunk size) and keeps
the engine's per-call state. A ``VadEngine`` scores many streams at once, so one inference
can serve every live call that has a full window waiting. Both Silero and webrtcvad fit this
shape, so the call session can use either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from callport.types import PCM16


@dataclass(frozen=True, slots=True)
class VadScore:
    """Speech probability of one window; ``at`` is media seconds at the window's end."""

    prob: float
    at: float


class VadStream(Protocol):
    """One call's VAD input buffer and engine state."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def pending(self) -> int:
        """Number of full windows buffered and not yet scored."""
        ...

    def push(self, pcm: PCM16) -> None:
        """Buffer mono PCM16 at ``sample_rate``; scoring happens in ``VadEngine.score``."""
        ...


class VadEngine(Protocol):
    """Scores streams it created; one call serves many streams."""

    def new_stream(self, sample_rate: int) -> VadStream: ...

    def score(self, streams: Sequence[VadStream]) -> list[list[VadScore]]:
        """Score every full window of every stream; result ``i`` belongs to ``streams[i]``."""
        ...


class VadUsageError(ValueError):
    """The VAD API was misused (unsupported rate, a stream from another engine, bad dtype)."""
