"""Outbound rules checked before any dial: the do-not-call list, calling hours in the callee's
time zone, and calls-per-second limits. Pure: ``now`` (a UTC ``datetime`` for hours, a
monotonic float for rates) is an argument.

``OutboundRules.check`` returns a ``Refusal`` (rule and a sentence for people) or None.
``CallRate`` is a sliding one-second window per key (``"*"`` for the global limit, a
carrier's name for its own).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callport.routing.rates import digits
from callport.routing.zones import zone_of

__all__ = ["CallRate", "OutboundRules", "Refusal", "parse_hours"]


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str  # dnc, hours, cps, no-route, invalid
    reason: str


def parse_hours(text: str) -> tuple[time, time] | None:
    """``"08:00-21:00"`` -> (08:00, 21:00); empty -> None (any time). ``ValueError`` if bad.
    An end before the start spans midnight (``"22:00-06:00"``)."""
    text = text.strip()
    if not text:
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"calling hours {text!r}: use HH:MM-HH:MM")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ValueError(f"calling hours {text!r}: use HH:MM-HH:MM") from None


def _within(at: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= at < end
    return at >= start or at < end


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRules:
    dnc: frozenset[str] = frozenset()  # digits of each number never to call
    hours: tuple[time, time] | None = None  # local to the callee; None: any time
    hours_unknown: str = "refuse"  # the callee's zone is unknown: refuse or allow

    @staticmethod
    def dnc_from(lines: list[str] | tuple[str, ...]) -> frozenset[str]:
        """Numbers one a line (``#`` comments, blank lines and punctuation ignored)."""
        out = set()
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if digits(text):
                out.add(digits(text))
        return frozenset(out)

    def check(self, number: str, *, now: datetime) -> Refusal | None:
        """Why ``number`` may not be called at ``now`` (aware UTC), or None."""
        d = digits(number)
        if len(d) < 3:
            return Refusal("invalid", f"{number!r} is not an E.164 number")
        if d in self.dnc:
            return Refusal("dnc", f"{number} is on the do-not-call list")
        if self.hours is None:
            return None
        start, end = self.hours
        zone = zone_of(number)
        if zone is None:
            if self.hours_unknown == "allow":
                return None
            return Refusal("hours", f"{number}: the callee's time zone is unknown, so calling "
                                    "hours cannot be checked (routing.hours_unknown)")
        try:
            local = now.astimezone(ZoneInfo(zone))
        except ZoneInfoNotFoundError:
            return Refusal("hours", f"{number}: time zone {zone} is not installed (tzdata)")
        if _within(local.time(), start, end):
            return None
        return Refusal("hours", f"{number}: it is {local:%H:%M} in {zone}, outside calling "
                                f"hours {start:%H:%M}-{end:%H:%M}")


@dataclass(slots=True)
class CallRate:
    """At most ``limit`` calls started per second per key (0: unlimited)."""

    limits: dict[str, float] = field(default_factory=dict)
    _starts: dict[str, deque[float]] = field(default_factory=dict)

    def _window(self, key: str, now: float) -> deque[float]:
        starts = self._starts.setdefault(key, deque())
        while starts and now - starts[0] >= 1.0:
            starts.popleft()
        return starts

    def allows(self, key: str, now: float) -> bool:
        limit = self.limits.get(key, 0)
        return limit <= 0 or len(self._window(key, now)) < limit

    def take(self, key: str, now: float) -> None:
        if self.limits.get(key, 0) > 0:
            self._window(key, now).append(now)
