"""Saying the same "add" twice asks before making a duplicate; STT hints hold each open title
once and are bounded (duplicate titles in Whisper's prompt made it drop words)."""

from __future__ import annotations

from datetime import datetime

from taskmanager_support import info, said, turn

from callport.agents.taskmanager.agent import VOCABULARY_TITLES, TaskManagerAgent
from callport.speech.whisper import HINT_WORDS, WhisperSTT
from callport.store.tasks import MemoryTaskStore


async def test_adding_an_open_title_again_asks_and_no_keeps_one(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    await turn(agent, "Add a task to book the dentist for Friday.")
    outs = await turn(agent, "Add a task to book the dentist for Friday.")
    assert said(outs) == "You already have book the dentist, due on Friday. Add it again?"
    outs = await turn(agent, "No.")
    assert info(outs).slots == {"confirming": "add_again"}
    assert [t.title for t in await store.list()] == ["book the dentist"]


async def test_yes_adds_the_duplicate_with_its_own_date(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    await store.add("Buy milk")
    asked = said(await turn(agent, "add buy milk tomorrow"))
    assert asked == "You already have Buy milk. Add it again?"
    assert said(await turn(agent, "yes")) == "Added: buy milk, due tomorrow."
    tasks = await store.list()
    assert sorted(t.title for t in tasks) == ["Buy milk", "buy milk"]
    assert [t.due for t in tasks if t.title == "buy milk"] == [datetime(2025, 3, 13, 23, 59)]


async def test_a_done_or_different_task_is_added_without_asking(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    done = await store.add("buy milk")
    await store.complete(done.id)
    assert said(await turn(agent, "add buy milk")) == "Added: buy milk."
    assert said(await turn(agent, "add buy bread")) == "Added: buy bread."


async def test_vocabulary_holds_each_title_once_and_is_bounded(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    for _ in range(3):
        await store.add("book the dentist")
    await store.add("Book the dentist.")
    for n in range(VOCABULARY_TITLES + 5):
        await store.add(f"task number {n}")
    hints = await agent.vocabulary()
    assert len(hints) == VOCABULARY_TITLES and len(set(hints)) == len(hints)
    await store.add("call mom")
    await store.add("call mom")
    assert (await agent.vocabulary())[:2] == ["call mom", f"task number {VOCABULARY_TITLES + 4}"]


def test_whisper_prompt_lists_a_title_once_within_its_word_budget() -> None:
    stt = WhisperSTT(prompt="Add a task.")
    prompt = stt.prompt_for(["book the dentist", "Book the dentist.", "book the dentist",
                             "call mom"] + [f"word{n} word{n}" for n in range(100)])
    assert prompt is not None
    assert prompt.lower().count("book the dentist") == 1 and "call mom" in prompt
    assert len(prompt.split()) <= HINT_WORDS + len(["Add", "a", "task.", "Tasks:"])
