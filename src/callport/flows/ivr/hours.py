"""Opening hours: is the line open at a moment, in the IVR's time zone (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from callport.flows.ivr.model import Hours


def is_open(hours: Hours, at: datetime) -> bool:
    """Open at ``at`` (an aware datetime; a naive one is taken as local time in the zone)."""
    zone = ZoneInfo(hours.timezone)
    local = at.replace(tzinfo=zone) if at.tzinfo is None else at.astimezone(zone)
    if local.date().isoformat() in hours.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return any(lo <= minute < hi for lo, hi in hours.week[local.weekday()])


def start_menu(ivr_start: str, hours: Hours | None, at: datetime) -> str:
    """The menu a call starts in: ``ivr_start`` while open, ``hours.closed`` otherwise."""
    if hours is None or is_open(hours, at):
        return ivr_start
    return hours.closed
