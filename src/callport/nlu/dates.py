"""Date and time slots from spoken English, relative to ``now`` (an argument, never the clock).

Understood (after :func:`callport.nlu.text.normalize`, so number words work too):

- days: "today", "tonight", "tomorrow", "the day after tomorrow", "monday", "on friday",
  "this friday", "next friday", "in 3 days", "in a week", "in 2 weeks", "next week",
  "on december 3rd", "december 3", "the 3rd of december", "the 5th", "on the 5th"
- times: "at 3 pm", "3:30 pm", "at 15:30", "at 3 30", "at noon", "at midnight",
  "at 7 in the evening", "in 2 hours", "in 20 minutes", "in half an hour"

Weekdays mean the next such day after today ("on friday" said on a Friday is a week later;
"this friday" said on a Friday is today). A bare "at 3" means 3 pm for hours 1-6 and the
morning for 7-11. A time without a day is today if still ahead, else tomorrow. A day of the
month without a month is this month if still ahead, else next month; a month and day that has
passed this year is next year.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime

from callport.nlu.text import normalize

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9

_WD = "|".join(WEEKDAYS)
_MON = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
_NUM = r"(\d+|a|an|one)"

# Each pattern matches a whole phrase; the preposition in front ("on", "for", "by", "due")
# is part of the match so that it leaves the title too.
_PRE = r"(?:(?:due|by|for|on|until|till)\s+)?"
_DAY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("after_tomorrow", re.compile(rf"\b{_PRE}(?:the\s+)?day\s+after\s+tomorrow\b")),
    ("today", re.compile(rf"\b{_PRE}(?:today|this\s+(?:morning|afternoon|evening))\b")),
    ("tonight", re.compile(rf"\b{_PRE}tonight\b")),
    ("tomorrow", re.compile(rf"\b{_PRE}tomorrow(?:\s+(morning|afternoon|evening|night))?\b")),
    ("in_days", re.compile(rf"\b{_PRE}in\s+{_NUM}\s+(day|days|week|weeks)\b")),
    ("next_week", re.compile(rf"\b{_PRE}next\s+week\b")),
    ("weekday", re.compile(rf"\b{_PRE}(this\s+|next\s+|coming\s+|this\s+coming\s+)?({_WD})\b")),
    ("month_day", re.compile(rf"\b{_PRE}(?:the\s+)?({_MON})\s+(?:the\s+)?{_ORD}\b")),
    ("day_of_month", re.compile(rf"\b{_PRE}(?:the\s+)?{_ORD}\s+of\s+({_MON})\b")),
    ("the_nth", re.compile(rf"\b{_PRE}the\s+(\d{{1,2}})(?:st|nd|rd|th)\b")),
)
_TIME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("in_time", re.compile(rf"\bin\s+(?:{_NUM}\s+(hour|hours|minute|minutes|min|mins)"
                           r"|(half)\s+an\s+hour)\b")),
    ("noon", re.compile(r"\b(?:at\s+)?(noon|midday|midnight)\b")),
    ("clock", re.compile(
        r"\b(?:(?:at|by|around|from)\s+)?(\d{1,2})(?::(\d{2})|\s+(\d{2})(?=\s+(?:am|pm)\b))?"
        r"\s*(am|pm)\b(?:\s+in\s+the\s+(morning|afternoon|evening))?")),
    ("at_clock", re.compile(
        r"\b(?:at|by|around)\s+(\d{1,2})(?!\s+(?:days?|weeks?|hours?|minutes?|mins?)\b)"
        r"(?::(\d{2})|\s+(\d{2})\b)?"
        r"(?:\s+o\s*'?\s*clock)?(?:\s+in\s+the\s+(morning|afternoon|evening)|\s+(tonight))?\b")),
    ("hhmm", re.compile(r"\b(\d{1,2}):(\d{2})\b")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class When:
    """A due date, with a time of day when one was said."""

    date: date
    time: dtime | None = None

    def as_datetime(self) -> datetime:
        """Midnight-free combination: a day without a time is due at the end of that day."""
        return datetime.combine(self.date, self.time or dtime(23, 59))


@dataclass(frozen=True, slots=True)
class WhenMatch:
    when: When
    rest: str  # the normalised text with the date/time phrases taken out


def _count(word: str) -> int:
    return 1 if word in {"a", "an", "one"} else int(word)


def _next_weekday(today: date, weekday: int, *, include_today: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + timedelta(days=ahead)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day(kind: str, m: re.Match[str], today: date) -> tuple[date | None, str | None]:
    """The date a day phrase names, and a part-of-day hint ("evening") if it carries one."""
    match kind:
        case "today":
            part = "evening" if "evening" in m.group(0) or "afternoon" in m.group(0) else None
            return today, part
        case "tonight":
            return today, "evening"
        case "tomorrow":
            part = m.group(1)
            return today + timedelta(days=1), ("evening" if part in {"evening", "night"} else part)
        case "after_tomorrow":
            return today + timedelta(days=2), None
        case "in_days":
            n = _count(m.group(1))
            unit = 7 if m.group(2).startswith("week") else 1
            return today + timedelta(days=n * unit), None
        case "next_week":
            return today + timedelta(days=7), None
        case "weekday":
            qualifier = (m.group(1) or "").strip()
            wd = WEEKDAYS.index(m.group(2))
            return _next_weekday(today, wd, include_today=qualifier == "this"), None
        case "month_day" | "day_of_month":
            if kind == "month_day":
                month, day = MONTHS[m.group(1)], int(m.group(2))
            else:
                day, month = int(m.group(1)), MONTHS[m.group(2)]
            found = _safe_date(today.year, month, day)
            if found is not None and found < today:
                found = _safe_date(today.year + 1, month, day)
            return found, None
        case "the_nth":
            day = int(m.group(1))
            found = _safe_date(today.year, today.month, day)
            if found is None or found < today:
                year, month = (today.year, today.month + 1) if today.month < 12 else (
                    today.year + 1, 1)
                found = _safe_date(year, month, day)
            return found, None
    return None, None


def _hour(h: int, minute: int, ampm: str | None, part: str | None) -> dtime | None:
    if ampm == "pm" or part in {"afternoon", "evening"}:
        if h < 12:
            h += 12
    elif ampm == "am" or part == "morning":
        if h == 12:
            h = 0
    elif 1 <= h <= 6:
        h += 12  # "at 3" on a to-do line means the afternoon
    if not (0 <= h <= 23 and 0 <= minute <= 59):
        return None
    return dtime(h, minute)


def _time(kind: str, m: re.Match[str], now: datetime, part: str | None) -> datetime | dtime | None:
    match kind:
        case "in_time":
            if m.group(3) == "half":
                return now + timedelta(minutes=30)
            n = _count(m.group(1))
            unit = m.group(2)
            delta = timedelta(hours=n) if unit.startswith("hour") else timedelta(minutes=n)
            return now + delta
        case "noon":
            return dtime(0, 0) if m.group(1) == "midnight" else dtime(12, 0)
        case "clock":
            minute = m.group(2) or m.group(3) or "0"
            return _hour(int(m.group(1)), int(minute), m.group(4), m.group(5) or part)
        case "at_clock":
            minute = m.group(2) or m.group(3) or "0"
            hint = m.group(4) or ("evening" if m.group(5) else None) or part
            return _hour(int(m.group(1)), int(minute), None, hint)
        case "hhmm":
            return _hour(int(m.group(1)), int(m.group(2)), "am" if int(m.group(1)) >= 13 else
                         None, part)
    return None


def _cut(text: str, m: re.Match[str]) -> str:
    return " ".join((text[: m.start()] + " " + text[m.end():]).split())


def extract_when(text: str, now: datetime) -> WhenMatch | None:
    """Find a due date/time in ``text``; ``None`` when it names none. ``rest`` is what is left."""
    rest = normalize(text)
    today = now.date()
    day: date | None = None
    part: str | None = None
    for kind, pattern in _DAY_PATTERNS:
        m = pattern.search(rest)
        if m is None:
            continue
        found, part = _day(kind, m, today)
        if found is not None:
            day = found
            rest = _cut(rest, m)
            break
    at: datetime | dtime | None = None
    for kind, pattern in _TIME_PATTERNS:
        m = pattern.search(rest)
        if m is None:
            continue
        at = _time(kind, m, now, part)
        if at is not None:
            rest = _cut(rest, m)
            break
    if isinstance(at, datetime):  # "in 2 hours" fixes the day too
        return WhenMatch(When(at.date(), dtime(at.hour, at.minute)), rest)
    if day is None and at is None:
        return None
    if day is None:
        assert at is not None
        day = today if at > now.time() else today + timedelta(days=1)
    return WhenMatch(When(day, at), rest)


def parse_when(text: str, now: datetime) -> When | None:
    """The due date/time named in ``text``, or ``None``."""
    found = extract_when(text, now)
    return found.when if found else None
