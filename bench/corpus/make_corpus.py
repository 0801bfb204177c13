"""Writes taskmanager.json: the Task Manager evaluation corpus (run once; the JSON is committed).

Written apart from the agent's training examples (agents/taskmanager/examples.py): new titles,
new dates, new wordings. Template cases combine command frames with titles and dates nobody
tuned to; paraphrase cases are free sentences. ``tests/taskmanager/test_corpus.py`` checks
that no utterance equals a training example.

Every case runs on the same fixture list (``FIXTURE``) on a fixed clock (``NOW``, a
Wednesday). ``outcome`` is what the list must look like afterwards: tasks added (title, due),
tasks completed / deleted (fixture titles), new due dates, and whether the call hung up. A due
date without a time is checked by day only.

    python bench/corpus/make_corpus.py
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

NOW = "2026-12-02T10:00"  # Wednesday
FIXTURE = [
    {"title": "pick up the dry cleaning", "due": "2026-12-03T23:59"},
    {"title": "call the plumber", "due": "2026-12-04T15:00"},
    {"title": "renew the car insurance", "due": "2026-12-10T23:59"},
    {"title": "call grandma", "due": None},
    {"title": "water the plants", "due": "2026-12-02T18:00"},
    {"title": "text the babysitter", "due": None},
    {"title": "book a haircut", "due": "2026-12-05T23:59"},
    {"title": "return the library books", "due": "2026-12-07T23:59"},
]
CASES: list[dict[str, Any]] = []


def case(turns: str | list[str], intent: str | None, *, src: str = "template",
         title: str | None = None, due: str | None = None, outcome: dict[str, Any] | None = None,
         intent_turn: int = 0) -> None:
    turns = [turns] if isinstance(turns, str) else turns
    item: dict[str, Any] = {"id": f"{intent or 'none'}-{len(CASES) + 1:03d}", "turns": turns,
                            "intent": intent, "src": src, "outcome": outcome or {}}
    if title is not None:
        item["title"] = title
    if due is not None:
        item["due"] = due
    if intent_turn:
        item["intent_turn"] = intent_turn
    CASES.append(item)


def add(turns: str | list[str], title: str, due: str | None = None, *, src: str = "template"
        ) -> None:
    case(turns, "add", src=src, title=title, due=due,
         outcome={"add": [{"title": title, "due": due}]})


# -- add: frames x (title, date phrase, due) ---------------------------------------------------
ADD_FRAMES = [
    "add {t} to my list{d}", "add a task to {t}{d}", "please put {t} on my to do list{d}",
    "new task {t}{d}", "remind me to {t}{d}", "can you create a reminder to {t}{d}",
    "I need to {t}{d}", "don't let me forget to {t}{d}", "could you add {t}{d}",
    "make a note to {t}{d}", "add {t}{d} please", "I have to remember to {t}{d}",
    "put down {t}{d}", "I'd like to add a new task {t}{d}", "okay add {t}{d}",
]
ADD_TITLES = [
    ("buy oat milk", " tomorrow", "2026-12-03"),
    ("pick up the prescription", " on friday", "2026-12-04"),
    ("pay the water bill", " by the 15th", "2026-12-15"),
    ("clean the gutters", " on saturday", "2026-12-05"),
    ("wrap the birthday presents", "", None),
    ("fix the leaky faucet", " tomorrow at 9 am", "2026-12-03T09:00"),
    ("mail the tax forms", " on monday", "2026-12-07"),
    ("print the boarding passes", " tomorrow morning", "2026-12-03"),
    ("buy a gift for sarah", "", None),
    ("take out the recycling", " tonight", "2026-12-02"),
    ("sign the permission slip", " on thursday", "2026-12-03"),
    ("defrost the turkey", " in two days", "2026-12-04"),
    ("order printer ink", "", None),
    ("bake cookies for the party", " on sunday", "2026-12-06"),
    ("vacuum the living room", " at 4 pm", "2026-12-02T16:00"),
]
for frame, (t, d, due) in zip(ADD_FRAMES, ADD_TITLES, strict=True):
    add(frame.format(t=t, d=d), t, due)
# a second pass with shifted pairings: same frames, other titles and dates
for frame, (t, d, due) in zip(ADD_FRAMES[::2], ADD_TITLES[9:] + ADD_TITLES[:9], strict=False):
    add(frame.format(t=t, d=d), t, due)
# adversarial titles: command words inside the title
add("add a task to cancel the gym membership", "cancel the gym membership")
add("add change the smoke alarm batteries to my list", "change the smoke alarm batteries")
add("new task check the tire pressure on friday", "check the tire pressure", "2026-12-04")
add("remind me to move the car at 8 am", "move the car", "2026-12-03T08:00")
add("add a task to schedule a vet appointment", "schedule a vet appointment")
add("put finish the photo album on my list", "finish the photo album")
# free paraphrases
P = "paraphrase"
add("oh and I should really get the car washed on saturday", "get the car washed",
    "2026-12-05", src=P)
add("could you jot down pick up the cake for friday", "pick up the cake", "2026-12-04", src=P)
add("stick buy batteries on the list", "buy batteries", src=P)
add("I want to add something, book the hotel for the conference",
    "book the hotel for the conference", src=P)
add("set a reminder for tomorrow at 10 am to call the bank", "call the bank",
    "2026-12-03T10:00", src=P)
add("there's one more thing for my list, polish my shoes", "polish my shoes", src=P)
add("I've got to pick up the kids from soccer at 5 pm", "pick up the kids from soccer",
    "2026-12-02T17:00", src=P)
add("write down buy a new toothbrush", "buy a new toothbrush", src=P)
add("let's add feed the neighbour's cat tomorrow", "feed the neighbour's cat", "2026-12-03",
    src=P)
add("make sure I remember to renew my library card", "renew my library card", src=P)

# -- list --------------------------------------------------------------------------------------
LIST_PLAIN = [
    "what's on my to do list", "read me my tasks please", "what do I need to do",
    "can you tell me what's on my list", "go through my list", "what have I got on",
    "tell me everything on my list", "which tasks do I have", "read out my reminders",
    "what's still open",
]
for text in LIST_PLAIN:
    case(text, "list")
LIST_DATED = [
    ("what do I have tomorrow", "2026-12-03"), ("anything due on friday", "2026-12-04"),
    ("what's on for saturday", "2026-12-05"), ("what do I need to get done today", "2026-12-02"),
    ("which tasks are due on monday", "2026-12-07"), ("is anything due tomorrow", "2026-12-03"),
]
for text, due in LIST_DATED:
    case(text, "list", due=due)
case("so what's on the agenda for me", "list", src=P)
case("remind me what I still have to do", "list", src=P)
case("I forgot what I put on my list, can you read it", "list", src=P)
case(["read my tasks", "keep reading"], "more", intent_turn=1)
case(["give me the list", "and what else"], "more", intent_turn=1, src=P)
case(["list everything", "go ahead and read the next ones"], "more", intent_turn=1)

# -- complete: frames x fixture references ---------------------------------------------------
COMPLETE_FRAMES = [
    "mark {r} as done", "I finished {r}", "check off {r}", "{r} is done",
    "I've completed {r}", "tick {r} off my list", "you can mark {r} complete",
    "I already did {r}", "cross {r} off", "{r} is finished",
]
REFS = [
    ("the dry cleaning", "pick up the dry cleaning"), ("the car insurance",
                                                       "renew the car insurance"),
    ("water the plants", "water the plants"), ("the babysitter", "text the babysitter"),
    ("the haircut", "book a haircut"), ("the library books", "return the library books"),
    ("call the plumber", "call the plumber"), ("call grandma", "call grandma"),
    ("pick up the dry cleaning", "pick up the dry cleaning"), ("book a haircut",
                                                              "book a haircut"),
]
for frame, (ref, title) in zip(COMPLETE_FRAMES, REFS, strict=True):
    case(frame.format(r=ref), "complete", outcome={"complete": [title]})
case("I watered the plants", "complete", outcome={"complete": ["water the plants"]}, src=P)
case("the library books are returned", "complete",
     outcome={"complete": ["return the library books"]}, src=P)
case("good news, I renewed the car insurance", "complete",
     outcome={"complete": ["renew the car insurance"]}, src=P)
case("I got my haircut booked, you can check that off", "complete",
     outcome={"complete": ["book a haircut"]}, src=P)
case("grandma has been called", "complete", outcome={"complete": ["call grandma"]}, src=P)

# -- delete (the agent asks first; the simulated caller says yes) ------------------------------
DELETE_FRAMES = [
    "delete {r}", "remove {r} from my list", "get rid of {r}", "please erase {r}",
    "take {r} off the list", "I don't need {r} anymore, delete it", "scrap {r}",
    "drop {r} from my tasks", "can you remove {r}", "delete the task {r}",
]
for frame, (ref, title) in zip(DELETE_FRAMES, REFS[3:] + REFS[:3], strict=True):
    case(frame.format(r=ref), "delete", outcome={"delete": [title]})
case("forget the dry cleaning, I don't need that on there", "delete",
     outcome={"delete": ["pick up the dry cleaning"]}, src=P)
case("the babysitter thing can go, delete it", "delete",
     outcome={"delete": ["text the babysitter"]}, src=P)
case("please wipe the haircut off my list entirely", "delete",
     outcome={"delete": ["book a haircut"]}, src=P)

# -- reschedule --------------------------------------------------------------------------------
RES_FRAMES = [
    "move {r} to {d}", "reschedule {r} for {d}", "push {r} to {d}",
    "change the due date of {r} to {d}", "can you postpone {r} until {d}",
    "make {r} due {d}", "I'd like to move {r} to {d}", "set {r} for {d}",
    "shift {r} to {d}", "{r} should be done {d} instead",
]
RES_DATES = [
    ("tomorrow", "2026-12-03"), ("saturday", "2026-12-05"), ("the 20th", "2026-12-20"),
    ("monday at 2 pm", "2026-12-07T14:00"), ("sunday", "2026-12-06"),
    ("friday at noon", "2026-12-04T12:00"), ("thursday", "2026-12-03"),
    ("december 18th", "2026-12-18"), ("the day after tomorrow", "2026-12-04"),
    ("tomorrow at 6 pm", "2026-12-03T18:00"),
]
for frame, (ref, title), (d, due) in zip(RES_FRAMES, REFS[5:] + REFS[:5], RES_DATES, strict=True):
    case(frame.format(r=ref, d=d), "reschedule", due=due, outcome={"due": {title: due}})
case("I can't do the dry cleaning tomorrow, make it saturday", "reschedule", due="2026-12-05",
     outcome={"due": {"pick up the dry cleaning": "2026-12-05"}}, src=P)
case("the plumber can't come friday, can we do monday at 11 am", "reschedule",
     due="2026-12-07T11:00", outcome={"due": {"call the plumber": "2026-12-07T11:00"}}, src=P)
case("let's put off the library books until the 12th", "reschedule", due="2026-12-12",
     outcome={"due": {"return the library books": "2026-12-12"}}, src=P)
case("bump the haircut back to sunday", "reschedule", due="2026-12-06",
     outcome={"due": {"book a haircut": "2026-12-06"}}, src=P)

# -- which one? (two "call" tasks), answered by the caller -------------------------------------
case(["mark the call as done", "the plumber"], "complete",
     outcome={"complete": ["call the plumber"]})
case(["delete the call task", "grandma"], "delete", outcome={"delete": ["call grandma"]})
case(["I made the call", "the second one"], "complete", src=P,
     outcome={"complete": ["call grandma"]})
case(["move the call to friday", "the one with grandma"], "reschedule", due="2026-12-04",
     outcome={"due": {"call grandma": "2026-12-04"}})
case(["remove the call", "the plumber one please"], "delete",
     outcome={"delete": ["call the plumber"]})
case(["cross off the phone call", "grandma"], "complete", src=P,
     outcome={"complete": ["call grandma"]})

# -- corrections and second thoughts -----------------------------------------------------------
case(["delete the haircut", "no wait, keep it"], "delete", src=P)
case(["remove the plumber", "actually no"], "delete", src=P)
case(["add a task to", "buy dog food"], "add", title="buy dog food",
     outcome={"add": [{"title": "buy dog food", "due": None}]})
case(["move the library books", "to saturday"], "reschedule", due="2026-12-05",
     outcome={"due": {"return the library books": "2026-12-05"}})
case(["reschedule a task", "the car insurance", "next wednesday"], "reschedule",
     due="2026-12-09", outcome={"due": {"renew the car insurance": "2026-12-09"}})
case(["add a reminder", "defrost the freezer"], "add", title="defrost the freezer",
     outcome={"add": [{"title": "defrost the freezer", "due": None}]})

# -- help, goodbye, out of scope ---------------------------------------------------------------
for text in ["how do I use this", "what are you able to do", "I'm not sure what to say",
             "can you explain how this works", "what kind of things can I ask"]:
    case(text, "help")
for text in ["that's it for now, bye", "okay thanks, goodbye", "I'm all set, thank you",
             "that'll be all", "alright, talk soon", "cheers, bye now", "we're done here"]:
    case(text, "goodbye", outcome={"hangup": True})
for text in ["will it rain tomorrow", "what's two plus two", "can you order me a taxi",
             "who is the president", "sing me a song", "what's the best pizza place near me",
             "how much is a flight to london", "set the thermostat to 70 degrees",
             "what's the score of the game", "can you call my wife", "tell me a story",
             "what year is it", "how do you spell necessary", "is the pharmacy open",
             "I'd like to pay my phone bill"]:
    case(text, None)

# -- more free paraphrases ---------------------------------------------------------------------
case("okay the plumber has been called", "complete", outcome={"complete": ["call the plumber"]},
     src=P)
case("done, I texted the babysitter", "complete",
     outcome={"complete": ["text the babysitter"]}, src=P)
case("the plants got their water already", "complete",
     outcome={"complete": ["water the plants"]}, src=P)
case("never mind about the car insurance, take it out", "delete",
     outcome={"delete": ["renew the car insurance"]}, src=P)
case("I won't be calling grandma so remove that one", "delete",
     outcome={"delete": ["call grandma"]}, src=P)
case("texting the babysitter can wait until friday", "reschedule", due="2026-12-04",
     outcome={"due": {"text the babysitter": "2026-12-04"}}, src=P)
case("I'll water the plants tomorrow instead", "reschedule", due="2026-12-03",
     outcome={"due": {"water the plants": "2026-12-03"}}, src=P)
case("what am I forgetting", "list", src=P)
add("I need to get new tires before the 20th", "get new tires", "2026-12-20", src=P)
add("add call the vet to my tasks for tuesday", "call the vet", "2026-12-08")
case("where is the nearest gas station", None, src=P)
case("what's my bank balance", None, src=P)
case("bye for now", "goodbye", outcome={"hangup": True}, src=P)

if __name__ == "__main__":
    out = Path(__file__).with_name("taskmanager.json")
    counts: dict[str, int] = {}
    for c in CASES:
        counts[str(c["intent"])] = counts.get(str(c["intent"]), 0) + 1
    firsts = [c["turns"][0] for c in CASES]
    assert len(set(firsts)) == len(firsts), {t for t in firsts if firsts.count(t) > 1}
    doc = {"now": NOW, "fixture": FIXTURE, "cases": CASES}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    turns = set(itertools.chain(*(c["turns"] for c in CASES)))
    print(len(CASES), "cases", counts, "distinct turns", len(turns))
