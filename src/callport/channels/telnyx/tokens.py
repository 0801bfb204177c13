"""Telnyx stream tokens: our call id, an expiry and (inbound) the call_control_id, HMAC-signed.

A token reads ``<expires>.<kind><mac>``: ``expires`` in unix seconds (``telnyx.token_ttl_s``
after minting), ``kind`` ``i`` for an inbound call, bound to the ``call_control_id`` of the
signed ``call.initiated`` webhook, or ``o`` for a call we dial (Telnyx names the call only
once it exists), and ``mac`` 32 URL-safe characters of HMAC-SHA256 over all of that and our
call id. A forged, altered, expired token, or one presented for another call, is refused.

Stateless, so a stream is admitted by whichever process Telnyx connects to: a call placed by
``callport call --via telnyx`` in another process (or another instance behind the load
balancer) carries a token every process sharing ``stream_secret`` accepts. Telnyx passes the
token back in the ``connected`` frame or the ``x-telnyx-streaming-auth-token`` header; our
call id comes back as ``client_state``. Single use is the call book's job: it spends each
token once and remembers it until it expires (``callport.channels.callbook``). Pure: time is
an argument.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
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


def _mac(secret: bytes, *, call_id: str, expires: str, kind: str, provider_call_id: str) -> str:
    message = json.dumps(["telnyx-stream-v2", expires, kind, provider_call_id, call_id])
    mac = hmac.new(secret, message.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii")[:32]


def mint(secret: bytes, call_id: str, *, expires_at: float, provider_call_id: str = "") -> str:
    """The token a stream for ``call_id`` must present before ``expires_at``; bound to
    ``provider_call_id`` when given (an inbound call we answer)."""
    expires = str(int(expires_at))
    kind = "i" if provider_call_id else "o"
    mac = _mac(secret, call_id=call_id, expires=expires, kind=kind,
               provider_call_id=provider_call_id)
    return f"{expires}.{kind}{mac}"


def check(
    secret: bytes,
    *,
    call_id: str,
    token: str,
    provider_call_id: str,
    now: float,
    caller: str = "",
    callee: str = "",
) -> StreamGrant | None:
    """The grant for a stream presenting ``token`` for ``call_id`` on the Telnyx call
    ``provider_call_id``, or None if it is forged, expired or minted for another call."""
    expires, _, rest = token.partition(".")
    if not call_id or not expires.isdigit() or len(expires) > 12 or len(rest) != 33:
        return None
    if now > int(expires):
        return None
    kind, mac = rest[0], rest[1:]
    if kind not in ("i", "o"):
        return None
    bound = provider_call_id if kind == "i" else ""
    expected = _mac(secret, call_id=call_id, expires=expires, kind=kind, provider_call_id=bound)
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    return StreamGrant(call_id=call_id, token_id=token, expires_at=float(expires),
                       direction="inbound" if kind == "i" else "outbound",
                       caller=caller, callee=callee)
