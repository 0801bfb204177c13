"""Self-repairs inside one utterance (``nlu.repair``): a corrected date replaces the first one,
a taken-back request cancels, anything else is read as said."""

from __future__ import annotations

from datetime import date, datetime, time

from callport.nlu.repair import cancels, repaired_when, split_repair

NOW = datetime(2026, 12, 2, 10, 0)  # a Wednesday


def test_no_marker_no_repair() -> None:
    assert split_repair("move the dentist to friday") is None
    assert repaired_when("move the dentist to friday", NOW) is None
    assert not cancels("delete the dentist")


def test_the_corrected_date_wins() -> None:
    found = repaired_when("Move the gym to tomorrow, no sorry, to Sunday", NOW)
    assert found is not None
    assert found.when.date == date(2026, 12, 6) and "tomorrow" not in found.rest
    assert "gym" in found.rest


def test_a_corrected_time_keeps_the_title() -> None:
    found = repaired_when("add call the bank at 3 pm actually make it 4 pm", NOW)
    assert found is not None and found.when.time == time(16, 0)
    assert found.rest == "add call the bank"


def test_a_correction_that_is_more_than_a_date_is_left_alone() -> None:
    assert repaired_when("remove the dentist sorry the plumber on friday", NOW) is None


def test_taking_it_back_cancels() -> None:
    assert cancels("add buy tickets oh actually never mind")
    assert cancels("delete the plumber, no wait, forget it")
    assert not cancels("actually never mind")  # nothing before it: a plain "never mind"
    assert not cancels("add the report sorry add the slides")
