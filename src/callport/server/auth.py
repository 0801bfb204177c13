"""The server's front door: Host check, authentication and CSRF rules, as one ASGI middleware.

For every HTTP request and WebSocket handshake, in this order:

1. ``Host`` must be one of ``server.allowed_hosts`` (default: the bind host, localhost,
   127.0.0.1, ::1 and the hosts of the configured Twilio/Telnyx ``public_base_url``; ports are
   ignored); anything else is answered 421 (DNS rebinding).
2. Who is asking: ``Authorization: Bearer cp_...`` (an ``api`` token) or else the
   ``callport_session`` cookie (a ``session`` token). The ``User`` goes in ``scope["user"]``
   (``request.user``; ``None`` when anonymous) and the ``Auth`` record in
   ``scope["callport.auth"]``.
3. ``/api/*`` needs a user (401 JSON ``{"error": ...}``; a bearer token that does not verify is
   401 even with a cookie). State-changing methods (POST/PUT/PATCH/DELETE) on ``/api/*``,
   ``/login`` and ``/logout`` need ``Content-Type: application/json`` (415; a PUT/PATCH/DELETE
   without a body needs none: browsers cannot send those cross-origin unasked) and, unless
   authenticated by a bearer token, an ``Origin`` that is the page's own or one of
   ``browser.allowed_origins`` (403; a missing Origin is 403 too).
4. ``/metrics`` needs an admin's API token (401 without one, 403 for a non-admin) unless
   ``server.metrics_public``.

The decisions themselves are pure functions in ``server.hosts`` and ``server.csrf``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from callport.config import Settings
from callport.server.csrf import (
    SESSION_COOKIE,
    UNSAFE_METHODS,
    bearer_token,
    is_json,
    origin_ok,
)
from callport.server.hosts import allowed_hosts, host_allowed
from callport.store.users import TokenStore, token_id_of
from callport.types import User

log = logging.getLogger(__name__)

AUTH_KEY = "callport.auth"
LOGIN_PATHS = frozenset({"/login", "/logout"})


@dataclass(frozen=True, slots=True)
class Auth:
    """How a request was authenticated: the user, by which credential, and its token id."""

    user: User
    via: Literal["bearer", "cookie"]
    token_id: str


def auth_of(scope: Scope) -> Auth | None:
    """The ``Auth`` the middleware put on a request (None: anonymous or no middleware)."""
    auth = scope.get(AUTH_KEY)
    return auth if isinstance(auth, Auth) else None


def user_of(scope: Scope) -> User | None:
    auth = auth_of(scope)
    return auth.user if auth is not None else None


def admin_of(scope: Scope, what: str) -> tuple[User | None, Response | None]:
    """The signed-in admin, else the refusal: 401 without a sign-in or token, 403 for
    anyone else (``what``: what is for admins, said in the 403)."""
    user = user_of(scope)
    if user is None:
        return None, JSONResponse({"error": "sign in or send an API token"}, status_code=401)
    if not user.has_role("admin"):
        return None, JSONResponse({"error": f"{what} is for admins"}, status_code=403)
    return user, None


def is_api_path(path: str, api_path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or (
        bool(api_path) and (path == api_path or path.startswith(api_path.rstrip("/") + "/")))


class AuthMiddleware:
    """See the module docstring. ``clock`` gives unix seconds (token expiry)."""

    def __init__(self, app: ASGIApp, *, settings: Settings, tokens: TokenStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self._settings = settings
        self._tokens = tokens
        self._clock = clock
        self._hosts = allowed_hosts(settings)
        self._static = settings.browser.static_path.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not host_allowed(headers.get("host"), self._hosts):
            log.info("refused Host %r (server.allowed_hosts)", headers.get("host"))
            await _deny(scope, receive, send, 421,
                        "this server does not answer for that Host (see server.allowed_hosts)")
            return
        path: str = scope["path"]
        scope["user"] = None
        if path.startswith(self._static):  # the page's assets: public, no store look-ups
            await self.app(scope, receive, send)
            return
        presented = bearer_token(headers.get("authorization"))
        auth = await self._authenticate(headers, presented)
        scope[AUTH_KEY] = auth
        scope["user"] = auth.user if auth is not None else None
        refusal = self._refusal(scope, headers, path, auth, bearer_presented=presented is not None)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, headers: Headers, bearer: str | None) -> Auth | None:
        now = self._clock()
        if bearer is not None:
            user = await self._tokens.verify(bearer, kinds=("api",), now=now)
            return Auth(user, "bearer", token_id_of(bearer) or "") if user is not None else None
        cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE, "")
        if cookie and token_id_of(cookie) is not None:
            user = await self._tokens.verify(cookie, kinds=("session",), now=now)
            if user is not None:
                return Auth(user, "cookie", token_id_of(cookie) or "")
        return None

    def _refusal(self, scope: Scope, headers: Headers, path: str, auth: Auth | None, *,
                 bearer_presented: bool) -> Response | None:
        server = self._settings.server
        api = is_api_path(path, server.api_path)
        if scope["type"] == "http" and path == "/metrics" and not server.metrics_public:
            if auth is None or auth.via != "bearer":
                return _error(401, "/metrics needs an admin's API token (Authorization: Bearer)",
                              json=False)
            if not auth.user.has_role("admin"):
                return _error(403, "/metrics needs an admin's API token", json=False)
        if api and auth is None:
            why = "invalid or revoked token" if bearer_presented else "sign in or send a token"
            return _error(401, why, json=True)
        method = scope.get("method", "GET")
        if scope["type"] == "http" and method in UNSAFE_METHODS and (api or path in LOGIN_PATHS):
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            if (method == "POST" or has_body) and not is_json(headers.get("content-type")):
                return _error(415, "send Content-Type: application/json", json=True)
            if auth is None or auth.via != "bearer":
                secure = scope.get("scheme") in ("https", "wss")
                if not origin_ok(headers.get("origin"), host=headers.get("host", ""),
                                 secure=secure, allowed=self._settings.browser.allowed_origins):
                    return _error(403, "cross-origin request refused (Origin)", json=True)
        return None


def _error(status: int, message: str, *, json: bool) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="callport"'
    if json:
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """Refuse an HTTP request or a WebSocket handshake with ``status``."""
    body = (message + "\n").encode()
    if scope["type"] == "http":
        await PlainTextResponse(message + "\n", status_code=status)(scope, receive, send)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server cannot send a status: a close before accept is an HTTP 403
        await send({"type": "websocket.close", "code": 1008})
