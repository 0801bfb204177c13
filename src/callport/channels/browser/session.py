"""Who a browser is: the signed-in session behind a request's ``callport_session`` cookie.

The cookie's value is a ``session`` token of the ``TokenStore`` (``cp_<id>_<secret>``); the
server's sign-in page sets it. The embedded widget's iframe, which never gets the cookie
(SameSite=Strict on another site), shows a granted session token instead: ``Authorization:
Bearer`` on HTTP, the ``callport.bearer.<secret>`` subprotocol on a WebSocket (``page``).
The channel re-checks it on every call-starting request, so a session that was signed out
or expired starts nothing, whatever call token it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from callport.channels.browser.page import bearer_of_protocols
from callport.channels.browser.tokens import SESSION_COOKIE
from callport.store.users import TokenStore, token_id_of
from callport.types import User

__all__ = ["SESSION_COOKIE", "BrowserSession", "session_of"]


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A live session: its token id (the ``cp_<id>_`` part) and the user it signs in."""

    token_id: str
    user: User


async def session_of(conn: HTTPConnection, tokens: TokenStore, *, now: float
                     ) -> BrowserSession | None:
    """The live session of ``conn``'s cookie (or granted bearer), else None (none, unknown,
    expired, revoked)."""
    secret = conn.cookies.get(SESSION_COOKIE, "")
    if not secret:
        scheme, _, value = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            secret = value.strip()
        elif conn.scope.get("type") == "websocket":
            secret = bearer_of_protocols(conn.headers.get("sec-websocket-protocol", "")) or ""
    token_id = token_id_of(secret) if secret else None
    if token_id is None:
        return None
    user = await tokens.verify(secret, kinds=("session",), now=now)
    return BrowserSession(token_id, user) if user is not None else None
