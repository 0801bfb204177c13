"""Fixed phrases synthesized once: the greeting, "all lines are busy", the apology.

:class:`CachedTTS` wraps any TTS. Phrases it was told to remember are synthesized at
warm-up and then played from memory: a caller turned away at capacity hears the busy
phrase at once, without a synthesis queued behind the very backlog that turned them away,
and every call's greeting costs the engine nothing. Any other text passes through to the
engine; a text said again and again (up to ``max_learned`` of them, short ones) is kept
after its second rendering.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable

from callport.speech.base import TTS, SpeechChunk

__all__ = ["CachedTTS"]

MAX_CHARS = 200  # longer texts are replies, not fixed phrases: never kept


class CachedTTS:
    """A TTS that plays remembered phrases from memory; the rest from ``engine``."""

    def __init__(self, engine: TTS, *, phrases: Iterable[str] = (), max_learned: int = 32
                 ) -> None:
        self.engine = engine
        self._wanted: list[str] = []
        self._cache: dict[str, tuple[SpeechChunk, ...]] = {}
        self._seen: set[str] = set()
        self._learned = 0
        self._max_learned = max_learned
        self._lock = threading.Lock()
        self.hits = 0
        self.remember(*phrases)

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    def remember(self, *phrases: str) -> None:
        """Keep these phrases once rendered (:meth:`warmup` renders them ahead)."""
        with self._lock:
            self._wanted.extend(p for p in phrases if p and p not in self._wanted)

    def cached(self, text: str) -> bool:
        return text in self._cache

    async def warmup(self) -> None:
        """Warm the engine, then synthesize every remembered phrase not cached yet."""
        warm = getattr(self.engine, "warmup", None)
        if warm is not None:
            result = warm()
            if hasattr(result, "__await__"):
                await result
        for phrase in list(self._wanted):
            if phrase not in self._cache:
                self._cache[phrase] = tuple([c async for c in self.engine.synthesize(phrase)])

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        chunks = self._cache.get(text)
        if chunks is not None:
            self.hits += 1
            for chunk in chunks:
                yield chunk
            return
        with self._lock:
            keep = text in self._wanted or (
                len(text) <= MAX_CHARS and text in self._seen
                and self._learned < self._max_learned)
            if len(self._seen) < 4096:
                self._seen.add(text)
        rendered: list[SpeechChunk] = []
        async for chunk in self.engine.synthesize(text):
            rendered.append(chunk)
            yield chunk
        if keep and text not in self._cache:  # only a whole rendering is kept
            self._cache[text] = tuple(rendered)
            if text not in self._wanted:
                self._learned += 1
