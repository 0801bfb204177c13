"""Shared by the IVR end-to-end tests over real channels (sipp, the Twilio simulator, headless
Chromium): examples/ivr/acme.toml as ``server.ivr`` on the real Runtime (``build_runtime``:
the SQLite database, the gate, the IVR flow and its voicemail store), with quick stand-ins for
the speech services (tone TTS, energy VAD, scripted STT) so each call takes a few seconds.

What a call chose is read from the IVR's journal (``flow.journals[call_id]``: the menu
decisions and the ``outcome`` string ``callport talk --json`` prints) and from what reached
the wire (a REFER, a voicemail row)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from call_fakes import EnergyVad, ToneTTS

from callport.agents.base import AgentFactory
from callport.config import Settings
from callport.flows.ivr import IvrFlow, IvrJournal
from callport.server.runtime import Runtime, build_runtime
from callport.speech.base import Transcript
from callport.types import PCM16

ACME = Path(__file__).parents[2] / "examples" / "ivr" / "acme.toml"
OPEN = "2026-12-02T10:00"  # a Wednesday, 10:00 in New York: the main menu
LIMIT_S = 30.0  # every wait is bounded by this


class HeardSTT:
    """Every utterance is heard as ``text`` (the audio is a tone or a recording)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    async def transcribe(self, pcm: PCM16, sample_rate: int, *, hints: Sequence[str] = ()
                         ) -> Transcript:  # fmt: skip
        self.calls += 1
        return Transcript(text=self.text if len(pcm) > sample_rate // 10 else "", seconds=0.0)


def ivr_settings(base: Settings, db: Path, **server: Any) -> Settings:
    """``base`` with the acme menu, ``db``, and callers without a user acting as the owner."""
    return replace(base, server=replace(base.server, db=str(db), ivr=str(ACME), **server),
                   identity=replace(base.identity, unknown="owner"))


def ivr_runtime(settings: Settings, *, heard: str = "please call me back",
                agent_factory: AgentFactory | None = None, at: str = OPEN
                ) -> tuple[Runtime, IvrFlow, ToneTTS]:  # fmt: skip
    tts = ToneTTS()
    runtime = build_runtime(settings, stt=HeardSTT(heard), tts=tts,
                            vad=EnergyVad(),  # type: ignore[arg-type]
                            agent_factory=agent_factory)  # fmt: skip
    flow = runtime.flow
    assert isinstance(flow, IvrFlow)
    flow.at = datetime.fromisoformat(at)
    return runtime, flow, tts


async def until(check: Callable[[], object], what: str = "") -> None:
    try:
        async with asyncio.timeout(LIMIT_S):
            while not check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or check}") from None


def journal(flow: IvrFlow) -> tuple[str, IvrJournal]:
    """The one call's (id, journal)."""
    [(call_id, entry)] = flow.journals.items()
    return call_id, entry
