""" "Which one?" dialogs: a title that names several open tasks about equally well is asked
about before anything changes (real intent model, in-memory store, fixed clock)."""

from __future__ import annotations

from datetime import datetime

import pytest
from taskmanager_support import info, said, turn

from callport.agents.base import Say, UserSaid
from callport.agents.taskmanager.agent import TaskManagerAgent
from callport.agents.taskmanager.dialog import Pick
from callport.store.tasks import MemoryTaskStore, Task

CALLS = "Which one: call mom, or call the dentist?"


async def snapshot(store: MemoryTaskStore) -> list[Task]:
    return await store.list(include_done=True)


async def two_calls(store: MemoryTaskStore) -> tuple[Task, Task]:
    return await store.add("call mom"), await store.add("call the dentist")


async def done(store: MemoryTaskStore, task: Task) -> bool:
    now = await store.get(task.id)
    assert now is not None
    return now.done


async def test_a_clear_match_acts_at_once(agent: TaskManagerAgent, store: MemoryTaskStore) -> None:
    mom, dentist = await two_calls(store)
    outs = await turn(agent, "Mark call mom as done.")
    assert said(outs) == "Mark call mom as done?"  # one clear match: no "which one?"
    assert said(await turn(agent, "yes")) == "Nice. Call mom is done."
    assert await done(store, mom) and not await done(store, dentist)
    assert agent.state.pending is None


@pytest.mark.parametrize(
    ("titles", "request_", "question"),
    [
        (("call mom", "call the dentist"), "mark call as done", CALLS),
        (
            ("buy milk", "return milk crates"),
            "mark milk as done",
            "Which one: buy milk, or return milk crates?",
        ),
    ],
)
async def test_equal_matches_ask_which_one_and_change_nothing(
    agent: TaskManagerAgent,
    store: MemoryTaskStore,
    titles: tuple[str, ...],
    request_: str,
    question: str,
) -> None:
    for title in titles:
        await store.add(title)
    before = await snapshot(store)
    outs = await turn(agent, request_)
    assert info(outs).intent == "complete"
    assert said(outs) == question
    assert await snapshot(store) == before
    assert isinstance(agent.state.pending, Pick)


@pytest.mark.parametrize(
    ("answer", "picked"),
    [
        ("the dentist one", "dentist"),
        ("Dentist.", "dentist"),
        ("I meant the dentist", "dentist"),
        ("Call the dentist.", "dentist"),
        ("mom", "mom"),
        ("The first one.", "mom"),
        ("second", "dentist"),
        ("Number two.", "dentist"),
        ("the last one", "dentist"),
    ],
)
async def test_answer_by_title_words_or_position_completes_that_one(
    agent: TaskManagerAgent, store: MemoryTaskStore, answer: str, picked: str
) -> None:
    mom, dentist = await two_calls(store)
    assert said(await turn(agent, "mark call as done")) == CALLS
    outs = await turn(agent, answer)
    chosen, other = (dentist, mom) if picked == "dentist" else (mom, dentist)
    assert info(outs).slots == {"picked": chosen.title}
    assert said(outs) == f"Nice. {chosen.title[:1].upper() + chosen.title[1:]} is done."
    assert await done(store, chosen) and not await done(store, other)
    assert agent.state.pending is None


async def test_keypad_digit_picks_and_a_wrong_key_asks_again(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, dentist = await two_calls(store)
    await turn(agent, "mark call as done")
    before = await snapshot(store)
    assert said(await turn(agent, digits="7")) == f"{CALLS} You can also press 1 or 2."
    assert await snapshot(store) == before
    assert said(await turn(agent, digits="2")) == "Nice. Call the dentist is done."
    assert await done(store, dentist) and not await done(store, mom)


async def test_delete_asks_which_then_confirms(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, dentist = await two_calls(store)
    assert said(await turn(agent, "Delete the call task.")) == CALLS
    assert said(await turn(agent, "the first one")) == "Delete call mom?"
    assert len(await snapshot(store)) == 2  # nothing deleted before the yes
    assert said(await turn(agent, "yes")) == "Deleted call mom."
    assert await store.get(mom.id) is None and await store.get(dentist.id) is not None


async def test_reschedule_keeps_the_time_said_with_the_request(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, dentist = await two_calls(store)
    outs = await turn(agent, "Move call to Friday at 3 pm.")
    assert info(outs).intent == "reschedule" and said(outs) == CALLS
    assert said(await turn(agent, "the dentist one")) == "Moved call the dentist to Friday at 3 PM."
    moved, kept = await store.get(dentist.id), await store.get(mom.id)
    assert moved is not None and moved.due == datetime(2025, 3, 14, 15, 0)
    assert kept is not None and kept.due is None


async def test_reschedule_without_a_time_asks_for_it_after_the_pick(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, _ = await two_calls(store)
    assert said(await turn(agent, "Reschedule call.")) == CALLS
    assert said(await turn(agent, "mom")) == "When should call mom be due?"
    assert said(await turn(agent, "next Monday")) == "Moved call mom to Monday."
    moved = await store.get(mom.id)
    assert moved is not None and moved.due == datetime(2025, 3, 17, 23, 59)


async def test_more_than_three_asks_for_more_of_the_title(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    for title in ("call mom", "call the dentist", "call the plumber", "call bob"):
        await store.add(title)
    outs = await turn(agent, "mark call as done")
    assert said(outs) == "4 tasks match call. Please say more of the title."
    before = await snapshot(store)
    assert said(await turn(agent, "the first one")).startswith("Sorry, I still can't tell.")
    assert await snapshot(store) == before  # no list was read, so no position can be picked
    assert said(await turn(agent, "the plumber")) == "Nice. Call the plumber is done."
    assert [t.title for t in await store.list()] == ["call mom", "call the dentist", "call bob"]


async def test_three_choices_are_listed_and_a_partial_answer_narrows_them(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    for title in ("call mom", "call the dentist", "call the dentist office"):
        await store.add(title)
    assert said(await turn(agent, "mark call as done")) == (
        "Which one: call mom, call the dentist, or call the dentist office?"
    )
    outs = await turn(agent, "the dentist")
    assert said(outs) == (
        "Which one: call the dentist, or call the dentist office? You can also press 1 or 2."
    )
    assert said(await turn(agent, digits="2")) == "Nice. Call the dentist office is done."
    assert [t.title for t in await store.list()] == ["call mom", "call the dentist"]


async def test_an_answer_that_fits_both_asks_again(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    await two_calls(store)
    await turn(agent, "mark call as done")
    before = await snapshot(store)
    for answer in ("call", "yes"):
        assert said(await turn(agent, answer)) == f"{CALLS} You can also press 1 or 2."
    assert await snapshot(store) == before
    assert said(await turn(agent, "mom")) == "Nice. Call mom is done."


@pytest.mark.parametrize(
    ("answer", "reply"),
    [
        ("Never mind.", "Okay, I left it as it is."),
        ("No.", "Okay, I left it as it is."),
        ("What's the weather like in Paris?", "Sorry, I didn't get which one, so I left"),
    ],
)
async def test_never_mind_or_out_of_scope_cancels(
    agent: TaskManagerAgent, store: MemoryTaskStore, answer: str, reply: str
) -> None:
    await two_calls(store)
    await turn(agent, "mark call as done")
    before = await snapshot(store)
    outs = await turn(agent, answer)
    assert said(outs).startswith(reply) and info(outs).slots == {"cancelled": "Pick"}
    assert agent.state.pending is None and await snapshot(store) == before
    # a late answer is a new turn: not acted on (at most asked back, see test_taskmanager_askback)
    late = said(await turn(agent, "the dentist one"))
    assert late.startswith(("Sorry, I didn't get that", "Did you want me to")), late
    assert await snapshot(store) == before


async def test_a_new_request_instead_of_an_answer_drops_the_question(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, dentist = await two_calls(store)
    await turn(agent, "mark call as done")
    outs = await turn(agent, "delete call mom")  # names one, but asks for something else
    assert info(outs).intent == "delete" and said(outs) == "Delete call mom?"
    assert not await done(store, mom) and not await done(store, dentist)
    await turn(agent, "mark call as done")
    outs = await turn(agent, "help")
    assert info(outs).intent == "help" and agent.state.pending is None


async def test_barge_in_on_the_question_leaves_nothing_half_done(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, dentist = await two_calls(store)
    await turn(agent, "mark call as done")
    before = await snapshot(store)
    agent.interrupted("Which one: call mom, or call")  # cut off before the second choice
    assert await snapshot(store) == before
    outs = await turn(agent, "the second one")  # not heard: asked again, not guessed
    assert said(outs) == f"{CALLS} You can also press 1 or 2."
    assert await snapshot(store) == before
    agent.interrupted("Which one:")  # cut off again, before any choice
    assert said(await turn(agent, digits="1")).startswith(CALLS)
    assert said(await turn(agent, "the dentist one")) == "Nice. Call the dentist is done."
    assert await done(store, dentist) and not await done(store, mom)


async def test_hang_up_during_the_question_changes_nothing(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    await two_calls(store)
    before = await snapshot(store)
    replies = agent.respond(UserSaid("mark call as done"))
    async for out in replies:
        if isinstance(out, Say):
            break  # the call ends while the question is being spoken
    await replies.aclose()
    assert await snapshot(store) == before


async def test_same_titles_are_told_apart_by_due_date(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    soon = await store.add("call mom", datetime(2025, 3, 13, 9, 0))
    later = await store.add("call mom", datetime(2025, 3, 14, 23, 59))
    assert said(await turn(agent, "mark call mom as done")) == (
        "Which one: call mom due tomorrow at 9 AM, or call mom due Friday?"
    )
    assert said(await turn(agent, "the one due friday")) == "Nice. Call mom is done."
    assert await done(store, later) and not await done(store, soon)


async def test_same_titles_without_due_date_act_on_the_first(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    first = await store.add("call mom")
    second = await store.add("call mom")
    assert said(await turn(agent, "mark call mom as done")) == "Mark call mom as done?"
    assert said(await turn(agent, "yes")) == "Nice. Call mom is done."
    assert await done(store, first) and not await done(store, second)


@pytest.mark.parametrize(
    ("heard_as", "title"),
    [
        ("Mark by milk is done.", "buy milk"),
        ("Mark bye milk as done.", "buy milk"),
        ("Mark right the report as done.", "write the report"),
        ("Mark meat John for lunch as done.", "meet John for lunch"),
        ("Check off buy too tickets.", "buy two tickets"),
    ],
)
async def test_homophones_find_the_task(
    agent: TaskManagerAgent, store: MemoryTaskStore, heard_as: str, title: str
) -> None:
    for other in ("buy bread", "read the paper", "buy tickets for the show", "meet the team"):
        await store.add(other)
    await store.add(title)
    outs = await turn(agent, heard_as)
    assert info(outs).intent == "complete", outs
    assert said(outs) == f"Mark {title} as done?"
    assert said(await turn(agent, "yes")) == f"Nice. {title[:1].upper() + title[1:]} is done."
    assert [t.title for t in await store.list(include_done=True) if t.done] == [title]


async def test_a_date_said_with_the_answer_is_the_new_due(
    agent: TaskManagerAgent, store: MemoryTaskStore
) -> None:
    mom, dentist = await two_calls(store)
    assert said(await turn(agent, "Move call to Friday.")) == CALLS
    assert said(await turn(agent, "The dentist one, on Monday.")) == (
        "Moved call the dentist to Monday."
    )
    moved, kept = await store.get(dentist.id), await store.get(mom.id)
    assert moved is not None and moved.due == datetime(2025, 3, 17, 23, 59)
    assert kept is not None and kept.due is None
