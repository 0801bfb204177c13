"""The Telnyx channel's call book: calls by our id and by ``call_control_id``; stream tokens.

Pure bookkeeping, time as an argument. A stream token is an HMAC of our call id under the
channel's secret, so a stream is admitted without shared state: a call placed by
``callport call --via telnyx`` in another process (or another instance behind the load
balancer) is admitted by whichever process Telnyx connects to. Within a process a token
admits one stream only, and none once Telnyx has said the call ended.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CallBook", "TelnyxCall", "new_call_id", "stream_token"]

Direction = Literal["inbound", "outbound"]


def new_call_id() -> str:
    return "tx-" + secrets.token_hex(8)


def stream_token(secret: bytes, call_id: str) -> str:
    """The token a stream for ``call_id`` must present (URL-safe, 32 characters)."""
    mac = hmac.new(secret, b"telnyx-stream|" + call_id.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii")[:32]


@dataclass(slots=True, kw_only=True)
class TelnyxCall:
    call_id: str
    provider_call_id: str
    direction: Direction
    caller: str = ""
    callee: str = ""
    status: str = "ringing"
    streamed: bool = False
    ended_at: float | None = None
    log: list[tuple[float, str]] = field(default_factory=list)


class CallBook:
    def __init__(self, *, secret: bytes, keep_ended_s: float = 600.0) -> None:
        self._secret = secret
        self._keep_ended_s = keep_ended_s
        self._calls: dict[str, TelnyxCall] = {}
        self._by_ccid: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def token(self, call_id: str) -> str:
        return stream_token(self._secret, call_id)

    def enter(self, call: TelnyxCall, *, now: float) -> TelnyxCall:
        self.prune(now)
        self._calls[call.call_id] = call
        if call.provider_call_id:
            self._by_ccid[call.provider_call_id] = call.call_id
        call.log.append((now, f"{call.direction} {call.caller} -> {call.callee}"))
        return call

    def get(self, call_id: str) -> TelnyxCall | None:
        return self._calls.get(call_id)

    def find(self, *, call_id: str, provider_call_id: str) -> TelnyxCall | None:
        """By our id (from ``client_state``) first, else by Telnyx's ``call_control_id``."""
        if call_id and call_id in self._calls:
            return self._calls[call_id]
        known = self._by_ccid.get(provider_call_id)
        return self._calls.get(known) if known else None

    def admit(
        self, *, call_id: str, provider_call_id: str, token: str, caller: str, callee: str,
        now: float,
    ) -> TelnyxCall | None:
        """The call a stream may carry, once; None when the token or the call says no."""
        if not call_id or not token or not hmac.compare_digest(
            token.encode(), self.token(call_id).encode()
        ):
            return None
        call = self._calls.get(call_id)
        if call is None:  # placed by another process (CLI, another instance): token suffices
            call = self.enter(
                TelnyxCall(call_id=call_id, provider_call_id=provider_call_id,
                           direction="outbound", caller=caller, callee=callee),
                now=now,
            )
        if call.streamed or call.ended_at is not None:
            return None
        if call.provider_call_id and provider_call_id and call.provider_call_id != provider_call_id:
            return None
        if not call.provider_call_id:
            call.provider_call_id = provider_call_id
            self._by_ccid[provider_call_id] = call_id
        call.streamed = True
        call.log.append((now, "stream admitted"))
        return call

    def ended(self, call: TelnyxCall, *, reason: str, now: float) -> None:
        if call.ended_at is None:
            call.ended_at = now
            call.status = reason
            call.log.append((now, f"ended: {reason}"))

    def prune(self, now: float) -> None:
        for call in list(self._calls.values()):
            if call.ended_at is not None and now - call.ended_at > self._keep_ended_s:
                del self._calls[call.call_id]
                self._by_ccid.pop(call.provider_call_id, None)
