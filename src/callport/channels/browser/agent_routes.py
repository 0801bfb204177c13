"""The agent page's routes: the page, its control WebSocket and its audio (a channel).

* ``GET  /agent``         the agent page (``web/agent.html``): not signed in -> ``/login?next=
                          /agent``; signed in without the ``agent`` role -> 403
* ``WS   /agent/ws``      control messages (``agent_protocol``): the session cookie, the page's
                          own origin and the agent role, else closed before accept (HTTP 403)
* ``POST /agent/token``   a call token for the answered offer's audio (same origin, session,
                          agent, and an offer answered on this agent's page; else 401/403/409)
* ``WS   /agent/media``   the answered call's audio over the browser channel's WebSocket
                          transport (``channels.browser.ws``; ``?token=``)
* ``POST /agent/offer``   the same over WebRTC (``channels.browser.rtc``)

The audio connection runs ``AgentDesk.run_media`` instead of the runtime's call: the leg
becomes the agent's side of the queue's bridge. Tokens are the browser channel's
(``tokens.TokenSigner``: bound to origin and session, spent once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from callport.channels.browser import agent_protocol
from callport.channels.browser.agent_desk import AgentDesk, DeskControls
from callport.channels.browser.page import WS_PROTOCOL, render
from callport.channels.browser.protocol import CLOSE_POLICY
from callport.channels.browser.session import BrowserSession, session_of
from callport.channels.browser.tokens import (
    TokenError,
    TokenSigner,
    origin_allowed,
    spend_for_session,
)
from callport.channels.browser.ws import WebSocketCall
from callport.config import Settings
from callport.store.live import MemorySpentTokens, SpentTokens
from callport.store.users import DIGEST_REALM, TokenStore
from callport.types import User

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
PAGE_PATH = "/agent"
MAX_PAGES_PER_AGENT = 5


class DeskRuntime(Protocol):
    """What the agent desk needs from the server's Runtime."""

    @property
    def settings(self) -> Settings: ...

    @property
    def tokens(self) -> TokenStore: ...


class AgentDeskChannel:
    """The ``/agent`` routes around one ``AgentDesk``."""

    name = "agent-desk"

    def __init__(self, *, runtime: DeskRuntime, clock: Callable[[], float] = time.time,
                 web_dir: Path = WEB_DIR, controls: DeskControls | None = None) -> None:
        self._runtime = runtime
        self._settings = runtime.settings
        cfg = self._settings.browser
        self._signer = TokenSigner.from_setting(secret=cfg.token_secret, ttl_s=cfg.token_ttl_s)
        # shared by every node when the runtime has them (server.redis), else this channel's
        self._spent: SpentTokens = getattr(runtime, "spent_tokens", None) or MemorySpentTokens()
        self._clock = clock
        self._web_dir = web_dir
        queues = self._settings.queues

        def wrap_up(queue: str) -> float:
            rules = queues.get(queue)
            return float(rules.wrap_up_s) if rules is not None else 0.0

        self.desk = AgentDesk(clock=time.monotonic, wrap_up_s=wrap_up, controls=controls)
        self._rtc: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- Channel protocol ----------------------------------------------------------------
    def routes(self) -> Sequence[BaseRoute]:
        if not self._settings.browser.enabled:
            return []
        return [
            Route(PAGE_PATH, self._page, methods=["GET"]),
            WebSocketRoute(PAGE_PATH + "/ws", self._control),
            Route(PAGE_PATH + "/token", self._token, methods=["POST"]),
            WebSocketRoute(PAGE_PATH + "/media", self._media_ws),
            Route(PAGE_PATH + "/offer", self._offer, methods=["POST"]),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.desk.close()
        if self._rtc is not None:
            await self._rtc.close_all()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---- who is asking -------------------------------------------------------------------
    def _origin_ok(self, conn: HTTPConnection) -> bool:
        return origin_allowed(conn.headers.get("origin"), host=conn.headers.get("host", ""),
                              secure=conn.url.scheme in {"https", "wss"}, allowed=())

    async def _agent(self, conn: HTTPConnection) -> BrowserSession | None:
        """The signed-in session of an agent, else None."""
        session = await session_of(conn, self._runtime.tokens, now=self._clock())
        if session is None or not session.user.has_role("agent"):
            return None
        return session

    # ---- the page ------------------------------------------------------------------------
    async def _page(self, request: Request) -> Response:
        session = await session_of(request, self._runtime.tokens, now=self._clock())
        if session is None:
            return RedirectResponse(f"/login?next={PAGE_PATH}", status_code=303,
                                    headers={"Cache-Control": "no-store"})
        if not session.user.has_role("agent"):
            return HTMLResponse(
                "<!doctype html><meta charset=utf-8><title>callport</title><p>This page is for "
                "agents. Ask an administrator to give you the <code>agent</code> role.</p>",
                status_code=403, headers={"Cache-Control": "no-store"})
        cfg = self._settings.browser
        config = {
            "static": cfg.static_path, "events": PAGE_PATH + "/ws",
            "token": PAGE_PATH + "/token", "ws": PAGE_PATH + "/media",
            "offer": PAGE_PATH + "/offer", "logout": "/logout", "login": "/login",
            "vad": False, "name": self._settings.page.name or "callport",
            "agent": _who(session.user), "queues": list(session.user.queues),
        }
        html = render((self._web_dir / "agent.html").read_text(encoding="utf-8"),
                      self._settings, config)
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": "frame-ancestors 'none'"})

    # ---- control WebSocket ---------------------------------------------------------------
    async def _control(self, websocket: WebSocket) -> None:
        session = await self._agent(websocket) if self._origin_ok(websocket) else None
        if session is None:
            await websocket.close(code=CLOSE_POLICY)  # before accept: HTTP 403
            return
        agent = session.user.name
        if len(self.desk.pages.get(agent, ())) >= MAX_PAGES_PER_AGENT:
            await websocket.close(code=1013)
            return
        await websocket.accept()
        out: asyncio.Queue[str | None] = asyncio.Queue(200)

        def send(text: str) -> None:
            with contextlib.suppress(asyncio.QueueFull):
                out.put_nowait(text)

        async def writer() -> None:
            while (text := await out.get()) is not None:
                await websocket.send_text(text)

        user = session.user
        send(agent_protocol.hello(name=agent, display_name=user.display_name or agent,
                                  queues=user.queues, sip_realm=DIGEST_REALM))
        page = self.desk.open_page(agent, send)
        writing = asyncio.create_task(writer())
        log.info("agent %s opened the agent page from %s", agent, websocket.client)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if isinstance(text, str):
                    await self.desk.on_event(page, agent_protocol.parse(text))
                # binary frames have no meaning here and are ignored
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.desk.close_page(page)
            with contextlib.suppress(asyncio.QueueFull):
                out.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writing, 1.0)
            writing.cancel()
            log.info("agent %s closed the agent page", agent)

    # ---- the answered call's audio -------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        session = await session_of(request, self._runtime.tokens, now=self._clock())
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        if not session.user.has_role("agent"):
            return JSONResponse({"error": "agents only"}, status_code=403)
        if not self.desk.answering(session.user.name):
            return JSONResponse({"error": "no answered call"}, status_code=409)
        cfg = self._settings.browser
        ice = [{"urls": url} for url in cfg.ice_servers]
        return JSONResponse({
            "token": self._signer.issue(origin=request.headers["origin"],
                                        session=session.token_id, user=session.user.name,
                                        now=self._clock()),
            "expires_in": cfg.token_ttl_s, "ice_servers": ice,
        }, headers={"Cache-Control": "no-store"})

    async def _spend(self, conn: HTTPConnection, token: str) -> User | None:
        """The agent a call token admits (same live session), spending it; None if refused."""
        now = self._clock()
        try:
            claims = self._signer.verify(token, origin=conn.headers.get("origin", ""), now=now)
            session = await self._agent(conn)
            await spend_for_session(
                self._spent, claims, now=now, missing="no live agent session",
                session=None if session is None else (session.token_id, session.user.name))
        except TokenError as exc:
            log.info("agent page: refused audio token from %s: %s", conn.client, exc)
            return None
        assert session is not None  # spend_for_session refused a missing one
        return session.user

    async def _media_ws(self, websocket: WebSocket) -> None:
        user = (await self._spend(websocket, websocket.query_params.get("token", ""))
                if self._origin_ok(websocket) else None)
        if user is None:
            await websocket.close(code=CLOSE_POLICY)
            return
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered else None)
        call = WebSocketCall(websocket=websocket, run_call=self.desk.run_media,
                             lead_ms=float(self._settings.browser.lead_ms),
                             caller=f"agent:{user.name}", user=user)
        await self._track(call.run())

    async def _offer(self, request: Request) -> Response:
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if (not isinstance(body, dict) or body.get("type") != "offer"
                or not isinstance(body.get("sdp"), str) or len(body["sdp"]) > 20_000):
            return JSONResponse({"error": "need {type: 'offer', sdp, token}"}, status_code=400)
        user = await self._spend(request, str(body.get("token", "")))
        if user is None:
            return JSONResponse({"error": "bad, used or expired token"}, status_code=403)
        if self._rtc is None:
            from callport.channels.browser.rtc import RtcCalls

            self._rtc = RtcCalls(settings=self._settings.browser, run_call=self.desk.run_media,
                                 track=self._track)
        try:
            answer: dict[str, str] = await self._rtc.answer(body["sdp"],
                                                            caller=f"agent:{user.name}",
                                                            user=user)
        except ValueError as exc:
            return JSONResponse({"error": f"bad offer: {exc}"}, status_code=400)
        return JSONResponse(answer)

    async def _track(self, call: Awaitable[None]) -> None:
        task = asyncio.ensure_future(call)
        self._tasks.add(task)
        try:
            await task
        finally:
            self._tasks.discard(task)


def _who(user: User) -> dict[str, str]:
    return {"name": user.name, "display_name": user.display_name or user.name}


def enabled(settings: Settings) -> bool:
    return settings.browser.enabled


def create(runtime: DeskRuntime) -> AgentDeskChannel:
    return AgentDeskChannel(runtime=runtime)  # controls: server.agent_page.wire_agents
