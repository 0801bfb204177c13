"""Who may use a channel's call-placing endpoint (``POST /twilio/calls`` and the like).

Placing a call spends money and rings someone's phone, so it needs an ``Authorization:
Bearer`` token, whoever asks: there is no trust in loopback peers (a reverse proxy, a browser
page or any local process would all be "127.0.0.1"). Accepted:

- an API token from the runtime's ``TokenStore`` (``callport tokens create NAME``, kind
  ``api``) whose user has the ``admin`` role: a live token of a non-admin user is 403;
- the channel's static token (``twilio.calls_api_token``), when one is configured.

Anything else (no header, a malformed, unknown, revoked or expired token) is 401.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from callport.store.users import TokenStore
from callport.types import User

__all__ = ["ApiVerdict", "bearer_of", "check_admin_bearer"]

log = logging.getLogger(__name__)

ADMIN = "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiVerdict:
    """``status`` 200: go ahead (``who`` names the caller for the log); 401 or 403: refuse."""

    status: int
    reason: str = ""
    who: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


def bearer_of(authorization: str) -> str:
    """The token in an ``Authorization: Bearer <token>`` header ("" when there is none)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def check_admin_bearer(
    authorization: str, *, tokens: TokenStore | None, static_token: str, now: float
) -> ApiVerdict:
    """May the bearer of ``authorization`` place calls? (See the module docstring.)"""
    given = bearer_of(authorization)
    if not given:
        return ApiVerdict(status=401, reason="an Authorization: Bearer token is required")
    if static_token and hmac.compare_digest(given.encode(), static_token.encode()):
        return ApiVerdict(status=200, who="static calls_api_token")
    user: User | None = None
    if tokens is not None:
        try:
            user = await tokens.verify(given, kinds=("api",), now=now)
        except Exception:  # a failing store refuses, never crashes the request
            log.exception("api token check failed")
            user = None
    if user is None:
        return ApiVerdict(status=401, reason="unknown, revoked or expired token")
    if not user.has_role(ADMIN):
        return ApiVerdict(status=403, reason=f"user {user.name!r} is not an admin", who=user.name)
    return ApiVerdict(status=200, who=user.name)
