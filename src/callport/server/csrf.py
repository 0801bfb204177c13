"""Cross-site request rules for state-changing requests and the session cookie. Pure functions.

A browser attaches the session cookie to any request it sends to callport, even one a foreign
page made it send. So a request that changes state must show it came from callport's own page:
a JSON body (a foreign page cannot send one cross-origin without a CORS preflight, which
callport never grants) and an ``Origin`` that is the page's own or an allowed one. SameSite=
Strict on the cookie is a second lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from callport.channels.browser.tokens import SESSION_COOKIE

__all__ = ["SESSION_COOKIE", "UNSAFE_METHODS", "bearer_token", "clear_session_cookie", "is_json",
           "origin_ok", "own_origin", "session_cookie"]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(content_type: str | None) -> bool:
    """``application/json`` (any parameters, e.g. ``; charset=utf-8``)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json"


def own_origin(*, host: str, secure: bool) -> str:
    """The origin a request was addressed to: scheme plus ``Host``."""
    return f"{'https' if secure else 'http'}://{host.strip().lower()}"


def origin_ok(origin: str | None, *, host: str, secure: bool, allowed: Iterable[str]) -> bool:
    """Is ``Origin`` the page's own origin or one of ``allowed`` (``*``: any)?

    A missing or ``null`` Origin fails: browsers send one on every cross-site POST and WebSocket
    handshake, so its absence on a cookie-authenticated write means "not our page".
    """
    if not origin or origin.strip().lower() == "null":
        return False
    got = origin.strip().rstrip("/").lower()
    extra = {a.strip().rstrip("/").lower() for a in allowed}
    return got == own_origin(host=host, secure=secure) or "*" in extra or got in extra


def session_cookie(value: str, *, secure: bool, max_age: int) -> str:
    """The ``Set-Cookie`` value that signs a browser in: HttpOnly, SameSite=Strict, Path=/,
    Secure when the page was served over HTTPS."""
    parts = [f"{SESSION_COOKIE}={value}", "HttpOnly", "SameSite=Strict", "Path=/",
             f"Max-Age={int(max_age)}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_session_cookie(*, secure: bool) -> str:
    """The ``Set-Cookie`` value that removes the session cookie."""
    return session_cookie("", secure=secure, max_age=0)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None for other schemes)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
