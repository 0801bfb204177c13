"""The Twilio channel's call book: per-call records, single-use stream tokens, handoffs.

Pure bookkeeping with time as an argument. A call is entered when Twilio asks the voice
webhook for TwiML (inbound) or when we place it (outbound); a random token minted then rides in
the stream's ``<Parameter>`` and admits exactly one media stream for that CallSid before it
expires. Provider status callbacks, not the WebSocket, decide when the call has ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True, slots=True)
class _Ticket:
    call_id: str
    provider_call_id: str  # "" for an outbound call whose sid we do not know yet
    expires_at: float


class CallBook:
    """Calls this process knows, by our id and by Twilio's CallSid."""

    def __init__(self, *, token_ttl_s: float = 120.0, keep_ended_s: float = 600.0) -> None:
        self._token_ttl_s = token_ttl_s
        self._keep_ended_s = keep_ended_s
        self._calls: dict[str, TwilioCall] = {}
        self._by_sid: dict[str, str] = {}
        self._tickets: dict[str, _Ticket] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def enter(self, call: TwilioCall, *, token: str, now: float) -> TwilioCall:
        """Record a call and the token its stream must present."""
        self.prune(now)
        self._calls[call.call_id] = call
        if call.provider_call_id:
            self._by_sid[call.provider_call_id] = call.call_id
        self._tickets[token] = _Ticket(call.call_id, call.provider_call_id, now + self._token_ttl_s)
        call.log.append((now, f"{call.direction} {call.caller} -> {call.callee}"))
        return call

    def bind(self, call_id: str, provider_call_id: str) -> None:
        """Learn the CallSid of a call we placed."""
        call = self._calls.get(call_id)
        if call is None:
            return
        call.provider_call_id = provider_call_id
        self._by_sid[provider_call_id] = call_id
        for token, ticket in list(self._tickets.items()):
            if ticket.call_id == call_id and not ticket.provider_call_id:
                self._tickets[token] = replace(ticket, provider_call_id=provider_call_id)

    def redeem(self, token: str, provider_call_id: str, *, now: float) -> TwilioCall | None:
        """The call a stream's token admits, once; None if unknown, used, expired or mismatched."""
        ticket = self._tickets.pop(token, None)
        if ticket is None or now > ticket.expires_at:
            return None
        if ticket.provider_call_id and ticket.provider_call_id != provider_call_id:
            return None
        call = self._calls.get(ticket.call_id)
        if call is None or call.ended_at is not None:
            return None
        if not call.provider_call_id:
            self.bind(call.call_id, provider_call_id)
        call.log.append((now, "stream admitted"))
        return call

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
                self._drop_tickets(call.call_id)
            case MachineDetected(answered_by=answered_by):
                call.answered_by = answered_by
            case StreamStarted() | StreamStopped() | DtmfReceived() | OtherCallback():
                pass
        call.log.append((now, _describe(event)))
        return call

    def prune(self, now: float) -> None:
        for token, ticket in list(self._tickets.items()):
            if now > ticket.expires_at:
                del self._tickets[token]
        for call in list(self._calls.values()):
            if call.ended_at is not None and now - call.ended_at > self._keep_ended_s:
                del self._calls[call.call_id]
                self._by_sid.pop(call.provider_call_id, None)

    def _drop_tickets(self, call_id: str) -> None:
        for token, ticket in list(self._tickets.items()):
            if ticket.call_id == call_id:
                del self._tickets[token]


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
