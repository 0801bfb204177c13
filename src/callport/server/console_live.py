"""What the console shows of the calls running now, and how a call tells the event hub.

- ``watch_call(runtime, call)``: on the call's start, hooks its session notes and finished
  turns into ``runtime.events`` (``server.events``) and returns the function that publishes
  its end. A finished turn (and, at the end, any turn the hang-up cut short) is also kept
  on the call record as a ``turn`` event (its transcript, reply and latency breakdown,
  ``TurnRecord.as_dict``): what the console's call page draws the waterfall from. Secret
  turns (a PIN) never reach ``call.turns``, so they are neither published nor kept.
- ``call_state(call, waiting)``: the state a live call is in (queue with its wait, bridged,
  hold, else the agent's listening/thinking/speaking).
- ``live_json(runtime, viewer)``: the live calls a viewer may see, each with its ``node``;
  with several nodes (``server.redis``) the other nodes' calls too, as their events told.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from callport.call.notes import AgentState, AgentText, CallerPartial, CallerTranscript
from callport.call.records import TurnRecord
from callport.server.events import (
    CallEnded,
    CallStarted,
    StateChanged,
    TurnHeard,
    TurnSaid,
    TurnTimed,
)

if TYPE_CHECKING:
    from callport.call.call import Call
    from callport.call.notes import SessionNote
    from callport.server.runtime import Runtime
    from callport.types import User

log = logging.getLogger(__name__)
TURN_EVENT = "turn"  # the call record's event kind for a finished turn (JSON detail)

_PENDING: set[asyncio.Task[object]] = set()
_STARTED: dict[str, float] = {}  # call id -> runtime clock at its start (live calls only)


def watch_call(runtime: Runtime, call: Call) -> Callable[[str], None]:
    hub = runtime.events
    info = call.info
    cid = info.call_id
    user = info.user.name if info.user is not None and not info.user.guest else ""
    hub.publish(CallStarted(call_id=cid, channel=info.channel, caller=info.caller,
                            callee=info.callee, direction=info.direction, user=user))
    started = {"at": time.time()}
    _STARTED[cid] = runtime.clock()
    runtime_calls = runtime.calls

    def on_note(note: SessionNote) -> None:
        match note:
            case CallerTranscript(text=text):
                hub.publish(TurnHeard(call_id=cid, text=text))
            case CallerPartial(text=text):
                hub.publish(TurnHeard(call_id=cid, text=text, partial=True))
            case AgentText(text=text):
                hub.publish(TurnSaid(call_id=cid, text=text))
            case AgentState(state=state):
                who = call.info.user
                hub.publish(StateChanged(call_id=cid, state=state,
                                         user=who.name if who is not None and not who.guest
                                         else ""))
            case _:
                pass

    kept: set[int] = set()

    def keep(record: TurnRecord) -> None:
        kept.add(record.index)
        detail = json.dumps(record.as_dict(), separators=(",", ":"))
        task: asyncio.Task[object] = asyncio.ensure_future(_keep(runtime_calls, cid, detail))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)

    def on_turn(record: TurnRecord) -> None:
        hub.publish(TurnTimed(call_id=cid, index=record.index, endpoint_ms=record.endpoint_ms,
                              stt_ms=record.stt_ms, agent_ms=record.agent_ms,
                              tts_ms=record.tts_ms, first_audio_ms=record.first_audio_ms,
                              interrupted=record.interrupted))
        keep(record)

    call.session.note_listeners.append(on_note)
    call.turn_listeners.append(on_turn)

    def ended(cause: str) -> None:
        _STARTED.pop(cid, None)
        if on_note in call.session.note_listeners:
            call.session.note_listeners.remove(on_note)
        if on_turn in call.turn_listeners:
            call.turn_listeners.remove(on_turn)
        for record in call.turns:  # a turn the hang-up cut short (or one outside connect)
            if record.index not in kept:
                keep(record)
        hub.publish(CallEnded(call_id=cid, cause=cause, at=max(time.time(), started["at"])))

    return ended


async def _keep(calls: Any, call_id: str, detail: str) -> object:
    try:
        return await calls.add_event(call_id, TURN_EVENT, detail)
    except Exception:  # the store failing must not drop the call
        log.exception("call %s: could not keep its turn", call_id)
        return None


def waiting_calls(runtime: Runtime) -> dict[str, tuple[str, float]]:
    """call id -> (queue, seconds waited) for every caller waiting in a queue now."""
    out: dict[str, tuple[str, float]] = {}
    try:
        for queue in runtime.queues.status():
            for w in queue.waiting:
                out[w.call_id] = (queue.name, w.waited_s)
    except Exception:
        log.exception("queue status failed")
    return out


def agents_on(runtime: Runtime) -> dict[str, str]:
    """call id -> the agent bridged to it (from the queues' agents)."""
    out: dict[str, str] = {}
    try:
        for queue in runtime.queues.status():
            for a in queue.agents:
                if a.current_call:
                    out[a.current_call] = a.name
    except Exception:
        log.exception("queue status failed")
    return out


def call_state(call: Call, waiting: dict[str, tuple[str, float]],
               agents: dict[str, str], ivr: Any = None) -> tuple[str, str]:
    """(state, detail) of a live call; ``ivr``: the IVR flow (its ``journals`` say which
    calls are still in the menus, and the last menu each answered)."""
    cid = call.info.call_id
    if cid in waiting:
        queue, waited = waiting[cid]
        return "queue", f"{queue}, waiting {round(waited)} s"
    if cid in agents:
        return "bridged", f"with {agents[cid]}"
    session = call.session
    if session.holding or session.peer_held:
        return "hold", ""
    if not getattr(session, "_turns_on", True):
        return "bridged", ""
    journal = getattr(ivr, "journals", {}).get(cid) if ivr is not None else None
    if journal is not None and not journal.outcome:
        menu = journal.steps[-1]["menu"] if journal.steps else getattr(ivr.ivr, "start", "")
        return "ivr", f"menu {menu}"
    return "agent", ""


def may_see_call(viewer: User, *, user: str, disposition: str = "") -> bool:
    """An admin sees every call; an agent the calls they are on (as the caller's identified
    user, or the agent a queue bridged it to); nobody else any."""
    if viewer.has_role("admin"):
        return True
    if not viewer.has_role("agent"):
        return False
    return user == viewer.name or f"agent:{viewer.name}" in disposition.split()


def live_json(runtime: Runtime, viewer: User) -> list[dict[str, object]]:
    waiting, agents = waiting_calls(runtime), agents_on(runtime)
    flow = runtime.flow
    ivr = flow if hasattr(flow, "journals") and hasattr(flow, "ivr") else None
    now = runtime.clock()
    out: list[dict[str, object]] = []
    for cid, call in list(runtime.active.items()):
        info = call.info
        user = info.user.name if info.user is not None and not info.user.guest else ""
        agent = agents.get(cid, "")
        if not may_see_call(viewer, user=user,
                            disposition=f"agent:{agent}" if agent else ""):
            continue
        state, detail = call_state(call, waiting, agents, ivr)
        started = _STARTED.get(cid)
        out.append({
            "call_id": cid, "channel": info.channel, "caller": info.caller,
            "callee": info.callee, "direction": info.direction, "user": user,
            "agent": agent, "state": state, "detail": detail,
            "duration_s": round(now - started, 1) if isinstance(started, float) else None,
            "transcript": [{"who": "caller" if t.transcript else "keys",
                            "text": t.transcript or t.digits, "reply": t.heard or t.reply}
                           for t in call.turns],
            "node": runtime.node_id,
        })
    remote = getattr(runtime.events, "remote", None)  # other nodes' (server.events_redis)
    if remote is not None:
        at = time.time()
        out += [c.as_json(at) for c in remote.calls() if c.call_id not in runtime.active
                and may_see_call(viewer, user=c.user)]
    return out
