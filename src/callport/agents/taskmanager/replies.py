"""What the Task Manager says: short sentences that read well through TTS."""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as dtime

from callport.store.tasks import Task

DAY_ONLY = dtime(23, 59)
GREETING = (
    "Hi, you've reached the Task Manager. I'm an automated assistant. "
    "You can add, list, complete or reschedule tasks. How can I help?"
)


def greeting_for(name: str) -> str:
    """The greeting, by name when the caller is known ("Hi Alice, you've reached ...")."""
    return GREETING.replace("Hi,", f"Hi {name},", 1) if name else GREETING


FALLBACK = "Sorry, I didn't get that. You can say things like: add a task to buy milk tomorrow."
HELP = (
    "You can add a task, like: add a task to buy milk tomorrow at 3 PM. "
    "You can ask what's on your list, or what's due today. "
    "You can say: mark buy milk as done, move buy milk to Friday, or delete buy milk. "
    "On the keypad, press 1 to hear your tasks, 2 for more, and 0 for help. "
    "Say goodbye when you're done."
)
GOODBYE = "Goodbye!"
END_CALL = "Do you want to end the call?"
CANCELLED = "Okay, I left it as it is."


def guess_question(intent: str, title: str) -> str:
    """Asking back about a request the classifier was unsure of."""
    named = title or "a task"
    match intent:
        case "add":
            return f"Did you want me to add {named}?"
        case "complete":
            return f"Did you want me to mark {named} as done?"
        case "delete":
            return f"Did you want me to delete {named}?"
        case "reschedule":
            return f"Did you want me to change when {named} is due?"
        case _:
            return "Did you want me to read your tasks?"
CONFIRM_AGAIN = "Please say yes or no."
ASK_TITLE = {
    "add": "What's the task?",
    "complete": "Which task is done?",
    "delete": "Which task should I delete?",
    "reschedule": "Which task should I move?",
}


def say_time(t: dtime) -> str:
    if t.hour == 12 and t.minute == 0:
        return "noon"
    if t.hour == 0 and t.minute == 0:
        return "midnight"
    hour = t.hour % 12 or 12
    suffix = "AM" if t.hour < 12 else "PM"
    return f"{hour} {suffix}" if t.minute == 0 else f"{hour}:{t.minute:02d} {suffix}"


def say_day(day: date, today: date) -> str:
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    if 1 < delta < 7:
        return f"on {day.strftime('%A')}"
    month_day = f"{day.strftime('%B')} {day.day}"
    if day.year != today.year:
        month_day += f", {day.year}"
    return f"on {month_day}"


def say_due(due: datetime | None, now: datetime) -> str:
    """ "tomorrow at 3 PM", "on Friday", "" when there is no due date."""
    if due is None:
        return ""
    day = say_day(due.date(), now.date())
    if due.time() == DAY_ONLY:
        return day  # a day without a time of day (see nlu.dates.When.as_datetime)
    return f"{day} at {say_time(due.time())}"


def describe(task: Task, now: datetime) -> str:
    """One task as a sentence: "Buy milk, due tomorrow at 3 PM." """
    due = say_due(task.due, now)
    title = task.title[:1].upper() + task.title[1:]
    if not due:
        return f"{title}."
    overdue = task.due is not None and task.due < now and not task.done
    return f"{title}, {'was ' if overdue else ''}due {due}."


def added(task: Task, now: datetime) -> str:
    due = say_due(task.due, now)
    return f"Added: {task.title}, due {due}." if due else f"Added: {task.title}."


def count_phrase(n: int, scope: str) -> str:
    noun = "task" if n == 1 else "tasks"
    if n == 0:
        return f"You have no open tasks{scope}."
    return f"You have {n} {noun}{scope}."


def scope_phrase(day: date | None, today: date) -> str:
    return "" if day is None else f" for {say_day(day, today).removeprefix('on ')}"
