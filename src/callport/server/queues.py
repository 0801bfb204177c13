"""Wiring queues (``callport.queues``) into the server, and ``GET /api/queues``.

- ``build_queues(runtime)``: the process's ``QueueService`` (``runtime.queues``; every call
  gets it as ``call.queues``): the ``[queues.NAME]`` settings, agents from the user store
  (role ``agent`` with queue memberships), messages into the voicemail store for
  ``identity.owner``, queue events on the call record and, once bridged, its disposition
  ``queue:NAME agent:NAME wait:Ns`` (what ``callport calls list`` shows). ``service.reach``
  starts as None (nobody can be rung) until an ``AgentReach`` is set (SIP registrar,
  ``/agent`` page).
- ``wire_queues(runtime, channels)``: call-backs dial over the SIP channel when it runs.
- ``GET /api/queues``: every queue's waiting callers and agents (``status_json``); an admin
  only (a signed-in admin or an admin's API token): 401 without a user, 403 for others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.call.call import Call
from callport.call.dial import DialFailed
from callport.queues.model import status_json
from callport.queues.service import QueueService
from callport.server.auth import admin_of
from callport.types import CallInfo

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

__all__ = ["build_queues", "queue_routes", "wire_queues"]

log = logging.getLogger(__name__)

CALLBACK_RING_S = 30.0
CALLBACK_HELLO = ("Hello, this is your call back from the {queue} line. Please hold for the "
                  "next available person.")


def build_queues(runtime: Runtime) -> QueueService:
    settings = runtime.settings

    async def agents() -> list[tuple[str, tuple[str, ...]]]:
        return [(u.name, u.queues) for u in await runtime.users.list()
                if u.has_role("agent") and u.queues]

    async def take_message(call: Call, queue: str) -> int | None:
        from callport.flows.voicemail import take_message as record

        message = await record(call, store=runtime.voicemail, for_user=settings.identity.owner,
                               menu=f"queue:{queue}", reason="queue-message")
        return message.id if message is not None else None

    async def event(call_id: str, kind: str, detail: str) -> object:
        return await runtime.calls.add_event(call_id, kind, detail)

    async def answered(call_id: str, queue: str, agent: str, wait_s: float) -> object:
        """The call history's outcome (``calls list``): the queue, the agent, the wait."""
        return await runtime.calls.amend(call_id, disposition=disposition(queue, agent, wait_s))

    return QueueService(settings=settings.queues, reach=None, agents=agents,
                        take_message=take_message, events=event, on_answered=answered,
                        clock=runtime.clock)


def disposition(queue: str, agent: str, wait_s: float) -> str:
    """``queue:support agent:alice wait:42s``"""
    return f"queue:{queue} agent:{agent} wait:{round(wait_s)}s"


def wire_queues(runtime: Runtime, channels: Sequence[Any]) -> QueueService:
    """``runtime.queues`` with call-backs over the SIP channel (none without one)."""
    service = runtime.queues
    sip = next((c for c in channels if getattr(c, "name", "") == "sip"), None)
    if sip is None:
        return service
    from callport.server.transfers import SipLegDialer

    dialer = SipLegDialer(sip)
    closers: set[asyncio.Task[None]] = set()

    async def dial_back(number: str, queue: str) -> Call | None:
        target = number if number.startswith(("tel:", "sip:")) else f"tel:{number}"
        leg = await dialer.dial_leg(target, timeout_s=CALLBACK_RING_S)
        if isinstance(leg, DialFailed):
            log.info("queue %s: call back to %s failed: %s", queue, number, leg.describe())
            return None
        info = CallInfo(call_id=leg.call_id, channel="sip", caller=number, callee=number,
                        direction="outbound")
        call = runtime.new_call(leg, info)
        call.session.start()

        async def close_when_ended() -> None:
            await call.session.wait_ended()
            await call.session.close()

        task = asyncio.create_task(close_when_ended())
        closers.add(task)
        task.add_done_callback(closers.discard)
        await call.say(CALLBACK_HELLO.format(queue=queue), interruptible=False)
        return call

    service.set_dial_back(dial_back)
    return service


def queue_routes(runtime: Runtime) -> list[Route]:
    async def status(request: Request) -> Response:
        _user, refused = admin_of(request.scope, "queues status")
        if refused is not None:
            return refused
        await runtime.queues.refresh_agents()
        from callport.queues.cluster import cluster_status

        return JSONResponse(status_json(await cluster_status(runtime.queues)))

    return [Route("/api/queues", status, methods=["GET"])]
