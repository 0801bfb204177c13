"""Telnyx stream tokens: an HMAC of our call id, checked when the media socket starts.

Stateless, so a stream is admitted by whichever process Telnyx connects to: a call placed by
``callport call --via telnyx`` in another process (or another instance behind the load
balancer) carries a token every process sharing ``stream_secret`` accepts. Telnyx passes the
token back in the ``connected`` frame or the ``x-telnyx-streaming-auth-token`` header; our
call id comes back as ``client_state``. Single use (one stream per call) is the call book's
job (``callport.channels.callbook``). Pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from callport.channels.callbook import StreamGrant
from callport.config import TelnyxSettings

__all__ = ["check", "mint", "new_call_id", "stream_secret"]


def new_call_id() -> str:
    return "tx-" + secrets.token_hex(8)


def stream_secret(settings: TelnyxSettings) -> bytes:
    """The key stream tokens are signed with: shared by the server and ``callport call``."""
    if settings.stream_secret:
        return settings.stream_secret.encode()
    if settings.api_key:
        return hashlib.sha256(b"callport-telnyx-stream|" + settings.api_key.encode()).digest()
    return secrets.token_bytes(32)  # nothing shared configured: valid in this process only


def mint(secret: bytes, call_id: str) -> str:
    """The token a stream for ``call_id`` must present (URL-safe, 32 characters)."""
    mac = hmac.new(secret, b"telnyx-stream|" + call_id.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii")[:32]


def check(
    secret: bytes, *, call_id: str, token: str, caller: str = "", callee: str = ""
) -> StreamGrant | None:
    """The grant for a stream presenting ``token`` for ``call_id``, or None if it is forged.

    The token does not expire (Telnyx may connect the stream long after we answered or
    dialled); it is bound to one call id, and the book admits one stream per call.
    """
    if not call_id or not token:
        return None
    if not hmac.compare_digest(token.encode(), mint(secret, call_id).encode()):
        return None
    return StreamGrant(call_id=call_id, token_id=token, direction="outbound",
                       caller=caller, callee=callee)
