"""Drain mode for rolling upgrades: the node finishes its live calls and takes no new ones.

Unlike the SIGTERM stop (``callport.server.lifecycle.drain``, which hangs every live call up
and exits), drain mode only closes the door:

- new calls are refused the way capacity refusals are (``callport.server.capacity.refusal``
  answers ``reason="draining"``): SIP ``503`` with ``Retry-After``, Twilio
  ``<Reject reason="busy"/>``, Telnyx hangs the ringing call up, the browser ``503``; a call
  that reaches the runtime anyway hears the busy phrase;
- ``/readyz`` answers ``503`` with ``"draining": true`` so the load balancer stops sending;
  ``/healthz`` stays ``200`` (the process is alive; live calls go on);
- live calls are left alone until they end; then the node can be stopped (SIGTERM) with
  nothing to hang up.

Entered by ``POST /api/admin/drain`` (an admin: 401 without a sign-in or token, 403 for
anyone else; ``{"draining": false}`` leaves it again; ``callport drain`` sends it) or by
``SIGUSR1`` to the ``callport serve`` process. ``GET /api/admin/drain`` tells the state and
the calls left.
"""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.server.auth import admin_of

if TYPE_CHECKING:
    from callport.call.call import Call

__all__ = ["DRAIN_PATH", "Drainable", "drain_routes", "drain_state", "on_sigusr1",
           "set_drained"]

log = logging.getLogger(__name__)

DRAIN_PATH = "/api/admin/drain"


class Drainable(Protocol):
    """What drain mode needs of ``callport.server.runtime.Runtime``."""

    node_id: str
    drained: bool
    draining: bool

    @property
    def active(self) -> dict[str, Call]: ...


def set_drained(runtime: Drainable, on: bool, *, why: str) -> None:
    if runtime.drained != on:
        log.warning("node %s: drain mode %s (%s); %d live call(s)", runtime.node_id,
                    "on, no new calls" if on else "off, taking calls", why,
                    len(runtime.active))
    runtime.drained = on


def drain_state(runtime: Drainable) -> dict[str, Any]:
    return {"node": runtime.node_id, "draining": runtime.drained or runtime.draining,
            "active_calls": len(runtime.active)}


def on_sigusr1(runtime: Drainable) -> Callable[[int, FrameType | None], None]:
    """A ``signal.signal`` handler: SIGUSR1 puts the node in drain mode."""

    def handler(signum: int, frame: FrameType | None) -> None:
        set_drained(runtime, True, why=signal.Signals(signum).name)

    return handler


def drain_routes(runtime: Drainable) -> list[Route]:
    async def drain(request: Request) -> Response:
        user, refused = admin_of(request.scope, "drain mode")
        if refused is not None or user is None:
            return refused or Response(status_code=500)
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("draining", True), bool):
                return JSONResponse({"error": 'send {} or {"draining": true|false}'},
                                    status_code=400)
            set_drained(runtime, bool(body.get("draining", True)), why=f"{DRAIN_PATH} by "
                        f"{user.name}")
        return JSONResponse(drain_state(runtime))

    return [Route(DRAIN_PATH, drain, methods=["GET", "POST"])]
