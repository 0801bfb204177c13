"""Date/time slots with a fixed ``now`` (Wednesday 12 March 2025, 10:00)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from callport.nlu.dates import When, extract_when, parse_when
from callport.nlu.text import normalize

NOW = datetime(2025, 3, 12, 10, 0)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", When(date(2025, 3, 12))),
        ("tonight", When(date(2025, 3, 12))),
        ("at 9 tonight", When(date(2025, 3, 12), time(21, 0))),
        ("tomorrow", When(date(2025, 3, 13))),
        ("the day after tomorrow", When(date(2025, 3, 14))),
        ("next Friday", When(date(2025, 3, 14))),
        ("on Monday", When(date(2025, 3, 17))),
        ("on Wednesday", When(date(2025, 3, 19))),  # today is Wednesday: a week on
        ("this Wednesday", When(date(2025, 3, 12))),
        ("in 3 days", When(date(2025, 3, 15))),
        ("in a week", When(date(2025, 3, 19))),
        ("in two hours", When(date(2025, 3, 12), time(12, 0))),
        ("in 20 minutes", When(date(2025, 3, 12), time(10, 20))),
        ("in half an hour", When(date(2025, 3, 12), time(10, 30))),
        ("at 3 pm", When(date(2025, 3, 12), time(15, 0))),
        ("at 3 p.m.", When(date(2025, 3, 12), time(15, 0))),
        ("at 3PM", When(date(2025, 3, 12), time(15, 0))),
        ("three pm", When(date(2025, 3, 12), time(15, 0))),
        ("at 15:30", When(date(2025, 3, 12), time(15, 30))),
        ("at 3 30", When(date(2025, 3, 12), time(15, 30))),
        ("at noon", When(date(2025, 3, 12), time(12, 0))),
        ("at 9 am", When(date(2025, 3, 13), time(9, 0))),  # 9 am has passed: tomorrow
        ("at 7 in the evening", When(date(2025, 3, 12), time(19, 0))),
        ("tomorrow morning at 7", When(date(2025, 3, 13), time(7, 0))),
        ("on December 3rd", When(date(2025, 12, 3))),
        ("the 3rd of December", When(date(2025, 12, 3))),
        ("March 10", When(date(2026, 3, 10))),  # passed this year
        ("the 5th", When(date(2025, 4, 5))),  # passed this month
        ("on the twenty first", When(date(2025, 3, 21))),
        ("next Tuesday at three thirty p.m.", When(date(2025, 3, 18), time(15, 30))),
    ],
)
def test_parse_when(text: str, expected: When) -> None:
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["buy two apples", "call mom", "", "delay it by 2 days"])
def test_no_date(text: str) -> None:
    assert parse_when(text, NOW) is None


def test_rest_drops_the_date_phrase() -> None:
    found = extract_when("Add a task to call Bob at three P.M. on the twenty-first!", NOW)
    assert found is not None
    assert found.when == When(date(2025, 3, 21), time(15, 0))
    assert found.rest == "add a task to call bob"


def test_month_end_and_year_end() -> None:
    assert parse_when("the 31st", datetime(2025, 4, 10)) == When(date(2025, 5, 31))
    assert parse_when("the 2nd", datetime(2025, 12, 20)) == When(date(2026, 1, 2))
    assert parse_when("tomorrow", datetime(2025, 12, 31, 23)) == When(date(2026, 1, 1))
    assert parse_when("february 30", NOW) is None


def test_as_datetime_day_only_is_end_of_day() -> None:
    assert When(date(2025, 3, 13)).as_datetime() == datetime(2025, 3, 13, 23, 59)


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Um, add a task: buy milk!", "add a task buy milk"),
        ("at three P.M.", "at 3 pm"),
        ("twenty-one", "21"),
        ("on the twenty third", "on the 23rd"),
        ("3pm", "3 pm"),
        ("3:30pm", "3:30 pm"),
        ("What’s up", "what's up"),
    ],
)
def test_normalize(raw: str, norm: str) -> None:
    assert normalize(raw) == norm
