"""Listen in and whisper from the console: a supervisor on a call bridged to a human agent.

- ``POST /api/console/calls/{id}/listen``        a one-time audio token (admin; the call
  must be live here and bridged to a person, else 404/409)
- ``WS   /api/console/calls/{id}/listen/media``  ``?token=``: the supervisor's audio over the
  browser channel's WebSocket transport (``channels.browser.ws.WebSocketCall``, the same one
  the agent page uses): both parties mixed (``call.supervise``) to the browser, and while
  whispering the browser's microphone to the agent only
- ``POST /api/console/calls/{id}/whisper``       ``{"on": true|false}``: this admin's
  listening connection on that call starts/stops whispering (409 when not listening)

Admins only: anonymous 401, agents and users 403 (``console_api.admin``). The token is the
browser channel's (``tokens.TokenSigner``: bound to the page's origin and the signed-in
session, spent once); the WebSocket also needs the same session, still an admin, else it
is closed before accept. A queue's bridge is rebuilt after a hold: the supervision follows
the call from bridge to bridge until the supervisor or the call hangs up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from callport.call.bridge import Bridge, Side, bridge_of
from callport.call.supervise import Supervision
from callport.channels.browser.page import WS_PROTOCOL
from callport.channels.browser.protocol import CLOSE_POLICY
from callport.channels.browser.session import session_of
from callport.channels.browser.tokens import TokenError, TokenSigner, origin_allowed, spend_once
from callport.channels.browser.ws import WebSocketCall
from callport.server.console_api import admin

if TYPE_CHECKING:
    from callport.call.leg import Leg
    from callport.server.runtime import Runtime
    from callport.types import CallInfo

log = logging.getLogger(__name__)
FOLLOW_EVERY_S = 0.25  # between a bridge's end and the next one (a hold in between)


@dataclass
class Listening:
    """One admin's listening connection on one call."""

    user: str
    call_id: str
    whisper: bool = False
    current: Supervision | None = field(default=None, repr=False)

    def set_whisper(self, on: bool) -> None:
        self.whisper = on
        if self.current is not None:
            self.current.whisper = on


def bridged(runtime: Runtime, call_id: str) -> tuple[Bridge, Side] | None:
    """The bridge the live call ``call_id`` is in and the side of the other party (the
    human agent the caller was bridged to), else None."""
    call = runtime.active.get(call_id)
    if call is None or call.ended:
        return None
    bridge = bridge_of(call.session.leg.call_id)
    if bridge is None:
        return None
    side = bridge.side_of(call.session.leg.call_id)
    return bridge, ("b" if side == "a" else "a")


def _origin_ok(conn: HTTPConnection) -> bool:
    return origin_allowed(conn.headers.get("origin"), host=conn.headers.get("host", ""),
                          secure=conn.url.scheme in {"https", "wss"}, allowed=())


def console_listen_routes(runtime: Runtime) -> list[BaseRoute]:
    cfg = runtime.settings.browser
    signer = TokenSigner.from_setting(secret=cfg.token_secret, ttl_s=cfg.token_ttl_s)
    spent = runtime.spent_tokens
    now = time.time
    listening: dict[tuple[str, str], Listening] = {}

    async def token(request: Request) -> Response:
        who, refused = admin(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        cid = request.path_params["call_id"]
        if cid not in runtime.active or runtime.active[cid].ended:
            return JSONResponse({"error": "that call is not live here"}, status_code=404)
        if bridged(runtime, cid) is None:
            return JSONResponse({"error": "that call is not bridged to a person"},
                                status_code=409)
        session = await session_of(request, runtime.tokens, now=now())
        if session is None or not _origin_ok(request):
            return JSONResponse({"error": "listen from the console page"}, status_code=403)
        return JSONResponse({
            "token": signer.issue(origin=request.headers["origin"], session=session.token_id,
                                  user=who.name, now=now()),
            "expires_in": cfg.token_ttl_s, "ice_servers": [],
        }, headers={"Cache-Control": "no-store"})

    async def whisper(request: Request) -> Response:
        who, refused = admin(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "send JSON"}, status_code=400)
        on = body.get("on") if isinstance(body, dict) else None
        if not isinstance(on, bool):
            return JSONResponse({"error": 'send {"on": true} or {"on": false}'},
                                status_code=400)
        state = listening.get((who.name, request.path_params["call_id"]))
        if state is None:
            return JSONResponse({"error": "listen in first"}, status_code=409)
        state.set_whisper(on)
        return JSONResponse({"ok": True, "whisper": on})

    async def media(websocket: WebSocket) -> None:
        cid = websocket.path_params["call_id"]
        user = None
        if _origin_ok(websocket):
            try:
                claims = signer.verify(websocket.query_params.get("token", ""),
                                       origin=websocket.headers.get("origin", ""), now=now())
                session = await session_of(websocket, runtime.tokens, now=now())
                if (session is None or not session.user.has_role("admin")
                        or claims.session != session.token_id
                        or claims.user != session.user.name):
                    raise TokenError("no live admin session for this token")
                await spend_once(spent, claims, now=now())
                user = session.user
            except TokenError as exc:
                log.info("console: refused a listen token from %s: %s", websocket.client, exc)
        if user is None:
            await websocket.close(code=CLOSE_POLICY)
            return
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered else None)
        state = Listening(user=user.name, call_id=cid)

        async def run_listen(leg: Leg, info: CallInfo) -> None:
            from callport.queues.reach import answered_session

            session = answered_session(leg, metrics=runtime.metrics)
            listening[(user.name, cid)] = state
            try:  # the call's record says who listened (not fatal when it cannot)
                await runtime.calls.add_event(cid, "supervisor", f"{user.name} listening")
            except Exception as exc:
                log.warning("console: could not note the supervisor on %s: %s", cid, exc)
            try:
                while not session.ended:
                    found = bridged(runtime, cid)
                    if found is None:
                        if cid not in runtime.active or runtime.active[cid].ended:
                            break
                        await asyncio.sleep(FOLLOW_EVERY_S)  # on hold: the next bridge
                        continue
                    bridge, agent = found
                    state.current = Supervision(bridge=bridge, agent=agent, supervisor=session,
                                                whisper=state.whisper)
                    await state.current.run()
                    state.current = None
            finally:
                if listening.get((user.name, cid)) is state:
                    del listening[(user.name, cid)]
                if not session.ended:
                    await session.hangup("call-ended")

        call = WebSocketCall(websocket=websocket, run_call=run_listen,
                             lead_ms=float(cfg.lead_ms), caller=f"supervisor:{user.name}",
                             user=user)
        await call.run()

    base = "/api/console/calls/{call_id}"
    return [
        Route(base + "/listen", token, methods=["POST"]),
        Route(base + "/whisper", whisper, methods=["POST"]),
        WebSocketRoute(base + "/listen/media", media),
    ]
