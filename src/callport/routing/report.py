"""Routing choices and call records as JSON-ready dicts (the CLI and the HTTP API show the
same fields), and the ``--since`` / ``?since=`` parser."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from callport.routing.rank import Choice
from callport.store.calls import CallRecord

__all__ = ["choice_json", "parse_since", "record_json"]


def parse_since(text: str, *, now: datetime) -> datetime | None:
    """``24h``/``30m``/``7d``/``90s`` before ``now``, or an ISO date/time; ``ValueError``."""
    text = text.strip()
    if not text:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: use an ISO date/time or an age like 24h") from None


def choice_json(c: Choice) -> dict[str, Any]:
    rate = c.rate
    return {
        "carrier": c.carrier, "kind": c.kind, "usable": c.usable, "skip": c.skip,
        "pinned": c.pinned, "health": c.health, "active": c.active,
        "prefix": rate.prefix if rate else None,
        "per_minute": str(rate.per_minute) if rate else None,
        "increment_s": rate.increment_s if rate else None,
        "minimum_s": rate.minimum_s if rate else None,
        "connection_fee": str(rate.connection_fee) if rate else None,
        "currency": rate.currency if rate else None,
        "cost": str(c.cost) if c.cost is not None else None,
    }


def record_json(r: CallRecord) -> dict[str, Any]:
    return {
        "call_id": r.call_id, "channel": r.channel, "direction": r.direction,
        "caller": r.caller, "callee": r.callee, "user": r.user, "status": r.status,
        "started_at": r.started_at.isoformat(),
        "answered_at": r.answered_at.isoformat() if r.answered_at else None,
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "duration_s": round(r.duration_s, 3), "disposition": r.outcome,
        "hangup_cause": r.hangup_cause, "carrier": r.carrier,
        "attempts": [{"carrier": a.carrier, "outcome": a.outcome, "cause": a.cause}
                     for a in r.attempts],
        "billable_s": r.billable_s, "cost": str(r.cost) if r.cost is not None else None,
        "currency": r.currency, "amd": r.amd or None,
    }
