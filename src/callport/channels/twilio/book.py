"""The Twilio channel's call book: per-call records, spent stream tokens, handoffs.

Pure bookkeeping with time as an argument. A call is entered when Twilio asks the voice
webhook for TwiML (inbound), when we place it (outbound), or when its stream is admitted with
a valid token (a call placed by ``callport call`` in another process). Each stream token
(``callport.channels.twilio.tokens``) is spent once. Provider status callbacks, not the
WebSocket, decide when the call has ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from callport.channels.provider import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallRinging,
    DtmfReceived,
    MachineDetected,
    OtherCallback,
    StreamStarted,
    StreamStopped,
)

Direction = Literal["inbound", "outbound"]


@dataclass(slots=True, kw_only=True)
class TwilioCall:
    call_id: str
    provider_call_id: str
    direction: Direction
    caller: str = ""
    callee: str = ""
    status: str = "ringing"
    answered_by: str = ""
    handoff: str | None = None  # a transfer target once one was requested
    ended_at: float | None = None
    log: list[tuple[float, str]] = field(default_factory=list)


class CallBook:
    """Calls this process knows, by our id and by Twilio's CallSid."""

    def __init__(self, *, keep_ended_s: float = 600.0) -> None:
        self._keep_ended_s = keep_ended_s
        self._calls: dict[str, TwilioCall] = {}
        self._by_sid: dict[str, str] = {}
        self._spent: dict[str, float] = {}  # token -> expiry

    def __len__(self) -> int:
        return len(self._calls)

    def enter(self, call: TwilioCall, *, now: float) -> TwilioCall:
        """Record a call (again, if Twilio asks twice: the record is kept)."""
        self.prune(now)
        known = self._calls.get(call.call_id)
        if known is not None:
            return known
        self._calls[call.call_id] = call
        if call.provider_call_id:
            self._by_sid[call.provider_call_id] = call.call_id
        call.log.append((now, f"{call.direction} {call.caller} -> {call.callee}"))
        return call

    def bind(self, call_id: str, provider_call_id: str) -> None:
        """Learn the CallSid of a call we placed."""
        call = self._calls.get(call_id)
        if call is None:
            return
        call.provider_call_id = provider_call_id
        self._by_sid[provider_call_id] = call_id

    def spend(self, token: str, *, expires_at: float, now: float) -> bool:
        """True the first time a (valid) token is presented, False ever after."""
        self.prune(now)
        if token in self._spent:
            return False
        self._spent[token] = expires_at
        return True

    def get(self, call_id: str) -> TwilioCall | None:
        return self._calls.get(call_id)

    def by_sid(self, provider_call_id: str) -> TwilioCall | None:
        call_id = self._by_sid.get(provider_call_id)
        return self._calls.get(call_id) if call_id else None

    def apply(self, event: CallEvent, *, now: float) -> TwilioCall | None:
        """Record one provider callback on its call; returns the call (None if unknown)."""
        call = self.by_sid(event.provider_call_id)
        if call is None:
            return None
        match event:
            case CallRinging():
                call.status = "ringing"
            case CallAnswered():
                call.status = "in-progress"
            case CallEnded(reason=reason):
                call.status = reason
                call.ended_at = now
            case MachineDetected(answered_by=answered_by):
                call.answered_by = answered_by
            case StreamStarted() | StreamStopped() | DtmfReceived() | OtherCallback():
                pass
        call.log.append((now, _describe(event)))
        return call

    def prune(self, now: float) -> None:
        for token, expires_at in list(self._spent.items()):
            if now > expires_at:
                del self._spent[token]
        for call in list(self._calls.values()):
            if call.ended_at is not None and now - call.ended_at > self._keep_ended_s:
                del self._calls[call.call_id]
                self._by_sid.pop(call.provider_call_id, None)


def _describe(event: CallEvent) -> str:
    match event:
        case CallEnded(reason=reason, duration_s=duration):
            return f"ended: {reason}" + (f" after {duration:g} s" if duration is not None else "")
        case MachineDetected(answered_by=answered_by):
            return f"answered by {answered_by}"
        case StreamStopped(error=error) if error:
            return f"stream error: {error}"
        case OtherCallback(kind=kind):
            return f"callback: {kind}"
        case _:
            return type(event).__name__
