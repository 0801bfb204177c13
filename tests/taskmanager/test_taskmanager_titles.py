"""Title matching the Task Manager relies on: homophones Whisper writes on 8 kHz speech, the
"about equally well" rule, and the pure "which one?" helpers (no model needed)."""

from __future__ import annotations

from datetime import datetime

import pytest

from callport.agents.taskmanager import picker
from callport.agents.taskmanager.dialog import Choice
from callport.store.tasks import (
    TIE_MARGIN,
    MemoryTaskStore,
    Task,
    close_matches,
    sounds_like,
    title_score,
    unmatched_words,
)

NOW = datetime(2025, 3, 12, 10, 0)


def task(task_id: int, title: str, due: datetime | None = None) -> Task:
    return Task(id=task_id, title=title, due=due, done=False, created_at=NOW, updated_at=NOW)


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("by", "buy"), ("bye", "buy"), ("two", "2"), ("too", "2"), ("four", "4"),
        ("right", "write"), ("rite", "write"), ("meat", "meet"), ("flower", "flour"),
        ("knight", "night"), ("weight", "wait"), ("knew", "new"),
    ],
)  # fmt: skip
def test_homophones_share_a_spelling(heard: str, meant: str) -> None:
    assert sounds_like(heard) == sounds_like(meant)


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("by milk", "buy milk"),
        ("right the report", "write the report"),
        ("meat john", "meet John for lunch"),
        ("buy too tickets", "buy two tickets"),
        ("buy two tickets", "buy 2 tickets"),
        ("order flower", "order flour"),
        ("buy for tires", "buy four tires"),  # "for" is a stop word: the other words decide
        ("pay to bills", "pay two bills"),
    ],
)
def test_homophones_match_almost_like_the_word_itself(query: str, title: str) -> None:
    assert unmatched_words(query, title) == []
    assert title_score(query, title) >= 0.85
    assert title_score(query, title) < 1.0  # the exact spelling still scores higher


def test_homophone_beats_a_one_letter_slip_and_loses_to_the_exact_word() -> None:
    assert title_score("by milk", "buy milk") > title_score("buy silk", "buy milk")
    assert title_score("buy milk", "buy milk") > title_score("by milk", "buy milk")


async def test_find_by_title_with_homophones() -> None:
    store = MemoryTaskStore(clock=lambda: NOW)
    milk = await store.add("buy milk")
    await store.add("buy bread")
    report = await store.add("write the report")
    await store.add("read the paper")
    assert [t.id for t in await store.find_by_title("by milk")][:1] == [milk.id]
    assert [t.id for t in await store.find_by_title("right the report")] == [report.id]
    assert close_matches("by milk", await store.find_by_title("by milk")) == [milk]


def test_close_matches_the_documented_cases() -> None:
    mom, dentist = task(1, "call mom"), task(2, "call the dentist")
    milk, crates = task(3, "buy milk"), task(4, "return milk crates")
    # both titles hold every word said: only how much of each title was named differs
    assert title_score("call", mom.title) == title_score("call", dentist.title) == 0.85
    assert close_matches("call", [mom, dentist]) == [mom, dentist]
    assert round(title_score("milk", milk.title) - title_score("milk", crates.title), 3) == 0.05
    assert close_matches("milk", [crates, milk]) == [milk, crates]  # best first
    # a word one title has and the other lacks decides it
    assert close_matches("call mom", [mom, dentist]) == [mom]
    assert close_matches("the milk crates", [milk, crates]) == [crates]
    assert close_matches("call mum", [mom, dentist]) == [mom]  # misheard, still clear


def test_a_whole_title_said_wins_over_a_longer_one() -> None:
    short, longer = task(1, "buy milk"), task(2, "buy milk and bread")
    assert title_score("buy milk", longer.title) > 1.0 - TIE_MARGIN - 0.01  # close, but:
    assert close_matches("buy milk", [longer, short]) == [short]


def test_close_matches_of_nothing() -> None:
    assert close_matches("call", []) == []


def test_choices_tell_same_titles_apart_by_due_date() -> None:
    a = task(1, "call mom", datetime(2025, 3, 13, 9, 0))
    b = task(2, "call mom", datetime(2025, 3, 14, 23, 59))
    c = task(3, "call the dentist")
    assert picker.choices_for([a, b, c], NOW) == (
        Choice(1, "call mom due tomorrow at 9 AM"),
        Choice(2, "call mom due Friday"),
        Choice(3, "call the dentist"),
    )
    same = picker.choices_for([task(1, "call mom"), task(2, "Call mom")], NOW)
    assert same == (Choice(1, "call mom"),)  # nothing tells them apart: one choice


def test_questions_are_short() -> None:
    two = picker.new_pick("complete", (Choice(1, "call mom"), Choice(2, "call bob")), "call")
    three = picker.new_pick("complete", (*two.choices, Choice(3, "call amy")), "call")
    four = picker.new_pick("complete", (*three.choices, Choice(4, "call joe")), "call")
    assert picker.question(two) == "Which one: call mom, or call bob?"
    assert picker.question(three) == "Which one: call mom, call bob, or call amy?"
    assert picker.question(four) == "4 tasks match call. Please say more of the title."
    assert (two.listed, two.heard, four.listed, four.heard) == (True, 2, False, 0)
    assert picker.ask_again(three).endswith("You can also press 1, 2 or 3.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the first one", 1), ("First.", 1), ("number one", 1), ("1", 1), ("the 2nd", 2),
        ("second one please", 2), ("two", 2), ("the third one", 3), ("the last one", 3),
        ("the amy one", 3), ("Bob.", 2), ("it's the one about mom", 1), ("call amy", 3),
        ("option 3", 3),
    ],
)  # fmt: skip
def test_read_answer_picks(text: str, expected: int) -> None:
    choices = (Choice(1, "call mom"), Choice(2, "call bob"), Choice(3, "call amy"))
    answer = picker.read_answer(text, picker.new_pick("complete", choices, "call"), NOW)
    assert answer == picker.Chosen(choices[expected - 1], None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call", picker.Unclear),
        ("the fourth one", picker.Unclear),  # no fourth: asked again
        ("never mind", picker.NotAnAnswer),
        ("add a task to buy eggs", picker.NotAnAnswer),
        ("delete call mom", picker.NotAnAnswer),  # another request, though it names one
        ("what's the weather", picker.NotAnAnswer),
    ],
)
def test_read_answer_does_not_guess(text: str, expected: type[picker.Answer]) -> None:
    choices = (Choice(1, "call mom"), Choice(2, "call bob"))
    answer = picker.read_answer(text, picker.new_pick("complete", choices, "call"), NOW)
    assert type(answer) is expected


def test_position_beyond_the_choices_is_unclear() -> None:
    choices = (Choice(1, "call mom"), Choice(2, "call bob"))
    pick = picker.new_pick("complete", choices, "call")
    assert picker.read_answer("the third one", pick, NOW) == picker.Unclear(choices)
    assert picker.by_digit(pick, "3") is None and picker.by_digit(pick, "2") == choices[1]


def test_barge_in_counts_only_choices_heard_in_full() -> None:
    choices = (Choice(1, "call mom"), Choice(2, "call the dentist"), Choice(3, "call bob"))
    pick = picker.new_pick("complete", choices, "call")
    assert picker.heard_choices(pick, "Which one: call mom, call the").heard == 1
    assert picker.heard_choices(pick, "Which one:").heard == 0
    assert picker.heard_choices(pick, picker.question(pick)).heard == 3
    cut = picker.heard_choices(pick, "Which one: call mom,")
    assert picker.read_answer("second", cut, NOW) == picker.Unclear(choices)
    assert picker.read_answer("first", cut, NOW) == picker.Chosen(choices[0], None)
    assert picker.read_answer("bob", cut, NOW) == picker.Chosen(choices[2], None)  # by name
    assert picker.by_digit(cut, "2") is None
    assert picker.afresh(cut).heard == 3
