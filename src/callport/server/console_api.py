"""The console's JSON API (``/api/console/...``): live calls, actions, history and a call's page.

Who sees what (``viewer``): 401 without a sign-in or API token (``AuthMiddleware``), 403 for
a user who is neither an ``admin`` nor an ``agent``. An admin sees every call; an agent only
the calls they are on (``console_live.may_see_call``), and another's call is a 404 so its
existence is not told. Actions (hang up, transfer) are for admins.

- ``GET  /api/console/live``                  the calls running now (state, transcript so far)
- ``POST /api/console/calls/{id}/hangup``     end a live call (admin)
- ``POST /api/console/calls/{id}/transfer``   ``{target}``: a number or ``sip:`` URI (admin)
- ``POST /api/console/calls/{id}/hold``, ``.../resume``  hold music and the line held (admin)

An action on a call another node runs goes to that node (``server.commands``, the bus).
- ``GET  /api/console/calls``                 the history; ``since``/``until`` (ISO dates),
  ``channel``, ``user``, ``number`` (caller or callee contains), ``disposition``, ``limit``
- ``GET  /api/console/calls/{id}``            the record, its events, turns with their latency
  breakdown, IVR path, queue, transfers, attempts, cost, consent and the recording (when the
  viewer may hear it: the recordings API's rule, an admin or the recording's own user)
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.recording.run import CONSENT_EVENT
from callport.server.auth import user_of
from callport.server.commands import ACTIONS, route
from callport.server.console_live import TURN_EVENT, live_json, may_see_call
from callport.store.calls import CallRecord

if TYPE_CHECKING:
    from callport.server.runtime import Runtime
    from callport.types import User

log = logging.getLogger(__name__)
MAX_LIMIT = 1000
HISTORY_SCAN = 5000  # records read to filter (newest first)


def viewer(request: Request) -> tuple[User | None, Response | None]:
    """The signed-in admin or agent, else the refusal (401/403)."""
    user = user_of(request.scope)
    if user is None:
        return None, JSONResponse({"error": "sign in or send an API token"}, status_code=401)
    if not (user.has_role("admin") or user.has_role("agent")):
        return None, JSONResponse({"error": "the console is for admins and agents"},
                                  status_code=403)
    return user, None


def admin(request: Request) -> tuple[User | None, Response | None]:
    user, refused = viewer(request)
    if refused is not None:
        return None, refused
    assert user is not None
    if not user.has_role("admin"):
        return None, JSONResponse({"error": "for admins"}, status_code=403)
    return user, None


def record_json(r: CallRecord) -> dict[str, Any]:
    return {
        "call_id": r.call_id, "channel": r.channel, "direction": r.direction,
        "caller": r.caller, "callee": r.callee, "status": r.status, "user": r.user,
        "started_at": r.started_at.isoformat(), "answered_at": _iso(r.answered_at),
        "ended_at": _iso(r.ended_at), "duration_s": round(r.duration_s, 1),
        "outcome": r.outcome, "disposition": r.disposition, "hangup_cause": r.hangup_cause,
        "carrier": r.carrier, "billable_s": r.billable_s,
        "attempts": [{"carrier": a.carrier, "outcome": a.outcome, "cause": a.cause}
                     for a in r.attempts],
        "cost": None if r.cost is None else str(r.cost), "currency": r.currency,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo is not None else at


def matches(r: CallRecord, q: dict[str, str]) -> bool:
    """Does the record pass the history filters ``q``?"""
    since, until = _date(q.get("since")), _date(q.get("until"))
    started = _naive(r.started_at)
    if since is not None and started < _naive(since):
        return False
    if until is not None:
        end = _naive(until)
        if len(q.get("until", "")) <= 10:  # a date: the whole day
            end = end.replace(hour=23, minute=59, second=59, microsecond=999999)
        if started > end:
            return False
    if q.get("channel") and r.channel != q["channel"]:
        return False
    if q.get("user") and r.user != q["user"]:
        return False
    number = q.get("number", "").strip()
    if number and number not in r.caller and number not in r.callee:
        return False
    return not (q.get("disposition") and q["disposition"] not in r.outcome)


async def visible_records(runtime: Runtime, who: User, limit: int = HISTORY_SCAN
                          ) -> list[CallRecord]:
    found = await runtime.calls.list_calls(limit=limit)
    return [r for r in found if may_see_call(who, user=r.user, disposition=r.disposition)]


def ivr_path(events: list[Any]) -> list[str]:
    return [e.detail for e in events if e.kind == "ivr"]


def turns_of(events: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in events:
        if e.kind != TURN_EVENT:
            continue
        try:
            turn = json.loads(e.detail)
        except ValueError:
            continue
        if isinstance(turn, dict):
            turn["at"] = e.at.isoformat()
            out.append(turn)
    return out


def recording_of(runtime: Runtime, who: User, call_id: str) -> dict[str, Any] | None:
    """The call's recording metadata when ``who`` may hear it (``server.recordings``' rule)."""
    from callport.recording.listing import COLUMNS, recordings
    from callport.recording.run import recording_store, recordings_dir

    settings = runtime.settings
    for meta in recordings(recordings_dir(settings), recording_store(settings)):
        if meta.get("call_id") != call_id:
            continue
        if who.has_role("admin") or meta.get("user") == who.name:
            row = {k: meta.get(k) for k in COLUMNS}
            row["audio"] = f"/api/recordings/{meta.get('id')}/audio"
            return row
    return None


def console_api_routes(runtime: Runtime) -> list[Route]:
    async def live(request: Request) -> Response:
        who, refused = viewer(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        return JSONResponse({"calls": live_json(runtime, who)})

    async def act(request: Request) -> Response:
        _who, refused = admin(request)
        if refused is not None:
            return refused
        cid = request.path_params["call_id"]
        action = request.path_params["action"]
        if action not in ACTIONS:
            return JSONResponse({"error": f"no action {action!r}"}, status_code=404)
        args: dict[str, str] = {}
        if action == "transfer":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return JSONResponse({"error": "send JSON"}, status_code=400)
            args["target"] = str(body.get("target", "")) if isinstance(body, dict) else ""
        # Here, or on the node that runs the call (server.commands, over the bus).
        status, answer = await route(runtime, cid, action, args)
        return JSONResponse(answer, status_code=status)

    async def history(request: Request) -> Response:
        who, refused = viewer(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        q = dict(request.query_params)
        try:
            limit = max(1, min(int(q.get("limit", "200")), MAX_LIMIT))
        except ValueError:
            limit = 200
        found = [r for r in await visible_records(runtime, who) if matches(r, q)]
        return JSONResponse({"calls": [record_json(r) for r in found[:limit]],
                             "total": len(found)})

    async def detail(request: Request) -> Response:
        who, refused = viewer(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        cid = request.path_params["call_id"]
        record = await runtime.calls.get(cid)
        if record is None or not may_see_call(who, user=record.user,
                                              disposition=record.disposition):
            return JSONResponse({"error": f"no call {cid!r}"}, status_code=404)
        events = await runtime.calls.events(cid)
        recording = await asyncio.to_thread(recording_of, runtime, who, cid)
        return JSONResponse({
            "call": record_json(record),
            "events": [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail}
                       for e in events if e.kind != TURN_EVENT],
            "turns": turns_of(events),
            "ivr_path": ivr_path(events),
            "queue": [e.detail for e in events if e.kind.startswith("queue")],
            "transfers": [e.detail for e in events if e.kind.startswith("transfer")],
            "consent": [e.detail for e in events if e.kind == CONSENT_EVENT],
            "recording": recording,
            "live": cid in runtime.active,
        })

    return [
        Route("/api/console/live", live, methods=["GET"]),
        Route("/api/console/calls", history, methods=["GET"]),
        Route("/api/console/calls/{call_id}", detail, methods=["GET"]),
        Route("/api/console/calls/{call_id}/{action:str}", act, methods=["POST"]),
    ]
