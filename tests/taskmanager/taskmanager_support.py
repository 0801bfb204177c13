"""Shared fixtures for the Task Manager dialog tests: the real intent model, an in-memory
store and an agent on a fixed clock, and helpers to run a turn and read what it said."""

from __future__ import annotations

from datetime import datetime

import pytest

from callport.agents.base import AgentOutput, Say, TurnInfo, UserPressed, UserSaid
from callport.agents.taskmanager.agent import TaskManagerAgent
from callport.agents.taskmanager.examples import build_classifier
from callport.nlu.intents import IntentClassifier
from callport.store.tasks import MemoryTaskStore

NOW = datetime(2025, 3, 12, 10, 0)  # Wednesday

__all__ = ["NOW", "agent", "classifier", "info", "said", "store", "turn"]


@pytest.fixture(scope="session")
def classifier() -> IntentClassifier:
    c = build_classifier()
    c.warm()
    return c


@pytest.fixture
def store() -> MemoryTaskStore:
    return MemoryTaskStore(clock=lambda: NOW)


@pytest.fixture
def agent(store: MemoryTaskStore, classifier: IntentClassifier) -> TaskManagerAgent:
    return TaskManagerAgent(store=store, classifier=classifier, now=lambda: NOW, page_size=2)


async def turn(
    agent: TaskManagerAgent, text: str | None = None, *, digits: str = ""
) -> list[AgentOutput]:
    event = UserSaid(text) if text is not None else UserPressed(digits)
    return [out async for out in agent.respond(event)]


def info(outs: list[AgentOutput]) -> TurnInfo:
    assert isinstance(outs[0], TurnInfo), outs
    return outs[0]


def said(outs: list[AgentOutput]) -> str:
    return " ".join(o.text for o in outs if isinstance(o, Say))
