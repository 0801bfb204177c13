"""A title that names no task, but sounds like one of the caller's own: the agent offers that
task by its real title and changes it only after a yes (``taskmanager.misheard``)."""

from __future__ import annotations

from datetime import datetime

from taskmanager_support import NOW, said, turn
from test_taskmanager_askback import Unsure as Sure

from callport.agents.taskmanager.agent import TaskManagerAgent
from callport.agents.taskmanager.misheard import likely_task, likeness
from callport.nlu.intents import IntentClassifier, IntentResult
from callport.store.tasks import MemoryTaskStore, Task


def _task(tid: int, title: str) -> Task:
    return Task(id=tid, title=title, due=None, done=False, created_at=NOW, updated_at=NOW)


async def _agent(real: IntentClassifier, intent: str) -> tuple[TaskManagerAgent, MemoryTaskStore]:
    store = MemoryTaskStore(clock=lambda: NOW)
    for title in ("pay the plumber", "water the plants", "call grandma"):
        await store.add(title, datetime(2025, 3, 14, 9, 0))
    sure = Sure(real, IntentResult(intent, 0.9, best_guess=intent))
    agent = TaskManagerAgent(store=store, classifier=sure, now=lambda: NOW,  # type: ignore[arg-type]
                             offload=False)  # fmt: skip
    return agent, store


def test_the_task_that_sounds_closest_is_guessed() -> None:
    tasks = [_task(1, "pay the plumber"), _task(2, "water the plants"), _task(3, "call grandma")]
    assert likely_task("paid a plumber", tasks) == tasks[0]
    assert likely_task("what are the plans", tasks) == tasks[1]
    heard = "paid a plumber"
    assert likeness(heard, "pay the plumber") > likeness(heard, "call grandma")


def test_no_guess_for_words_like_no_task_or_like_two_alike() -> None:
    tasks = [_task(1, "pay the plumber"), _task(2, "water the plants")]
    assert likely_task("fly a kite", tasks) is None
    assert likely_task("", tasks) is None
    assert likely_task("paid a plumber", []) is None
    twins = [_task(1, "call the plumber"), _task(2, "call the plumbers")]
    assert likely_task("caught a plumber", twins) is None  # too close to tell: no guess


async def test_a_misheard_complete_names_the_real_task_and_waits_for_yes(
    classifier: IntentClassifier,
) -> None:
    agent, store = await _agent(classifier, "complete")
    outs = await turn(agent, "mark paid a plumber as done")
    assert said(outs) == "Mark pay the plumber as done?"
    assert not any(t.done for t in await store.list(include_done=True))
    await turn(agent, "yes")
    assert [t.title for t in await store.list(include_done=True) if t.done] == ["pay the plumber"]


async def test_no_to_a_guessed_delete_leaves_the_list(classifier: IntentClassifier) -> None:
    agent, store = await _agent(classifier, "delete")
    assert said(await turn(agent, "delete what are the plans")) == "Delete water the plants?"
    await turn(agent, "no")
    assert len(await store.list(include_done=True)) == 3


async def test_a_guessed_reschedule_asks_before_moving(classifier: IntentClassifier) -> None:
    agent, store = await _agent(classifier, "reschedule")
    outs = await turn(agent, "move what are the plans to friday")
    assert said(outs) == "Move water the plants to Friday?"
    assert all(t.due == datetime(2025, 3, 14, 9, 0) for t in await store.list())
    await turn(agent, "no")
    assert all(t.due == datetime(2025, 3, 14, 9, 0) for t in await store.list())
    await turn(agent, "move what are the plans to saturday")
    await turn(agent, "yes")
    moved = {t.title: t.due for t in await store.list()}
    assert moved["water the plants"] is not None and moved["water the plants"].day == 15
    assert moved["call grandma"] == datetime(2025, 3, 14, 9, 0)


async def test_a_guessed_reschedule_without_a_date_asks_which_then_when(
    classifier: IntentClassifier,
) -> None:
    agent, _store = await _agent(classifier, "reschedule")
    outs = await turn(agent, "postpone what are the plans")
    assert said(outs) == "Did you mean water the plants?"
    assert said(await turn(agent, "yes")) == "When should water the plants be due?"


async def test_a_title_like_no_task_is_still_not_found(classifier: IntentClassifier) -> None:
    agent, store = await _agent(classifier, "complete")
    assert said(await turn(agent, "mark fly a kite as done")).startswith("I couldn't find")
    assert agent.state.pending is None
    assert not any(t.done for t in await store.list(include_done=True))
