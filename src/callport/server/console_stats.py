"""The console's queue and quality figures, from the call records (``/api/console/...``).

- ``GET /api/console/queues?hours=24&within=20``: every queue's waiting callers and agents now
  (``queues.model.status_json``) and, over the last ``hours``, per queue: callers offered
  (a ``queue`` event "joined NAME"), answered (the disposition ``queue:NAME agent:A wait:Ns``),
  the service level (share of offered callers answered within ``within`` seconds), the
  average wait and the average handle time (answered calls' talk time, from the record:
  answer to end). An agent sees only the queues they are a member of.
- ``GET /api/console/quality?days=7``: per hour calls; per day the answer rate, the turn
  latency percentiles per stage (the ``turn`` events ``console_live`` keeps), the barge-in
  rate (turns the caller interrupted), the STT confidence (mean and 10th percentile of the
  turns whose engine scored them, ``TurnRecord.stt_confidence``; None on days with none),
  the carrier failure rate (routing attempts that failed) and the cost. Admins only.

``queue_stats`` and ``quality`` compute from records and events; the routes read them.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.queues.model import status_json
from callport.server.console_api import admin, viewer
from callport.server.console_live import TURN_EVENT
from callport.store.calls import CallEvent, CallRecord
from callport.store.tasks import local_now

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

STAGES = ("endpoint", "stt", "agent", "tts_first_clause", "end_of_speech_to_first_audio")
ANSWERED = re.compile(r"queue:(?P<queue>\S+) agent:(?P<agent>\S+) wait:(?P<wait>\d+)s")
SCAN = 5000


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return round(ordered[rank - 1], 1)


def queue_stats(records: Iterable[CallRecord], events: dict[str, list[CallEvent]], *,
                within_s: float) -> dict[str, dict[str, Any]]:
    offered: dict[str, int] = defaultdict(int)
    waits: dict[str, list[float]] = defaultdict(list)
    handles: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for e in events.get(r.call_id, []):
            if e.kind == "queue" and e.detail.startswith("joined "):
                offered[e.detail.removeprefix("joined ").strip()] += 1
        m = ANSWERED.search(r.disposition)
        if m is not None:
            waits[m["queue"]].append(float(m["wait"]))
            if r.duration_s:
                handles[m["queue"]].append(r.duration_s)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(offered) | set(waits)):
        w = waits[name]
        total = max(offered[name], len(w))
        quick = sum(1 for s in w if s <= within_s)
        out[name] = {
            "offered": total, "answered": len(w),
            "service_level": round(quick / total, 3) if total else None,
            "avg_wait_s": round(sum(w) / len(w), 1) if w else None,
            "avg_handle_s": round(sum(handles[name]) / len(handles[name]), 1)
            if handles[name] else None,
            "waits_s": w,
        }
    return out


def _turns(events: Iterable[CallEvent]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        if e.kind == TURN_EVENT:
            try:
                turn = json.loads(e.detail)
            except ValueError:
                continue
            if isinstance(turn, dict):
                out.append(turn)
    return out


def quality(records: Sequence[CallRecord], events: dict[str, list[CallEvent]]
            ) -> dict[str, Any]:
    hours: dict[str, int] = defaultdict(int)
    days: dict[str, dict[str, Any]] = {}
    for r in records:
        hours[r.started_at.strftime("%Y-%m-%dT%H:00")] += 1
        day = days.setdefault(r.started_at.strftime("%Y-%m-%d"), {
            "calls": 0, "answered": 0, "turns": 0, "barged": 0, "attempts": 0, "failed": 0,
            "cost": Decimal(0), "stages": {s: [] for s in STAGES}, "confidence": []})
        day["calls"] += 1
        day["answered"] += r.answered_at is not None
        day["attempts"] += len(r.attempts)
        day["failed"] += sum(1 for a in r.attempts if a.outcome == "failed")
        if r.cost is not None:
            day["cost"] += r.cost
        for turn in _turns(events.get(r.call_id, [])):
            day["turns"] += 1
            day["barged"] += bool(turn.get("interrupted"))
            score = turn.get("stt_confidence")
            if isinstance(score, int | float) and not isinstance(score, bool):
                day["confidence"].append(float(score))
            timing = turn.get("timing_ms") or {}
            for stage in STAGES:
                value = timing.get(stage)
                if isinstance(value, int | float):
                    day["stages"][stage].append(float(value))
    per_day = []
    for name in sorted(days):
        d = days[name]
        per_day.append({
            "day": name, "calls": d["calls"],
            "answer_rate": round(d["answered"] / d["calls"], 3) if d["calls"] else None,
            "barge_in_rate": round(d["barged"] / d["turns"], 3) if d["turns"] else None,
            "carrier_failure_rate": round(d["failed"] / d["attempts"], 3)
            if d["attempts"] else None,
            "cost": str(d["cost"]), "turns": d["turns"],
            "stt_confidence": {
                "mean": round(sum(d["confidence"]) / len(d["confidence"]), 3)
                if d["confidence"] else None,
                "p10": _low(d["confidence"]),
                "scored_turns": len(d["confidence"])},
            "latency_ms": {s: {"p50": percentile(v, 50), "p90": percentile(v, 90),
                               "p99": percentile(v, 99)} for s, v in d["stages"].items()},
        })
    return {"per_hour": [{"hour": h, "calls": n} for h, n in sorted(hours.items())],
            "per_day": per_day, "stages": list(STAGES)}


def _low(values: Sequence[float]) -> float | None:
    """The 10th percentile (nearest rank) of 0..1 scores, to 3 places; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(0.1 * len(ordered))) - 1], 3)


async def _window(runtime: Runtime, since: datetime) -> tuple[list[CallRecord],
                                                               dict[str, list[CallEvent]]]:
    records = await runtime.calls.list_calls(since=since, limit=SCAN)
    events = {r.call_id: await runtime.calls.events(r.call_id) for r in records}
    return records, events


def _number(request: Request, name: str, default: float, low: float, high: float) -> float:
    try:
        value = float(request.query_params.get(name, default))
    except ValueError:
        return default
    return min(max(value, low), high) if math.isfinite(value) else default


def console_stats_routes(runtime: Runtime) -> list[Route]:
    async def queues(request: Request) -> Response:
        who, refused = viewer(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        hours = _number(request, "hours", 24, 1, 24 * 90)
        within = _number(request, "within", 20, 1, 3600)
        await runtime.queues.refresh_agents()
        status = status_json(runtime.queues.status())
        mine = None if who.has_role("admin") else set(who.queues)
        live = [q for q in status["queues"]  # type: ignore[attr-defined]
                if mine is None or q["name"] in mine]
        records, events = await _window(runtime, local_now() - timedelta(hours=hours))
        stats = queue_stats(records, events, within_s=within)
        if mine is not None:
            stats = {k: v for k, v in stats.items() if k in mine}
        return JSONResponse({"queues": live, "stats": stats, "hours": hours,
                             "within_s": within})

    async def quality_route(request: Request) -> Response:
        _who, refused = admin(request)
        if refused is not None:
            return refused
        days = _number(request, "days", 7, 1, 90)
        records, events = await _window(runtime, local_now() - timedelta(days=days))
        return JSONResponse({"days": days, **quality(records, events)})

    return [Route("/api/console/queues", queues, methods=["GET"]),
            Route("/api/console/quality", quality_route, methods=["GET"])]
