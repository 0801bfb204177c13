"""Stream tokens: what a ``<Stream>``'s ``<Parameter>``s carry so the media socket is admitted.

Stateless, so ``callport call`` in another process can place a call the server then admits:
the parameters name our call id, direction, caller and callee plus an expiry (unix seconds), and
``token`` is an HMAC-SHA256 over all of them (and the CallSid when known: inbound calls, where
the signed voice webhook told us) under a key derived from the Twilio auth token. Only this
deployment (whoever holds the auth token) can mint one; without an auth token there is no key
at all (``derive_key`` refuses an empty secret) and the channel admits nothing. Single use is
enforced by the channel remembering spent tokens until they expire
(``callport.channels.callbook.CallBook.admit``). Pure: time is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Literal

from callport.channels.callbook import StreamGrant

TOKEN = "token"
FIELDS = ("call_id", "direction", "caller", "callee", "expires")


def derive_key(auth_token: str) -> bytes:
    """The stream-token key; ``ValueError`` for an empty auth token (anyone could mint)."""
    if not auth_token:
        raise ValueError("no Twilio auth token: stream tokens cannot be signed")
    return hmac.new(auth_token.encode(), b"callport twilio stream token v2", "sha256").digest()


def _mac(key: bytes, values: Mapping[str, str], provider_call_id: str) -> str:
    # JSON framing: no field can bleed into the next (a caller id holding a separator).
    fields = [values.get(f, "") for f in FIELDS]
    message = json.dumps(["v2", bool(provider_call_id), provider_call_id, *fields])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def mint(
    key: bytes,
    *,
    call_id: str,
    direction: Literal["inbound", "outbound"],
    caller: str,
    callee: str,
    provider_call_id: str,
    expires_at: float,
) -> dict[str, str]:
    """The ``<Parameter>`` name/value pairs for one stream (bound to the CallSid if known)."""
    values = {
        "call_id": call_id,
        "direction": direction,
        "caller": caller,
        "callee": callee,
        "expires": str(int(expires_at)),
    }
    values[TOKEN] = ("s" if provider_call_id else "o") + _mac(key, values, provider_call_id)
    return values


def check(
    key: bytes, params: Mapping[str, str], *, provider_call_id: str, now: float
) -> StreamGrant | None:
    """The grant in a stream's custom parameters, or None if forged, mismatched or expired."""
    token = params.get(TOKEN, "")
    expires = params.get("expires", "")
    if len(token) < 2 or not expires.isdigit() or len(expires) > 12 or now > int(expires):
        return None
    bound = token[0] == "s"
    expected = _mac(key, params, provider_call_id if bound else "")
    if not hmac.compare_digest(token[1:], expected):
        return None
    direction = params.get("direction")
    if direction not in ("inbound", "outbound") or not params.get("call_id"):
        return None
    return StreamGrant(
        call_id=params["call_id"],
        token_id=token,
        expires_at=float(expires),
        direction="inbound" if direction == "inbound" else "outbound",
        caller=params.get("caller", ""),
        callee=params.get("callee", ""),
    )
