"""Sentence/clause splitting and speech normalisation (pure, no engines)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callport.speech.text import (
    normalize_for_speech,
    number_words,
    ordinal_words,
    split_clauses,
    split_sentences,
)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (21, "twenty-one"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (1000, "one thousand"),
        (1234, "one thousand two hundred thirty-four"),
        (2_000_017, "two million seventeen"),
        (-3, "minus three"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert number_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (12, "twelfth"),
     (20, "twentieth"), (22, "twenty-second"), (100, "one hundredth"), (31, "thirty-first")],
)
def test_ordinal_words(n: int, words: str) -> None:
    assert ordinal_words(n) == words


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello! How are you? Fine.", ["Hello!", "How are you?", "Fine."]),
        ("Call Dr. Smith today. Then rest.", ["Call Dr. Smith today.", "Then rest."]),
        ("It costs 3.50 now. Okay", ["It costs 3.50 now.", "Okay"]),
        ("I'm J. Smith, e.g. a tester. Bye.", ["I'm J. Smith, e.g. a tester.", "Bye."]),
        ("Meet at 9 a.m. Then lunch.", ["Meet at 9 a.m.", "Then lunch."]),
        ("Meet at 9 a.m. sharp.", ["Meet at 9 a.m. sharp."]),
        ("Wait... what?! Really.", ["Wait...", "what?!", "Really."]),
        ("First line\n\nSecond line", ["First line", "Second line"]),
        ("Done. :)", ["Done. :)"]),
        ("", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_short_sentences_are_not_cut() -> None:
    assert split_clauses("Your task has been added, thanks.") == [
        "Your task has been added, thanks."
    ]


def test_long_sentence_cut_at_commas() -> None:
    text = ("I have added the task buy milk to your list, and I set it for tomorrow "
            "morning at nine, but you can change it later.")
    assert split_clauses(text) == [
        "I have added the task buy milk to your list,",
        "and I set it for tomorrow morning at nine,",
        "but you can change it later.",
    ]


def test_long_clause_without_punctuation_cut_before_conjunction() -> None:
    text = ("You have three tasks due today and two more that are overdue "
            "but nothing is scheduled for the weekend yet.")
    clauses = split_clauses(text)
    assert clauses == [
        "You have three tasks due today",
        "and two more that are overdue",
        "but nothing is scheduled for the weekend yet.",
    ]


def test_short_list_items_are_merged_not_fragmented() -> None:
    text = "Here is everything on your list for today: milk, eggs, bread, and the dentist."
    clauses = split_clauses(text)
    assert clauses[0] == "Here is everything on your list for today:"
    assert all(len(c.split()) >= 3 for c in clauses)
    assert " ".join(clauses) == text


def test_numbers_with_commas_are_not_clause_breaks() -> None:
    text = "The total for the whole project comes to 1,250,000 dollars over the next three years."
    assert split_clauses(text) == [text]


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
               max_size=200))
def test_splitting_loses_no_text(text: str) -> None:
    assert " ".join(split_clauses(text)) == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Call Dr. Smith at 3:30 PM.", "Call Doctor Smith at three thirty P M."),
        ("At 3pm or 9:05 am", "At three P M or nine oh five A M"),
        ("Meet at 9 a.m. Then go", "Meet at nine A M. Then go"),
        ("The meeting is at 15:45", "The meeting is at fifteen forty-five"),
        ("Be there at 7:00", "Be there at seven o'clock"),
        ("It costs $4.50", "It costs four dollars and fifty cents"),
        ("Only $1 or $0.99", "Only one dollar or ninety-nine cents"),
        ("A $1,234 bill", "A one thousand two hundred thirty-four dollars bill"),
        ("50% done", "fifty percent done"),
        ("Task #12 is due March 3", "Task number twelve is due March third"),
        ("Due Jan 21st, 2025", "Due January twenty-first, twenty twenty-five"),
        ("Due 2024-03-05.", "Due March fifth, twenty twenty-four."),
        ("The 1st and 22nd", "The first and twenty-second"),
        ("In 1999 and 2005", "In nineteen ninety-nine and two thousand five"),
        ("Account 45678", "Account four five six seven eight"),
        ("Call 555-1234.", "Call five five five, one two three four."),
        ("Pi is 3.14", "Pi is three point one four"),
        ("It is -3 outside", "It is minus three outside"),
        ("Tea & cake, e.g. scones", "Tea and cake, for example scones"),
        ("**Bold** and `code`", "Bold and code"),
        ("5 tasks left", "five tasks left"),
    ],
)
def test_normalize_for_speech(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_every_integer_becomes_words(n: int) -> None:
    spoken = normalize_for_speech(f"You have {n} tasks.")
    assert not re.search(r"\d", spoken)
    assert spoken.startswith("You have ") and spoken.endswith(" tasks.")


@given(st.text(max_size=120))
def test_normalize_never_raises(text: str) -> None:
    assert isinstance(normalize_for_speech(text), str)
