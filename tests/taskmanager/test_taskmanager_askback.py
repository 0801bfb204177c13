"""Asking back: a request the classifier rejects, whose best guess is a task action, becomes
"Did you want me to ...?"; yes does it, no leaves the list alone, and nothing changes first."""

from __future__ import annotations

from datetime import datetime

from taskmanager_support import NOW, info, said, turn

from callport.agents.taskmanager.agent import ASK_BACK, SURE_ACT, TaskManagerAgent
from callport.agents.taskmanager.replies import FALLBACK
from callport.nlu.intents import IntentClassifier, IntentResult
from callport.store.tasks import MemoryTaskStore


class Unsure:
    """The real classifier, except that whole utterances it does not pin get ``result``."""

    def __init__(self, real: IntentClassifier, result: IntentResult) -> None:
        self._real, self._result = real, result

    def keyword(self, text: str) -> str | None:
        return self._real.keyword(text)

    def classify(self, text: str) -> IntentResult:
        return self._real.classify(text) if self._real.keyword(text) else self._result


def unsure_agent(store: MemoryTaskStore, real: IntentClassifier, guess: str,
                 score: float) -> TaskManagerAgent:
    result = IntentResult(None, score, runner_up="list", runner_up_score=score - 0.01,
                          best_guess=guess)
    return TaskManagerAgent(store=store, classifier=Unsure(real, result),  # type: ignore[arg-type]
                            now=lambda: NOW, offload=False)


async def test_a_near_miss_is_asked_back_and_yes_adds(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    agent = unsure_agent(store, classifier, "add", ASK_BACK + 0.02)
    outs = await turn(agent, "Could you pencil in renew the fishing licence on Friday")
    assert info(outs).intent is None
    assert said(outs).startswith("Did you want me to add ")
    assert await store.list() == []  # nothing changes before the yes
    outs = await turn(agent, "yes please")
    assert info(outs).intent == "add"
    [task] = await store.list()
    assert "fishing licence" in task.title
    assert task.due == datetime(2025, 3, 14, 23, 59)


async def test_no_leaves_the_list_alone(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    await store.add("sweep the porch")
    agent = unsure_agent(store, classifier, "complete", ASK_BACK + 0.05)
    outs = await turn(agent, "the porch is swept")
    assert said(outs).startswith("Did you want me to mark ")
    outs = await turn(agent, "no")
    assert info(outs).intent == "no"
    assert [t.done for t in await store.list(include_done=True)] == [False]


async def test_a_weak_guess_still_gets_the_fallback(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    agent = unsure_agent(store, classifier, "add", ASK_BACK - 0.05)
    outs = await turn(agent, "mumble mumble")
    assert said(outs) == FALLBACK
    assert agent.state.pending is None


async def test_something_else_instead_of_yes_is_a_new_turn(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    agent = TaskManagerAgent(store=store, classifier=classifier, now=lambda: NOW, offload=False)
    unsure = unsure_agent(store, classifier, "delete", ASK_BACK + 0.1)
    await turn(unsure, "the gutters can go")
    agent.state.pending = unsure.state.pending  # the question is pending on the real agent
    outs = await turn(agent, "add a task to oil the hinges")
    assert info(outs).intent == "add"
    assert [t.title for t in await store.list()] == ["oil the hinges"]


async def test_an_accepted_but_unsure_action_is_asked_back_too(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    result = IntentResult("add", SURE_ACT - 0.05, runner_up="list", runner_up_score=0.2,
                          best_guess="add")
    agent = TaskManagerAgent(store=store, classifier=Unsure(classifier, result),  # type: ignore[arg-type]
                             now=lambda: NOW, offload=False)
    outs = await turn(agent, "jot the bins out on thursday")
    assert info(outs).intent == "add"  # understood, not sure enough to act on unasked
    assert said(outs).startswith("Did you want me to add ")
    assert await store.list() == []
    await turn(agent, "yes")
    assert len(await store.list()) == 1


async def test_a_sure_action_is_done_at_once(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    result = IntentResult("add", SURE_ACT + 0.05, runner_up="list", runner_up_score=0.2,
                          best_guess="add")
    agent = TaskManagerAgent(store=store, classifier=Unsure(classifier, result),  # type: ignore[arg-type]
                             now=lambda: NOW, offload=False)
    outs = await turn(agent, "add take the bins out")
    assert not said(outs).startswith("Did you want")
    assert [t.title for t in await store.list()] == ["take the bins out"]


_NEARLY_ADD = IntentResult("reschedule", 0.9, runner_up="add", runner_up_score=0.85,
                           best_guess="reschedule")  # fmt: skip

async def test_a_change_to_no_task_on_the_list_is_asked_back_as_an_add(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    await store.add("water the plants", None)
    agent = TaskManagerAgent(store=store, classifier=Unsure(classifier, _NEARLY_ADD),  # type: ignore[arg-type]
                             now=lambda: NOW, offload=False)  # fmt: skip
    outs = await turn(agent, "I must phone the bank on thursday")
    assert said(outs) == "Did you want me to add phone the bank?"
    assert [t.title for t in await store.list()] == ["water the plants"]
    await turn(agent, "yes")
    added = {t.title: t.due for t in await store.list()}
    assert added["phone the bank"] == datetime(2025, 3, 13, 23, 59)


async def test_a_change_to_a_task_on_the_list_is_not_taken_for_an_add(
    store: MemoryTaskStore, classifier: IntentClassifier
) -> None:
    await store.add("water the plants", None)
    agent = TaskManagerAgent(store=store, classifier=Unsure(classifier, _NEARLY_ADD),  # type: ignore[arg-type]
                             now=lambda: NOW, offload=False)  # fmt: skip
    outs = await turn(agent, "move water the plants to thursday")
    assert said(outs).startswith("Moved water the plants to")
    assert len(await store.list()) == 1
