"""Writes taskmanager_dev.json: a small Task Manager *tuning* set (the held-out test set is
bench/corpus/taskmanager.json; this one is written apart from both it and the agent's examples,
with its own fixture, titles and wordings). Thresholds are tuned on this set only.

    python bench/dev/make_dev.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NOW = "2026-12-02T10:00"  # Wednesday
FIXTURE = [
    {"title": "feed the neighbour's cat", "due": "2026-12-03T23:59"},
    {"title": "call the electrician", "due": "2026-12-04T11:00"},
    {"title": "pay the phone bill", "due": "2026-12-09T23:59"},
    {"title": "call uncle joe", "due": None},
    {"title": "buy a birthday card", "due": "2026-12-02T17:00"},
    {"title": "email the accountant", "due": None},
    {"title": "wash the car", "due": "2026-12-06T23:59"},
    {"title": "collect the parcel", "due": "2026-12-05T23:59"},
]
CASES: list[dict[str, Any]] = []


def case(turns: str | list[str], intent: str | None, outcome: dict[str, Any] | None = None,
         **extra: Any) -> None:
    turns = [turns] if isinstance(turns, str) else turns
    CASES.append({"id": f"dev-{len(CASES) + 1:03d}", "turns": turns, "intent": intent,
                  "src": "dev", "outcome": outcome or {}, **extra})


def add(turns: str, title: str, due: str | None = None) -> None:
    extra = {"title": title} | ({"due": due} if due else {})
    case(turns, "add", {"add": [{"title": title, "due": due}]}, **extra)


add("could you jot down book the vet for the dog", "book the vet for the dog")
add("stick order new glasses on the list for monday", "order new glasses", "2026-12-07")
add("I must phone the bank on thursday", "phone the bank", "2026-12-03")
add("new reminder defrost the freezer", "defrost the freezer")
add("remember for me to bring the tent back", "bring the tent back")
add("I want a task that says sort the recycling", "sort the recycling")
add("add get petrol tonight", "get petrol", "2026-12-02")
add("write down call the school at 2 pm tomorrow", "call the school", "2026-12-03T14:00")
add("a new to do please buy stamps", "buy stamps")
add("set a reminder to charge the drill on sunday", "charge the drill", "2026-12-06")
add("I should probably renew my library card", "renew my library card")
add("make sure I cancel the gym membership next week", "cancel the gym membership",
    "2026-12-09")
case("what have I got on this week", "list")
case("go through my jobs for the week", "list")
case("is there anything I need to do tomorrow", "list")
case("remind me what's pending", "list")
case("read out everything on the list", "list")
case("what's coming up", "list")
case("I fed the neighbour's cat", "complete", {"complete": ["feed the neighbour's cat"]})
case("the car is washed", "complete", {"complete": ["wash the car"]})
case("tick the parcel off", "complete", {"complete": ["collect the parcel"]})
case("I've sent the email to the accountant", "complete", {"complete": ["email the accountant"]})
case("finished paying the phone bill", "complete", {"complete": ["pay the phone bill"]})
case("the birthday card is bought", "complete", {"complete": ["buy a birthday card"]})
case("scrap the birthday card", "delete", {"delete": ["buy a birthday card"]})
case("I don't need the car wash anymore take it away", "delete", {"delete": ["wash the car"]})
case("wipe email the accountant off the list", "delete", {"delete": ["email the accountant"]})
case("get the parcel thing off my list", "delete", {"delete": ["collect the parcel"]})
case("lose the uncle joe task", "delete", {"delete": ["call uncle joe"]})
case("bump the electrician to monday", "reschedule",
     {"due": {"call the electrician": "2026-12-07"}}, due="2026-12-07")
case("can the car wash wait until next saturday", "reschedule",
     {"due": {"wash the car": "2026-12-12"}}, due="2026-12-12")
case("the phone bill should be due on friday instead", "reschedule",
     {"due": {"pay the phone bill": "2026-12-04"}}, due="2026-12-04")
case("put feeding the cat off to the weekend", "reschedule",
     {"due": {"feed the neighbour's cat": "2026-12-05"}}, due="2026-12-05")
case("change uncle joe to thursday at 6 pm", "reschedule",
     {"due": {"call uncle joe": "2026-12-03T18:00"}}, due="2026-12-03T18:00")
case("how does this thing work then", "help")
case("what sort of things can I ask", "help")
case("that'll be all cheers", "goodbye", {"hangup": True})
case("ok I'm finished now bye", "goodbye", {"hangup": True})
case("alright thanks that's it for today", "goodbye", {"hangup": True})
case("can you book me a taxi", None)
case("what's the score in the match", None)
case("set an alarm for 6", None)
case("how many miles to the moon", None)
case("sing me something", None)
case(["bin the call task", "uncle joe"], "delete", {"delete": ["call uncle joe"]})
case(["mark the call one done", "the electrician"], "complete",
     {"complete": ["call the electrician"]})
case("move the car wash to tomorrow no sorry to sunday", "reschedule",
     {"due": {"wash the car": "2026-12-06"}}, due="2026-12-06")
case("add buy milk oh actually never mind", None)

if __name__ == "__main__":
    out = Path(__file__).with_name("taskmanager_dev.json")
    out.write_text(json.dumps({"now": NOW, "fixture": FIXTURE, "cases": CASES}, indent=1) + "\n")
    print(f"{len(CASES)} cases -> {out}")
