"""The browser channel: the web page, its static assets, session tokens, WebSocket and WebRTC.

Routes (paths from ``settings.browser`` / ``settings.server.web_path``):

* ``GET  web_path``      the page (index.html with its configuration filled in); a browser
                         that is not signed in is sent to ``/login``
* ``GET  static_path/*`` the client's JS/CSS/worklets and vendored VAD + ONNX runtime files
* ``POST token_path``    a short-lived call token: same origin and a signed-in session only
* ``WS   ws_path``       PCM16 + JSON control (needs ``?token=``)
* ``POST offer_path``    WebRTC offer/answer (JSON ``{sdp, type, token}``)
* ``GET  embed_path``    the page for the widget's iframe (``web/widget.js``; see ``page``)
* ``GET  embed_path/connect``, ``POST embed_path/grant``  the popup that grants one host
                         origin a session for the iframe (SameSite cookies stay home)
* ``GET  static_path/brand/*``  ``page.assets_dir`` (the logo)

The page's name, logo, colours, greeting, panels and language come from ``[page]``.

A call token is bound to the session that fetched it (its token id and user name are in the
signed payload) and starts one call: the WebSocket and offer endpoints check that the request
carries that same session, still live, and spend the token's nonce. The call runs as the
signed-in user (``CallInfo.user``), so no further identification is asked for.
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
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from callport import safejson
from callport.agents.base import CallInfo
from callport.channels.browser.leg import BrowserLeg
from callport.channels.browser.page import (
    WS_PROTOCOL,
    embed_allowed,
    frame_ancestors,
    page_config,
    render,
)
from callport.channels.browser.protocol import CLOSE_POLICY
from callport.channels.browser.session import BrowserSession, session_of
from callport.channels.browser.tokens import (
    TokenError,
    TokenSigner,
    origin_allowed,
    spend_for_session,
)
from callport.channels.browser.ws import WebSocketCall
from callport.channels.busy import refusal_of
from callport.config import Settings
from callport.logs import safe
from callport.metrics import Metrics
from callport.store.live import MemorySpentTokens, SpentTokens
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
        # shared by every node when the runtime has them (server.redis), else this channel's
        self._spent: SpentTokens = getattr(runtime, "spent_tokens", None) or MemorySpentTokens()
        self._clock = clock
        self._web_dir = web_dir
        self._calls: set[asyncio.Task[None]] = set()
        self._active = 0
        # Per signed-in user: WebSocket calls, and WebRTC offers being answered (answered
        # ones are counted by RtcCalls.calls_of): browser.max_calls_per_user.
        self._user_ws: dict[str, int] = {}
        self._user_offers: dict[str, int] = {}
        self._metrics: Metrics | None = getattr(runtime, "metrics", None)  # the app's /metrics
        # Imported lazily: aiortc/av are heavy and only the WebRTC path needs them.
        self._rtc: Any = None

    # -- Channel protocol

    def routes(self) -> Sequence[BaseRoute]:
        cfg = self._settings.browser
        if not cfg.enabled:
            return []
        embed = self._settings.page.embed_path
        routes: list[BaseRoute] = [
            Route(self._settings.server.web_path, self._page, methods=["GET"]),
            Route(embed, self._embed, methods=["GET"]),
            Route(embed + "/connect", self._connect, methods=["GET"]),
            Route(embed + "/grant", self._grant, methods=["POST"]),
            Route(cfg.token_path, self._token, methods=["POST"]),
            Route(cfg.offer_path, self._offer, methods=["POST"]),
            WebSocketRoute(cfg.ws_path, self._websocket),
        ]
        if self._settings.page.assets_dir:
            routes.append(Mount(cfg.static_path + "/brand", name="browser-brand", app=StaticFiles(
                directory=self._settings.page.assets_dir, check_dir=False)))
        routes += [
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
            await spend_for_session(
                self._spent, claims, now=now, missing="no live session",
                session=None if session is None else (session.token_id, session.user.name))
        except TokenError as exc:
            log.info("browser: refused token from %s: %s", conn.client, exc)
            return None
        assert session is not None  # spend_for_session refused a missing one
        return session.user

    def _full(self) -> bool:
        """No room for a call: at ``browser.max_calls``, the runtime is draining (SIGTERM),
        or the machine is at capacity (``server.max_conversations``)."""
        return (self._active >= self._settings.browser.max_calls
                or bool(getattr(self._runtime, "draining", False))
                or refusal_of(self._runtime) is not None)

    def _user_full(self, user: User) -> bool:
        """``user`` already has ``browser.max_calls_per_user`` calls (or offers answering)."""
        name = user.name
        held = (self._user_ws.get(name, 0) + self._user_offers.get(name, 0)
                + (self._rtc.calls_of(name) if self._rtc is not None else 0))
        if held < self._settings.browser.max_calls_per_user:
            return False
        log.info("browser: %s already has %d calls (browser.max_calls_per_user)",
                 safe(name, 64), held)
        if self._metrics is not None:
            self._metrics.browser_user_capped.inc()
        return True

    # -- endpoints

    async def _page(self, request: Request) -> Response:
        if await self._session(request) is None:
            return RedirectResponse("/login", status_code=303,
                                    headers={"Cache-Control": "no-store"})
        return self._html("index.html", page_config(self._settings, vad=self._vad()),
                          csp="frame-ancestors 'self'")

    def _vad(self) -> bool:
        return (self._web_dir / "vendor" / "vad" / "bundle.min.js").exists()

    def _html(self, name: str, config: dict[str, Any], *, csp: str) -> Response:
        html = render((self._web_dir / name).read_text(encoding="utf-8"), self._settings, config)
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": csp})

    async def _embed(self, request: Request) -> Response:
        """The widget's iframe: the page in embed mode; only allowed origins may frame it."""
        host = request.query_params.get("host", "")
        if not embed_allowed(host, self._settings):
            return Response("this site may not embed callport (browser.allowed_origins)\n",
                            status_code=403, media_type="text/plain",
                            headers={"Content-Security-Policy": "frame-ancestors 'none'"})
        config = page_config(self._settings, vad=self._vad(), embed=True, host_origin=host)
        return self._html("index.html", config, csp=frame_ancestors(self._settings))

    async def _connect(self, request: Request) -> Response:
        """The grant popup (top level on callport's origin, so the session cookie flows)."""
        host = request.query_params.get("host", "")
        if not embed_allowed(host, self._settings):
            return Response("this site may not embed callport (browser.allowed_origins)\n",
                            status_code=403, media_type="text/plain")
        session = await self._session(request)
        config = page_config(self._settings, vad=False, embed=True, host_origin=host)
        config["user"] = (session.user.display_name or session.user.name) if session else ""
        return self._html("connect.html", config, csp="frame-ancestors 'none'")

    async def _grant(self, request: Request) -> Response:
        """Mint a session token for the iframe on ``host``: JSON from callport's own page."""
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        if (request.headers.get("origin", "").lower() != own
                or request.headers.get("content-type", "").split(";")[0] != "application/json"):
            return JSONResponse({"error": "grant from callport's own page only"}, status_code=403)
        session = await self._session(request)
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        try:
            body = safejson.loads(await request.body())
        except ValueError:
            body = None
        host = body.get("host", "") if isinstance(body, dict) else ""
        if not isinstance(host, str) or not embed_allowed(host, self._settings):
            return JSONResponse({"error": "that site may not embed callport"}, status_code=403)
        issued = await self._runtime.tokens.create(
            session.user.name, kind="session", label=f"widget on {host}"[:120],
            ttl_s=float(self._settings.identity.session_ttl_s), now=self._clock())
        log.info("browser: %s granted the widget on %s a session", session.user.name, host)
        return JSONResponse({"session": issued.secret, "user": {
            "name": session.user.name,
            "display_name": session.user.display_name or session.user.name}},
            headers={"Cache-Control": "no-store"})

    async def _token(self, request: Request) -> Response:
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        session = await self._session(request)
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401,
                                headers={"Cache-Control": "no-store"})
        busy = refusal_of(self._runtime)  # at capacity: the page says all lines are busy
        if busy is not None:
            return JSONResponse({"error": "busy"}, status_code=503, headers={
                "Cache-Control": "no-store", "Retry-After": str(busy.retry_after_s)})
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
        if self._full() or self._user_full(user):
            await websocket.close(code=1013)  # try again later
            return
        _add(self._user_ws, user.name, 1)  # held from here: no await between check and count
        try:
            offered = websocket.scope.get("subprotocols") or []
            await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered else None)
            call = WebSocketCall(websocket=websocket, run_call=self._runtime.run_call,
                                 lead_ms=float(self._settings.browser.lead_ms),
                                 caller=_client_name(websocket), user=user)
            await self._track(call.run())
        finally:
            _add(self._user_ws, user.name, -1)

    async def _offer(self, request: Request) -> Response:
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        try:
            body = safejson.loads(await request.body())
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
        if self._user_full(user):
            return JSONResponse({"error": "too many calls for this user"}, status_code=503,
                                headers={"Retry-After": "5"})
        if self._rtc is None:
            from callport.channels.browser.rtc import RtcCalls

            self._rtc = RtcCalls(settings=self._settings.browser, run_call=self._runtime.run_call,
                                 track=self._track,
                                 connect_s=self._settings.limits.rtc_connect_s)
        _add(self._user_offers, user.name, 1)  # until answered (then RtcCalls counts it)
        try:
            answer: dict[str, str] = await self._rtc.answer(
                body["sdp"], caller=_client_name(request), user=user)
        except ValueError as exc:
            return JSONResponse({"error": f"bad offer: {exc}"}, status_code=400)
        finally:
            _add(self._user_offers, user.name, -1)
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


def _add(counts: dict[str, int], name: str, delta: int) -> None:
    """Count ``delta`` more for ``name``; forget names back at 0 (the dict stays small)."""
    value = counts.get(name, 0) + delta
    if value > 0:
        counts[name] = value
    else:
        counts.pop(name, None)


def _client_name(conn: HTTPConnection) -> str:
    return f"{conn.client.host}:{conn.client.port}" if conn.client else "browser"


def create(runtime: BrowserRuntime) -> BrowserChannel:
    return BrowserChannel(runtime=runtime)
