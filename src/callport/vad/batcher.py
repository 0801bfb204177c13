"""Batch VAD requests from many calls into one inference per event-loop iteration.

Each call awaits ``VadBatcher.score(stream, pcm)`` for its incoming audio. The first request
in an iteration schedules a flush with ``loop.call_soon``; every request made before that
flush runs (typically one per call whose audio arrived in the same iteration) is scored by a
single ``VadEngine.score`` call, and each caller gets its own stream's scores.
"""

from __future__ import annotations

import asyncio
import logging

from callport.types import PCM16
from callport.vad.base import VadEngine, VadScore, VadStream

log = logging.getLogger(__name__)


class VadBatcher:
    """The asyncio front of a ``VadEngine``: coalesces concurrent ``score`` calls."""

    def __init__(self, vad: VadEngine) -> None:
        self.vad = vad
        self._waiting: list[tuple[VadStream, asyncio.Future[list[VadScore]]]] = []
        self._scheduled = False
        self.flushes = 0  # engine calls made
        self.largest_batch = 0  # most streams in one engine call

    def new_stream(self, sample_rate: int) -> VadStream:
        return self.vad.new_stream(sample_rate)

    async def score(self, stream: VadStream, pcm: PCM16) -> list[VadScore]:
        """Buffer ``pcm`` on ``stream`` and return the scores of every window it completes."""
        stream.push(pcm)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[VadScore]] = loop.create_future()
        self._waiting.append((stream, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._scheduled = False
        streams: list[VadStream] = []
        first: dict[int, int] = {}
        for stream, _ in waiting:
            if id(stream) not in first:
                first[id(stream)] = len(streams)
                streams.append(stream)
        try:
            results = self.vad.score(streams) if any(s.pending for s in streams) else None
        except Exception as exc:  # the engine failed: every waiting call hears about it
            log.exception("VAD scoring failed for %d streams", len(streams))
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        if results is not None:
            self.flushes += 1
            self.largest_batch = max(self.largest_batch, len(streams))
        delivered: set[int] = set()
        for stream, future in waiting:
            if future.done():  # cancelled: its stream's scores go to the next waiter, if any
                continue
            scores: list[VadScore] = []
            if results is not None and id(stream) not in delivered:
                delivered.add(id(stream))
                scores = results[first[id(stream)]]
            future.set_result(scores)
