"""Two users calling through a provider simulator: the real Runtime (identification gate,
per-user task lists, the real Task Manager with its intent model) on deterministic speech.

The caller "speaks" tones: ``ToneSTT`` hears the tone's pitch as one of ``PHRASES``, so two
calls can run at once on one shared STT. ``Caller`` drives one call from the server's side of
the truth (``runtime.active``): it waits until the call listens again after each turn, and
reads what the agent answered from the call's ``turns`` (no timing is asserted).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from call_fakes import EnergyVad, ToneTTS

from callport.call.call import Call
from callport.config import Settings
from callport.server.runtime import Runtime
from callport.speech.base import Transcript
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists

ALICE, BOB, STRANGER = "+15550001111", "+15550002222", "+15559998888"
ALICE_PIN = "1357"
PHRASES = {
    400.0: "add a task to buy milk",
    600.0: "add a task to walk the dog",
    800.0: "what is on my list",
}
BUY_MILK, WALK_DOG, LIST = 400.0, 600.0, 800.0
LIMIT_S = 30.0  # every wait is bounded by this


def tone(freq: float, rate: int, seconds: float = 0.5) -> NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


class ToneSTT:
    """Hears the strongest frequency of an utterance as the nearest of ``PHRASES``."""

    async def transcribe(
        self, pcm: NDArray[np.int16], sample_rate: int, *, hints: Sequence[str] = ()
    ) -> Transcript:
        if pcm.size < sample_rate // 20:
            return Transcript(text="", seconds=0.0)
        spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
        peak = float(np.fft.rfftfreq(pcm.size, 1.0 / sample_rate)[int(np.argmax(spectrum))])
        nearest = min(PHRASES, key=lambda f: abs(f - peak))
        text = PHRASES[nearest] if abs(nearest - peak) < 50 else ""
        return Transcript(text=text, seconds=0.0)


async def identity_runtime(settings: Settings) -> Runtime:
    """alice (``ALICE``, PIN ``ALICE_PIN``) and bob (``BOB``, no PIN), everything in memory."""
    users = MemoryUserStore()
    await users.add("alice", display_name="Alice", phones=[ALICE], pin=ALICE_PIN)
    await users.add("bob", display_name="Bob", phones=[BOB])
    runtime = Runtime(settings=settings, calls=MemoryCallStore(), users=users,
                      tasks=MemoryTaskLists(), stt=ToneSTT(), tts=ToneTTS(),  # type: ignore[arg-type]
                      vad=EnergyVad())  # type: ignore[arg-type]  # fmt: skip
    # The intent model loads and embeds its examples here, not during a call: on a loaded
    # machine that first embedding alone can outlast a turn's LIMIT_S.
    await runtime.warmup()
    return runtime


@dataclass
class Caller:
    """One simulated caller: ``say`` a tone, ``press`` digits; ``call`` is the server's Call."""

    runtime: Runtime
    number: str  # the caller ID this caller's calls come from
    send: Callable[[NDArray[np.int16]], None]
    press_digit: Callable[[str], Awaitable[None]]
    rate: int = 8000
    call: Call | None = None

    async def answered(self) -> Call:
        """The call, once it first listens (the greeting, or the PIN prompt, has played)."""
        async with asyncio.timeout(LIMIT_S):
            while self.call is None:
                live = [c for c in self.runtime.active.values() if c.info.caller == self.number]
                self.call = live[0] if live else None
                await asyncio.sleep(0.01)
            await self._listening(turns=None)
        return self.call

    async def _listening(self, *, turns: int | None) -> None:
        call = self.call
        assert call is not None
        async with asyncio.timeout(LIMIT_S):
            while True:
                done = turns is None or len(call.turns) >= turns
                if call.ended or (done and call.listening.is_set()):
                    return
                await asyncio.sleep(0.01)

    async def press(self, digits: str) -> None:
        """Keypad digits, then wait until the call listens again: the PIN was checked and
        asked for again, or the caller is identified and the flow listens."""
        call = self.call
        assert call is not None
        before = call.secret_turns
        for d in digits:
            await self.press_digit(d)
        async with asyncio.timeout(LIMIT_S):
            while call.secret_turns < before + len(digits) and not call.ended:
                await asyncio.sleep(0.01)
            while not (call.ended or call.listening.is_set()):  # re-asked, or identified
                await asyncio.sleep(0.01)

    async def say(self, freq: float) -> str:
        """Say one of ``PHRASES``; returns the agent's reply."""
        call = self.call
        assert call is not None
        turns = len(call.turns)
        self.send(tone(freq, self.rate))
        await self._listening(turns=turns + 1)
        assert len(call.turns) == turns + 1, f"no turn for {PHRASES[freq]!r}"
        return call.turns[-1].reply
