"""Call commands from the console and the API (hang up, transfer, hold, resume), carried out
on the node that runs the call.

- :func:`perform`: do it here, on a call in ``runtime.active``; ``(HTTP status, JSON body)``.
- :func:`route`: here when the call is live here; else, with several nodes
  (``server.redis``), ask its owner (``runtime.call_owners``) over the bus
  (``callport.bus.redis_bus.RedisBus.request``) and pass its answer on. A call no node owns is
  404; an owner that is not alive (its heartbeat expired), not on the bus or silent past the
  bus timeout is 409, naming the node.
- :func:`on_command`: the owning node's side: a command off the bus, :func:`perform`-ed, as a
  :class:`~callport.bus.envelopes.Reply`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from callport.bus.envelopes import ACTIONS, Command, Reply
from callport.call.controls import Refused

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

__all__ = ["ACTIONS", "on_command", "perform", "route"]

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]


async def perform(runtime: Runtime, call_id: str, action: str, args: dict[str, str]) -> Answer:
    """``action`` on the live call ``call_id`` of this node."""
    if action not in ACTIONS:
        return 404, {"error": f"no action {action!r}"}
    call = runtime.active.get(call_id)
    if call is None or call.ended:
        return 404, {"error": "that call is not live here"}
    if action == "hangup":
        await call.session.hangup("console")
        return 200, {"ok": True}
    if action == "hold":
        held = await call.put_on_hold()
        if isinstance(held, Refused):  # the music plays on: a callport-side hold
            return 200, {"ok": True, "line_held": False,
                         "detail": held.detail or held.refusal.value}
        return 200, {"ok": True, "line_held": True}
    if action == "resume":
        back = await call.take_off_hold()
        if isinstance(back, Refused):
            why = back.detail or back.refusal.value
            return 409, {"error": f"the line did not come back: {why}"}
        return 200, {"ok": True}
    from callport.server.agent_page import transfer_uri

    target = transfer_uri(args.get("target", ""))
    if target is None:
        return 400, {"error": "give a number (+15551234567) or a sip: address"}
    result = await call.session.leg.transfer(target)
    if isinstance(result, Refused):
        why = result.detail or result.refusal.value
        return 409, {"error": f"this line cannot be transferred: {why}"}
    await runtime.calls.add_event(call_id, "transferred", f"console: {target}")
    return 200, {"ok": True, "target": target}


async def route(runtime: Runtime, call_id: str, action: str, args: dict[str, str]) -> Answer:
    """:func:`perform` here, or on the node that owns the call."""
    bus = runtime.bus
    if call_id in runtime.active or bus is None or action not in ACTIONS:
        return await perform(runtime, call_id, action, args)
    from callport.bus.redis_bus import NodeUnreachable

    try:
        owner = await runtime.call_owners.owner(call_id)
        alive = owner is not None and owner in await runtime.call_owners.alive(now=time.time())
    except Exception:
        log.exception("call %s: could not look its owner up", call_id)
        return 503, {"error": "the shared live state (Redis) is not answering"}
    if owner is None or owner == runtime.node_id:
        return 404, {"error": "that call is not live on any node"}
    if not alive:
        return 409, {"error": f"node {owner}, which runs that call, is lost", "node": owner}
    try:
        reply = await bus.request(owner, call_id, action, args)
    except NodeUnreachable as exc:
        return 409, {"error": str(exc), "node": owner}
    except Exception:
        log.exception("call %s: could not send %s to node %s", call_id, action, owner)
        return 503, {"error": "the bus (Redis) is not answering", "node": owner}
    body: dict[str, Any] = {**reply.data, "node": reply.node}
    if reply.ok:
        body["ok"] = True
    else:
        body["error"] = reply.error
    if "line_held" in body:
        body["line_held"] = body["line_held"] == "true"
    return reply.status, body


async def on_command(runtime: Runtime, command: Command) -> Reply:
    """A command from another node's console for a call of ours."""
    log.info("call %s: %s from node %s", command.call_id, command.action, command.node)
    status, body = await perform(runtime, command.call_id, command.action, command.args)
    data = {k: (("true" if v else "false") if isinstance(v, bool) else str(v))
            for k, v in body.items() if k not in ("ok", "error")}
    return Reply(id=command.id, node=runtime.node_id, ok=bool(body.get("ok")), status=status,
                 error=str(body.get("error", "")), data=data)
