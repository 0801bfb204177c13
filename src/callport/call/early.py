"""Speculative STT: transcription starts at the caller's first pause (``PauseReady``) and is
reused when that pause turns out to be the end of the turn, so the reply starts sooner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from callport.call.turns import Utterance
from callport.speech.base import STT, Transcript


class EarlyStt:
    def __init__(self, *, stt: STT) -> None:
        self._stt = stt
        self._early: tuple[float, float, asyncio.Task[Transcript]] | None = None

    def start(self, utterance: Utterance, hints: Sequence[str],
              on_text: Callable[[str], None] | None = None) -> None:
        """Transcribe the turn so far (dropping an older speculative pass); ``on_text`` gets
        the words when they are ready (a live caption), unless empty or dropped first."""
        self.drop()
        task = asyncio.create_task(
            self._stt.transcribe(utterance.pcm, utterance.sample_rate, hints=hints))
        self._early = (utterance.started_at, utterance.ended_at, task)
        if on_text is not None:
            task.add_done_callback(lambda t: _words(t, on_text))

    def drop(self) -> None:
        if self._early is not None:
            self._early[2].cancel()
            self._early = None

    async def transcribe(self, turn: Utterance, hints: Sequence[str]) -> tuple[Transcript, bool]:
        """The turn's transcript, and whether the speculative pass was reused."""
        early, self._early = self._early, None
        if early is not None and (early[0], early[1]) == (turn.started_at, turn.ended_at):
            return await early[2], True
        if early is not None:
            early[2].cancel()
        return await self._stt.transcribe(turn.pcm, turn.sample_rate, hints=hints), False


def _words(task: asyncio.Task[Transcript], on_text: Callable[[str], None]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    text = task.result().text.strip()
    if text:
        on_text(text)
