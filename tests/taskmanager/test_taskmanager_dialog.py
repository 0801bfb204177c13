"""Whole dialogs with the Task Manager over the in-memory store (real intent model)."""

from __future__ import annotations

from datetime import datetime

import pytest
from taskmanager_support import NOW, info, said, turn

from callport.agents.base import CallInfo, HangUpCall
from callport.agents.taskmanager.agent import TaskManagerAgent, task_manager_factory
from callport.nlu.intents import IntentClassifier
from callport.store.tasks import MemoryTaskLists, MemoryTaskStore
from callport.types import User


async def test_add_with_due(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    outs = await turn(agent, "Add a task to buy milk tomorrow at 3 pm.")
    assert info(outs).intent == "add"
    assert info(outs).slots["title"] == "buy milk"
    assert said(outs) == "Added: buy milk, due tomorrow at 3 PM."
    [task] = await store.list()
    assert task.title == "buy milk" and task.due == datetime(2025, 3, 13, 15, 0)


async def test_add_without_title_asks_then_adds(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    assert said(await turn(agent, "Add a task.")) == "What's the task?"
    outs = await turn(agent, "Water the plants on Friday.")
    assert info(outs).intent == "add"
    assert said(outs) == "Added: water the plants, due on Friday."
    assert [t.title for t in await store.list()] == ["water the plants"]


async def test_list_pages_and_more(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    await store.add("pay rent", datetime(2025, 3, 14, 23, 59))
    await store.add("buy milk", datetime(2025, 3, 12, 17, 0))
    await store.add("call mom")
    outs = await turn(agent, "What's on my to-do list?")
    assert info(outs).intent == "list"
    assert said(outs) == (
        "You have 3 tasks. Buy milk, due today at 5 PM. Pay rent, due on Friday. "
        "There is 1 more. Say more to hear them."
    )
    assert said(await turn(agent, "more")) == "Call mom."
    assert said(await turn(agent, "more")) == "That's all your tasks."


async def test_list_for_a_day(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    await store.add("overdue thing", datetime(2025, 3, 10, 9, 0))
    await store.add("today thing", datetime(2025, 3, 12, 23, 59))
    await store.add("tomorrow thing", datetime(2025, 3, 13, 9, 0))
    assert said(await turn(agent, "What do I have to do tomorrow?")) == (
        "You have 1 task for tomorrow. Tomorrow thing, due tomorrow at 9 AM."
    )
    assert said(await turn(agent, "What's due today?")).startswith(
        "You have 2 tasks for today. Overdue thing, was due on March 10 at 9 AM."
    )


async def test_barge_in_on_a_list_resumes_where_cut(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    for title in ("one", "two", "three"):
        await store.add(title)
    await turn(agent, "list my tasks")
    agent.interrupted("You have 3 tasks. One. Tw")  # "Two." was cut off
    assert said(await turn(agent, "continue")).startswith("Two. Three.")


async def test_complete_by_fuzzy_title(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    t = await store.add("call the plumber")
    outs = await turn(agent, "I already called the plumber.")
    assert info(outs).intent == "complete"
    # a complete asks first: here as an unsure guess, answered once (not asked twice)
    assert said(outs).startswith("Did you want me to mark ")
    undone = await store.get(t.id)
    assert undone is not None and not undone.done
    outs = await turn(agent, "yes")
    assert said(outs) == "Nice. Call the plumber is done."
    done = await store.get(t.id)
    assert done is not None and done.done
    assert "couldn't find" in said(await turn(agent, "mark walk the dog as done"))


async def test_a_spoken_complete_is_not_done_on_a_no(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    t = await store.add("water the ferns")
    assert said(await turn(agent, "mark water the ferns as done")) == (
        "Mark water the ferns as done?")
    assert agent.state.pending is not None
    outs = await turn(agent, "no")
    assert info(outs).intent == "no"
    still = await store.get(t.id)
    assert still is not None and not still.done and agent.state.pending is None


async def test_complete_all_needs_confirmation(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    await store.add("a")
    await store.add("b")
    assert said(await turn(agent, "Mark all my tasks as done.")) == "Mark all 2 open tasks as done?"
    assert len(await store.list()) == 2  # nothing yet
    outs = await turn(agent, "yes")
    assert info(outs).slots == {"confirming": "complete_all"}
    assert said(outs) == "Done. I marked 2 tasks as done."
    assert await store.list() == []


async def test_reschedule(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    t = await store.add("pay rent", datetime(2025, 3, 14, 23, 59))
    outs = await turn(agent, "Move pay rent to tomorrow at noon.")
    assert info(outs).intent == "reschedule"
    assert said(outs) == "Moved pay rent to tomorrow at noon."
    moved = await store.get(t.id)
    assert moved is not None and moved.due == datetime(2025, 3, 13, 12, 0)


async def test_reschedule_asks_for_the_date(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    t = await store.add("water the plants")
    assert said(await turn(agent, "Reschedule water the plants.")) == (
        "When should water the plants be due?"
    )
    assert said(await turn(agent, "next Monday")) == "Moved water the plants to Monday."
    moved = await store.get(t.id)
    assert moved is not None and moved.due == datetime(2025, 3, 17, 23, 59)


async def test_delete_confirm_no_then_yes(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    t = await store.add("pay rent")
    outs = await turn(agent, "Delete pay rent.")
    assert info(outs).intent == "delete" and said(outs) == "Delete pay rent?"
    assert said(await turn(agent, "No, keep it.")) == "Okay, I left it as it is."
    assert await store.get(t.id) is not None
    await turn(agent, "Delete pay rent.")
    assert said(await turn(agent, "Yes.")) == "Deleted pay rent."
    assert await store.get(t.id) is None


async def test_unclear_answer_repeats_the_question(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    t = await store.add("pay rent")
    await turn(agent, "remove pay rent from my list")
    assert said(await turn(agent, "what's the weather")) == "Please say yes or no. Delete pay rent?"
    assert said(await turn(agent, digits="1")) == "Deleted pay rent."  # keypad 1 = yes
    assert await store.get(t.id) is None


async def test_new_request_instead_of_an_answer_drops_the_question(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    t = await store.add("pay rent")
    await turn(agent, "delete pay rent")
    assert said(await turn(agent, "add a task to buy bread")) == "Added: buy bread."
    assert said(await turn(agent, "yes")).startswith("There's nothing to confirm")
    assert await store.get(t.id) is not None


async def test_help_goodbye_and_out_of_scope(agent: TaskManagerAgent) -> None:
    outs = await turn(agent, "What can you do?")
    assert info(outs).intent == "help" and "press 1" in said(outs)
    outs = await turn(agent, "What's the weather like in Paris?")
    assert info(outs).intent is None
    assert said(outs) == (
        "Sorry, I didn't get that. You can say things like: add a task to buy milk tomorrow."
    )
    outs = await turn(agent, "Okay, that's all, goodbye.")
    assert info(outs).intent == "goodbye"
    assert isinstance(outs[-1], HangUpCall) and said(outs) == "Goodbye!"


async def test_dtmf_menu(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    await store.add("buy milk")
    outs = await turn(agent, digits="1")
    assert info(outs).intent == "list" and said(outs) == "You have 1 task. Buy milk."
    assert info(await turn(agent, digits="0")).intent == "help"
    assert "Press 1" in said(await turn(agent, digits="7"))


async def test_factory_gives_each_user_their_own_list(classifier: IntentClassifier) -> None:
    tasks = MemoryTaskLists(clock=lambda: NOW)
    make = task_manager_factory(tasks, classifier=classifier, now=lambda: NOW)
    alice = User(name="alice", display_name="Alice")
    first = make(CallInfo(call_id="c1", channel="test", user=alice))
    second = make(CallInfo(call_id="c2", channel="test", user=alice))
    bob = make(CallInfo(call_id="c3", channel="test", user=User(name="bob")))
    assert first.greeting.startswith("Hi Alice, you've reached the Task Manager.")
    await turn(first, "add a task to feed the cat")
    assert said(await turn(second, "list my tasks")) == "You have 1 task. Feed the cat."
    assert said(await turn(bob, "list my tasks")) == "You have no open tasks."
    await turn(bob, "add a task to walk the dog")
    assert [t.title for t in await tasks.of("alice").list()] == ["feed the cat"]
    assert [t.title for t in await tasks.of("bob").list()] == ["walk the dog"]


async def test_factory_guests_and_unidentified_calls_get_throwaway_lists(
    classifier: IntentClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    tasks = MemoryTaskLists(clock=lambda: NOW)
    await tasks.of("owner").add("the owner's secret plan")
    make = task_manager_factory(tasks, classifier=classifier, now=lambda: NOW)
    guest = User(name="guest-1234abcd", display_name="guest", guest=True)
    for user in (guest, guest, None):
        agent = make(CallInfo(call_id="g", channel="test", user=user))
        assert not agent.greeting.startswith("Hi guest")
        assert said(await turn(agent, "list my tasks")) == "You have no open tasks."
        await turn(agent, "add a task to buy stamps")
    assert "no identified user" in caplog.text
    assert await tasks.owners() == ["owner"]  # nothing a guest or nobody did was kept


async def test_vocabulary_is_open_titles_newest_first(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    assert await agent.vocabulary() == []
    milk = await store.add("buy milk")
    await store.add("call the dentist")
    await store.add("pay rent")
    await store.complete(milk.id)
    assert await agent.vocabulary() == ["pay rent", "call the dentist"]


async def test_a_weak_goodbye_asks_before_hanging_up(agent: TaskManagerAgent) -> None:
    outs = await turn(agent, "I called")  # MiniLM's nearest example is a goodbye, weakly
    assert not any(isinstance(o, HangUpCall) for o in outs), outs
    assert info(outs).intent == "goodbye" and info(outs).score < 0.6, outs
    assert said(outs) == "Do you want to end the call?"
    outs = await turn(agent, "no")
    assert said(outs) == "Okay, I left it as it is." and agent.state.pending is None
    await turn(agent, "I called")
    outs = await turn(agent, "yes")
    assert said(outs) == "Goodbye!" and isinstance(outs[-1], HangUpCall)
    await turn(agent, "I called")
    outs = await turn(agent, digits="1")  # 1 is yes on the keypad
    assert isinstance(outs[-1], HangUpCall)
    outs = await turn(agent, "goodbye")  # a clear one hangs up at once
    assert isinstance(outs[-1], HangUpCall)
