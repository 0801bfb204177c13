"""Signing in and out: ``/login``, ``/logout`` and ``/api/me``.

* ``GET  /login``              the sign-in page (``web/login.html``); signed in already: to ``/``
* ``GET  /login?token=cp_...`` consumes a one-time ``signin`` token (the link ``serve`` prints
  on first run), sets the session cookie and sends the browser on to the page. The answer is a
  small page that redirects at once (not an HTTP redirect) so the SameSite=Strict cookie is sent
  on the next request even when the link was opened from another site or an app.
* ``POST /login``              JSON ``{name, password}``; sets the cookie, returns ``{user}``
* ``POST /logout``             revokes this browser's session and clears the cookie
* ``GET  /api/me``             ``{user}``: who is signed in (no secrets)
* ``POST /api/me/password``    JSON ``{password, current?}``: set or change one's own password
  (``current`` is needed when there is one already; a wrong one counts as a failed sign-in).
  Setting it retires unused sign-in links: the owner signs in with the password from then on.

``AuthMiddleware`` enforces the JSON content type and same-origin rule on the POSTs and the
sign-in on ``/api/me``. Failed password sign-ins answer one generic message and are throttled
per client address and per name (``runtime.login_throttle``, a ``SharedThrottle``: in memory
on one node, on Redis with ``server.redis`` so failures on every node count together). When
the throttle cannot be read (Redis down, or no answer within ``store.live.ANSWER_WITHIN_S``),
sign-in fails closed: 503, logged and counted
(``callport_edge_events_total{kind="throttle-unavailable"}``), no password is checked.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callport import safejson
from callport.channels.browser.page import page_config
from callport.channels.browser.session import session_of
from callport.config import Settings
from callport.edgelog import EDGE
from callport.server.auth import user_of
from callport.server.csrf import SESSION_COOKIE, clear_session_cookie, session_cookie
from callport.store import live as live_state
from callport.store.live import MemoryThrottle, SharedThrottle
from callport.store.users import TokenStore, UserError, UserStore, clean_password, token_id_of
from callport.types import User

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_BODY = 4096
FAILED = "That name and password do not match an account."
THROTTLED = "Too many failed sign-ins. Wait a few minutes and try again."
UNAVAILABLE = "Sign-in is unavailable for a moment. Try again shortly."
BAD_LINK = "This sign-in link has already been used or has expired. Restart callport serve " \
           "for a fresh one, or sign in with your password."


def user_json(user: User) -> dict[str, Any]:
    """A user as the page may see them: no PIN, no password, no tokens."""
    return {"name": user.name, "display_name": user.display_name or user.name,
            "roles": sorted(user.roles), "has_password": user.has_password}


def login_routes(*, settings: Settings, users: UserStore, tokens: TokenStore,
                 clock: Callable[[], float] = time.time, throttle: SharedThrottle | None = None,
                 web_dir: Path = WEB_DIR) -> list[BaseRoute]:
    """The sign-in routes (mount them at the root, behind ``AuthMiddleware``)."""
    attempts = throttle or MemoryThrottle()
    ttl = settings.identity.session_ttl_s
    home = settings.server.web_path or "/"

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    async def start_session(request: Request, user: User) -> str:
        issued = await tokens.create(user.name, kind="session", ttl_s=float(ttl),
                                     label="browser", now=clock())
        return session_cookie(issued.secret, secure=secure(request), max_age=ttl)

    async def refused(keys: tuple[str, ...], now: float) -> Response | None:
        """429 when a key is blocked; 503 when the throttle cannot tell (fail closed)."""
        try:
            async with asyncio.timeout(live_state.ANSWER_WITHIN_S):
                blocked = [await attempts.blocked(k, now=now) for k in keys]
        except Exception as exc:  # the shared throttle (Redis) is unreachable
            _unavailable("read", exc)
            return JSONResponse({"error": UNAVAILABLE}, status_code=503,
                                headers={"Retry-After": "5"})
        if any(blocked):
            return JSONResponse({"error": THROTTLED}, status_code=429,
                                headers={"Retry-After": str(int(attempts.window_s))})
        return None

    async def record(keys: tuple[str, ...], now: float, *, failed: bool) -> None:
        try:
            async with asyncio.timeout(live_state.ANSWER_WITHIN_S):
                for key in keys:
                    await (attempts.failed(key, now=now) if failed else attempts.reset(key))
        except Exception as exc:
            _unavailable("update", exc)

    def page(notice: str = "", status: int = 200) -> Response:
        brand = page_config(settings, vad=False)  # the page's name and tagline ([page])
        config = {"home": home, "login": "/login", "notice": notice, "name": brand["name"],
                  "tagline": brand["tagline"]}
        text = (web_dir / "login.html").read_text(encoding="utf-8")
        text = text.replace("{{STATIC}}", settings.browser.static_path).replace(
            "{{CONFIG}}", json.dumps(config).replace("<", "\\u003c"))
        return HTMLResponse(text, status_code=status, headers=_NO_CACHE)

    async def login_page(request: Request) -> Response:
        secret = request.query_params.get("token")
        if secret is not None:
            user = await tokens.verify(secret, kinds=("signin",), now=clock())
            if user is None:
                log.info("login: refused a sign-in link from %s", request.client)
                return page(BAD_LINK, status=401)
            cookie = await start_session(request, user)
            log.info("login: %s signed in by link", user.name)
            return _onward(home, cookie)
        if await session_of(request, tokens, now=clock()) is not None:
            return _onward(home, None)
        return page()

    async def login(request: Request) -> Response:
        raw = await request.body()
        try:
            data = safejson.loads(raw) if len(raw) <= MAX_BODY else None
        except ValueError:  # safejson.JsonRejected: malformed, too deep, huge numbers
            data = None
        name = data.get("name") if isinstance(data, dict) else None
        password = data.get("password") if isinstance(data, dict) else None
        if not isinstance(name, str) or not isinstance(password, str):
            return JSONResponse({"error": "send {name, password}"}, status_code=400)
        name = name.strip().lower()
        now = clock()
        keys = (f"ip:{request.client.host if request.client else '?'}", f"name:{name[:64]}")
        if (refusal := await refused(keys, now)) is not None:
            return refusal
        user = await users.check_password(name, password) if len(password) <= 1024 else None
        if user is None:
            await record(keys, now, failed=True)
            log.info("login: failed sign-in for %r from %s", name[:64], request.client)
            return JSONResponse({"error": FAILED}, status_code=401)
        await record(keys, now, failed=False)
        cookie = await start_session(request, user)
        log.info("login: %s signed in", user.name)
        return JSONResponse({"user": user_json(user)},
                            headers={"Set-Cookie": cookie, **_NO_CACHE})

    async def logout(request: Request) -> Response:
        secret = request.cookies.get(SESSION_COOKIE, "")
        session = await session_of(request, tokens, now=clock()) if secret else None
        if session is not None:
            await tokens.revoke(token_id_of(secret) or "")
            log.info("login: %s signed out", session.user.name)
        return JSONResponse({"signed_out": session is not None}, headers={
            "Set-Cookie": clear_session_cookie(secure=secure(request)), **_NO_CACHE})

    async def me(request: Request) -> Response:
        user = user_of(request.scope)
        if user is None:  # only without AuthMiddleware in front
            return JSONResponse({"error": "sign in or send a token"}, status_code=401)
        return JSONResponse({"user": user_json(user)}, headers=_NO_CACHE)

    async def set_password(request: Request) -> Response:
        user = user_of(request.scope)
        if user is None:
            return JSONResponse({"error": "sign in or send a token"}, status_code=401)
        raw = await request.body()
        try:
            data = safejson.loads(raw) if len(raw) <= MAX_BODY else None
        except ValueError:  # safejson.JsonRejected: malformed, too deep, huge numbers
            data = None
        password = data.get("password") if isinstance(data, dict) else None
        current = data.get("current", "") if isinstance(data, dict) else None
        if not isinstance(password, str) or not isinstance(current, str):
            return JSONResponse({"error": "send {password, current}"}, status_code=400)
        now, key = clock(), f"name:{user.name}"
        if user.has_password:
            if (refusal := await refused((key,), now)) is not None:
                return refusal
            if await users.check_password(user.name, current) is None:
                await record((key,), now, failed=True)
                return JSONResponse({"error": "the current password is wrong"}, status_code=403)
        try:
            await users.set_password(user.name, clean_password(password))
        except UserError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        await tokens.revoke_user(user.name, kinds=("signin",))
        log.info("login: %s set a password", user.name)
        updated = await users.get(user.name)
        return JSONResponse({"user": user_json(updated or user)}, headers=_NO_CACHE)

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/api/me/password", set_password, methods=["POST"]),
    ]


def _unavailable(what: str, exc: Exception) -> None:
    allowed, suppressed = EDGE.report("http", "throttle-unavailable", now=time.monotonic())
    if allowed:
        more = f" ({suppressed} more suppressed)" if suppressed else ""
        log.warning("login: could not %s the sign-in throttle (%s: %s)%s", what,
                    type(exc).__name__, exc, more)


_NO_CACHE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _onward(home: str, cookie: str | None) -> Response:
    """A page that moves on to ``home`` at once, setting ``cookie`` first."""
    target = html.escape(home, quote=True)
    body = (f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url='
            f'{target}"><title>callport</title><p>Signed in. <a href="{target}">Continue</a></p>')
    headers = dict(_NO_CACHE)
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    return HTMLResponse(body, headers=headers)
