"""The automatic conversation limit follows the speech engines' measured cost: a machine
whose decodes take longer (other work on it, a bigger model) admits fewer callers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.config import ServerSettings, Settings
from callport.server import capacity
from callport.server.admission import capacity_from_cost
from callport.server.runtime import Runtime
from callport.speech.jobs import Backlog
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists


class WhisperSTT(ScriptedSTT):
    """Stands for the embedded Whisper (admission caps only the embedded stack)."""


def runtime(max_conversations: int = 0, stt: ScriptedSTT | None = None) -> Runtime:
    settings = Settings(server=ServerSettings(db=":memory:", max_conversations=max_conversations))
    return Runtime(settings=settings, calls=MemoryCallStore(), users=MemoryUserStore(),
                   tasks=MemoryTaskLists(), stt=stt or WhisperSTT(["hi"]), tts=ToneTTS(),
                   vad=EnergyVad(), agent_factory=lambda info: EchoTextAgent())


def pools(stt_s: float, tts_s: float) -> dict[str, Backlog]:
    def one(s: float) -> Backlog:
        return Backlog(queued=0, oldest_s=0.0, running=0, dropped=0, done=5, service_s=s)

    return {"stt": one(stt_s), "tts": one(tts_s)}


def test_capacity_from_cost() -> None:
    assert capacity_from_cost(0.5, cycle_s=6.0, utilization=0.5) == 6
    assert capacity_from_cost(0.25, cycle_s=6.0, utilization=0.5) == 12
    assert capacity_from_cost(30.0) == 1  # never zero
    assert capacity_from_cost(0.0) is None  # nothing measured yet


def test_measured_cost_lowers_the_automatic_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(capacity, "speech_backlog", lambda: pools(0.0, 0.0))
    rt = runtime()
    assert capacity.max_conversations(rt) == 10  # nothing measured: cores x 5
    monkeypatch.setattr(capacity, "speech_backlog", lambda: pools(0.6, 0.4))
    assert capacity.max_conversations(rt) == 3  # 0.5 x 6 s / 1 s a turn
    monkeypatch.setattr(capacity, "speech_backlog", lambda: pools(0.05, 0.05))
    assert capacity.max_conversations(rt) == 10  # cheap turns: the cores' share still caps


def test_a_configured_limit_or_another_engine_is_not_lowered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "speech_backlog", lambda: pools(0.6, 0.4))
    assert capacity.max_conversations(runtime(max_conversations=25)) == 25
    assert capacity.max_conversations(runtime(stt=ScriptedSTT(["hi"]))) == capacity.NO_LIMIT
