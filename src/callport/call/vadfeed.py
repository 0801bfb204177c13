"""Caller audio to the VAD, for one call: inline, or on the shared VAD tick with a bound.

A :class:`VadFeed` owns the call's VAD stream. With a scorer that is awaited
(``VadScorer.score``) each frame's windows are scored in turn and the time it took is
``vad_seconds``. With one that calls back (``VadSubmitter``: ``vad.batcher.VadBatcher``'s
shared tick) the reader goes on while windows wait to be scored, but never more than
``MAX_VAD_BEHIND`` of them: a live call is one or two behind; audio that comes faster than
real time (a file, a backlog after a stall) is scored in step instead of running ahead of its
turn detection. Scores go to ``on_scores(scores, now)``, a failed scoring to ``on_error``;
neither is called once the feed is ``stop``ped (the call ended).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callport.call.turns import VadScorer, VadSubmitter
from callport.metrics import Metrics
from callport.types import PCM16
from callport.vad.base import VadScore

# Windows submitted to the shared VAD tick and not yet scored before the reader waits for them.
MAX_VAD_BEHIND = 4


class VadFeed:
    """One call's caller audio into the VAD (see the module docstring)."""

    def __init__(self, vad: VadScorer | None, *, sample_rate: int, metrics: Metrics,
                 clock: Callable[[], float],
                 on_scores: Callable[[list[VadScore], float], None],
                 on_error: Callable[[BaseException], None]) -> None:
        self._vad = vad
        self._stream = vad.new_stream(sample_rate) if vad is not None else None
        self._submit = vad.submit if isinstance(vad, VadSubmitter) else None
        self._metrics = metrics
        self._clock = clock
        self._on_scores = on_scores
        self._on_error = on_error
        self._behind = 0  # windows submitted, not yet scored
        self._caught_up = asyncio.Event()
        self._stopped = False

    def disable(self) -> None:
        """Score nothing more (a media-only call: a benchmark of the media path)."""
        self._vad = None
        self._stream = None
        self._submit = None

    def stop(self) -> None:
        """The call ended: no more callbacks, and a reader waiting for the tick goes on."""
        self._stopped = True
        self._caught_up.set()

    async def feed(self, pcm: PCM16) -> None:
        """Score one frame of caller audio (or hand it to the tick, waiting while too many
        windows are still unscored)."""
        if self._vad is None or self._stream is None:
            return
        if self._submit is not None:  # scored on the shared VAD tick; the reader goes on
            if self._submit(self._stream, pcm, self._scored, self._failed):
                self._behind += 1
                while self._behind >= MAX_VAD_BEHIND and not self._stopped:
                    self._caught_up.clear()
                    await self._caught_up.wait()
            return
        started = self._clock()
        scores = await self._vad.score(self._stream, pcm)
        if scores:
            now = self._clock()
            self._metrics.vad_seconds.observe(now - started)
            self._on_scores(scores, now)

    def _scored(self, scores: list[VadScore]) -> None:
        self._behind = max(0, self._behind - 1)
        self._caught_up.set()
        if scores and not self._stopped:
            self._on_scores(scores, self._clock())

    def _failed(self, exc: BaseException) -> None:
        self._behind = max(0, self._behind - 1)
        self._caught_up.set()
        if not self._stopped:
            self._on_error(exc)
