"""The browser channel: the web page, its static assets, session tokens, WebSocket and WebRTC.

Routes (paths from ``settings.browser`` / ``settings.server.web_path``):

* ``GET  web_path``      the page (index.html with its configuration filled in); a browser
                         that is not signed in is sent to ``/login``
* ``GET  static_path/*`` the client's JS/CSS/worklets and vendored VAD + ONNX runtime files
* ``POST token_path``    a short-lived call token: same origin and a signed-in session only
* ``WS   ws_path``       PCM16 + JSON control (needs ``?token=``)
* ``POST offer_path``    WebRTC offer/answer (JSON ``{sdp, type, token}``)

A call token is bound to the session that fetched it (its token id and user name are in the
signed payload) and starts one call: the WebSocket and offer endpoints check that the request
carries that same session, still live, and spend the token's nonce. The call runs as the
signed-in user (``CallInfo.user``), so no further identification is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from callport.agents.base import CallInfo
from callport.channels.browser.leg import BrowserLeg
from callport.channels.browser.protocol import CLOSE_POLICY
from callport.channels.browser.session import BrowserSession, session_of
from callport.channels.browser.tokens import SpentNonces, TokenError, TokenSigner, origin_allowed
from callport.channels.browser.ws import WebSocketCall
from callport.config import Settings
from callport.store.users import TokenStore
from callport.types import User

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"


class BrowserRuntime(Protocol):
    """What the channel needs from the server's Runtime."""

    @property
    def settings(self) -> Settings: ...

    @property
    def tokens(self) -> TokenStore: ...

    def run_call(self, leg: BrowserLeg, info: CallInfo) -> Awaitable[object]: ...


class BrowserChannel:
    name = "browser"

    def __init__(self, *, runtime: BrowserRuntime, clock: Callable[[], float] = time.time,
                 web_dir: Path = WEB_DIR) -> None:
        self._runtime = runtime
        self._settings = runtime.settings
        cfg = self._settings.browser
        self._signer = TokenSigner.from_setting(secret=cfg.token_secret, ttl_s=cfg.token_ttl_s)
        self._spent = SpentNonces()
        self._clock = clock
        self._web_dir = web_dir
        self._calls: set[asyncio.Task[None]] = set()
        self._active = 0
        # Imported lazily: aiortc/av are heavy and only the WebRTC path needs them.
        self._rtc: Any = None

    # -- Channel protocol

    def routes(self) -> Sequence[BaseRoute]:
        cfg = self._settings.browser
        if not cfg.enabled:
            return []
        routes: list[BaseRoute] = [
            Route(self._settings.server.web_path, self._page, methods=["GET"]),
            Route(cfg.token_path, self._token, methods=["POST"]),
            Route(cfg.offer_path, self._offer, methods=["POST"]),
            WebSocketRoute(cfg.ws_path, self._websocket),
            Mount(cfg.static_path, app=StaticFiles(directory=self._web_dir, check_dir=False),
                  name="browser-static"),
        ]
        return routes

    async def start(self) -> None:
        if not (self._web_dir / "vendor" / "vad" / "bundle.min.js").exists():
            log.warning("browser: %s/vendor is missing; run scripts/fetch_web_assets.sh "
                        "(the page works without client VAD)", self._web_dir)

    async def stop(self) -> None:
        if self._rtc is not None:
            await self._rtc.close_all()
        for task in list(self._calls):
            task.cancel()
        for task in list(self._calls):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- access control

    def _origin_ok(self, conn: HTTPConnection) -> bool:
        return origin_allowed(
            conn.headers.get("origin"), host=conn.headers.get("host", ""),
            secure=conn.url.scheme in {"https", "wss"},
            allowed=self._settings.browser.allowed_origins)

    async def _session(self, conn: HTTPConnection) -> BrowserSession | None:
        return await session_of(conn, self._runtime.tokens, now=self._clock())

    async def _caller(self, conn: HTTPConnection, token: str) -> User | None:
        """The signed-in user a call token admits, spending it; None (logged) if refused."""
        now = self._clock()
        try:
            claims = self._signer.verify(token, origin=conn.headers.get("origin", ""), now=now)
            session = await self._session(conn)
            if session is None:
                raise TokenError("no live session")
            if claims.session != session.token_id or claims.user != session.user.name:
                raise TokenError("token was issued to another session")
            self._spent.spend(claims, now=now)
        except TokenError as exc:
            log.info("browser: refused token from %s: %s", conn.client, exc)
            return None
        return session.user

    def _full(self) -> bool:
        """No room for a call: at ``browser.max_calls``, or the runtime is draining (SIGTERM)."""
        return (self._active >= self._settings.browser.max_calls
                or bool(getattr(self._runtime, "draining", False)))

    # -- endpoints

    async def _page(self, request: Request) -> Response:
        if await self._session(request) is None:
            return RedirectResponse("/login", status_code=303,
                                    headers={"Cache-Control": "no-store"})
        cfg = self._settings.browser
        config = {
            "static": cfg.static_path, "token": cfg.token_path, "ws": cfg.ws_path,
            "offer": cfg.offer_path, "tasks": self._settings.server.api_path,
            "me": "/api/me", "login": "/login", "logout": "/logout",
            "vad": (self._web_dir / "vendor" / "vad" / "bundle.min.js").exists(),
        }
        html = (self._web_dir / "index.html").read_text(encoding="utf-8")
        html = html.replace("{{STATIC}}", cfg.static_path).replace(
            "{{CONFIG}}", json.dumps(config).replace("<", "\\u003c"))
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def _token(self, request: Request) -> Response:
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        session = await self._session(request)
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401,
                                headers={"Cache-Control": "no-store"})
        cfg = self._settings.browser
        origin = request.headers["origin"]
        ice: list[dict[str, Any]] = []
        for url in cfg.ice_servers:
            server: dict[str, Any] = {"urls": url}
            if url.startswith("turn") and cfg.turn_username:
                server.update(username=cfg.turn_username, credential=cfg.turn_credential)
            ice.append(server)
        return JSONResponse({
            "token": self._signer.issue(origin=origin, session=session.token_id,
                                        user=session.user.name, now=self._clock()),
            "expires_in": cfg.token_ttl_s, "ice_servers": ice,
        }, headers={"Cache-Control": "no-store"})

    async def _websocket(self, websocket: WebSocket) -> None:
        user = (await self._caller(websocket, websocket.query_params.get("token", ""))
                if self._origin_ok(websocket) else None)
        if user is None:
            await websocket.close(code=CLOSE_POLICY)  # before accept: HTTP 403
            return
        if self._full():
            await websocket.close(code=1013)  # try again later
            return
        await websocket.accept()
        call = WebSocketCall(websocket=websocket, run_call=self._runtime.run_call,
                             lead_ms=float(self._settings.browser.lead_ms),
                             caller=_client_name(websocket), user=user)
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
        if self._full():
            return JSONResponse({"error": "too many calls"}, status_code=503)
        user = await self._caller(request, str(body.get("token", "")))
        if user is None:
            return JSONResponse({"error": "bad, used or expired token"}, status_code=403)
        if self._rtc is None:
            from callport.channels.browser.rtc import RtcCalls

            self._rtc = RtcCalls(settings=self._settings.browser, run_call=self._runtime.run_call,
                                 track=self._track)
        try:
            answer: dict[str, str] = await self._rtc.answer(
                body["sdp"], caller=_client_name(request), user=user)
        except ValueError as exc:
            return JSONResponse({"error": f"bad offer: {exc}"}, status_code=400)
        return JSONResponse(answer)

    async def _track(self, call: Awaitable[None]) -> None:
        self._active += 1
        task = asyncio.ensure_future(call)
        self._calls.add(task)
        try:
            await task
        finally:
            self._calls.discard(task)
            self._active -= 1


def _client_name(conn: HTTPConnection) -> str:
    return f"{conn.client.host}:{conn.client.port}" if conn.client else "browser"


def create(runtime: BrowserRuntime) -> BrowserChannel:
    return BrowserChannel(runtime=runtime)
