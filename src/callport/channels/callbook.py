"""The call book of a PSTN channel: its calls by our id and by the provider's call id.

Provider-neutral and pure (time is an argument). A channel enters a call when the provider
offers it (a webhook), when we place it, or when a stream for it is admitted with a valid
token (a call placed by ``callport call`` in another process, or by another instance behind
the load balancer). Provider callbacks (``CallEvent``s), not the media WebSocket, say when a
call has ended.

Stream admission is split in two so the book never branches on the provider:

- the provider module checks the token its stream presents (signature, expiry, binding to
  the provider's call id: Twilio signs the stream parameters, Telnyx our call id and the
  call_control_id, both with an expiry) and turns a good one into a ``StreamGrant``;
- ``CallBook.admit`` spends the grant's ``token_id`` once and admits one stream per call:
  never for an expired grant, a call that ended, that already streamed, or whose provider
  call id differs. Every grant expires, and a spent token is remembered until it does, so a
  token replayed after its call was pruned cannot enter that call again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from callport.channels.provider import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallRinging,
    MachineDetected,
    OtherCallback,
    StreamStopped,
)

__all__ = ["CallBook", "Direction", "ProviderCall", "StreamGrant", "describe"]

Direction = Literal["inbound", "outbound"]


@dataclass(slots=True, kw_only=True)
class ProviderCall:
    """One call as this process knows it (mutable: the book updates it)."""

    call_id: str  # ours
    provider: str  # "twilio", "telnyx", ...: the channel's name
    provider_call_id: str = ""  # Twilio CallSid, Telnyx call_control_id; "" until known
    direction: Direction = "inbound"
    caller: str = ""
    callee: str = ""
    status: str = "ringing"  # ringing, in-progress, or how it ended (completed, busy, ...)
    answered_by: str = ""  # answering-machine detection: human, machine_start, ...
    handoff: str | None = None  # a transfer target once one was requested
    streamed: bool = False  # a media stream was admitted for it
    ended_at: float | None = None
    log: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamGrant:
    """What a provider's token check vouches for: a stream may carry ``call_id``.

    ``token_id`` is what the book spends (once). ``expires_at`` (unix seconds, required:
    a token that never expires could be replayed once its call is forgotten) is when the
    token stops being valid; the book refuses it after that and remembers a spent token
    until then. ``direction``/``caller``/``callee`` describe a call the book does not know
    yet (placed by another process).
    """

    call_id: str
    token_id: str
    expires_at: float
    direction: Direction = "outbound"
    caller: str = ""
    callee: str = ""


@dataclass(slots=True)
class _Spent:
    call_id: str
    expires_at: float


class CallBook:
    """The calls one channel knows, by our id and by the provider's call id."""

    def __init__(self, *, provider: str, keep_ended_s: float = 600.0) -> None:
        self.provider = provider
        self._keep_ended_s = keep_ended_s
        self._calls: dict[str, ProviderCall] = {}
        self._by_provider_id: dict[str, str] = {}
        self._spent: dict[str, _Spent] = {}

    def __len__(self) -> int:
        return len(self._calls)

    # ---------------------------------------------------------------- records

    def new_call(
        self,
        *,
        call_id: str,
        provider_call_id: str = "",
        direction: Direction = "inbound",
        caller: str = "",
        callee: str = "",
        status: str = "ringing",
    ) -> ProviderCall:
        """A record for this book's provider (not entered yet: see ``enter``)."""
        return ProviderCall(
            call_id=call_id, provider=self.provider, provider_call_id=provider_call_id,
            direction=direction, caller=caller, callee=callee, status=status,
        )

    def enter(self, call: ProviderCall, *, now: float) -> ProviderCall:
        """Record a call; one already known under its id is kept (a retried webhook)."""
        self.prune(now)
        known = self._calls.get(call.call_id)
        if known is not None:
            return known
        self._calls[call.call_id] = call
        if call.provider_call_id:
            self._by_provider_id[call.provider_call_id] = call.call_id
        call.log.append((now, f"{call.direction} {call.caller} -> {call.callee}"))
        return call

    def bind(self, call_id: str, provider_call_id: str) -> ProviderCall | None:
        """Learn the provider's id of a call we placed."""
        call = self._calls.get(call_id)
        if call is None or not provider_call_id:
            return call
        call.provider_call_id = provider_call_id
        self._by_provider_id[provider_call_id] = call_id
        return call

    def get(self, call_id: str) -> ProviderCall | None:
        return self._calls.get(call_id)

    def by_provider_id(self, provider_call_id: str) -> ProviderCall | None:
        call_id = self._by_provider_id.get(provider_call_id)
        return self._calls.get(call_id) if call_id else None

    def find(self, *, call_id: str = "", provider_call_id: str = "") -> ProviderCall | None:
        """By our id (when the provider echoes it back) first, else by the provider's."""
        if call_id and call_id in self._calls:
            return self._calls[call_id]
        return self.by_provider_id(provider_call_id) if provider_call_id else None

    # ---------------------------------------------------------------- progress

    def apply(self, event: CallEvent, *, now: float) -> ProviderCall | None:
        """Record one provider callback on its call; returns the call (None if unknown).

        Only ``CallEnded`` ends a call; once ended, later callbacks are logged but no longer
        move its status (providers may deliver them out of order).
        """
        call = self.find(call_id=event.call_id, provider_call_id=event.provider_call_id)
        if call is None:
            return None
        match event:
            case CallRinging() if not call.ended:
                call.status = "ringing"
            case CallAnswered() if not call.ended:
                call.status = "in-progress"
            case CallEnded(reason=reason) if not call.ended:
                call.status = reason
                call.ended_at = now
            case MachineDetected(answered_by=answered_by):
                call.answered_by = answered_by
            case _:  # DtmfReceived, StreamStarted/Stopped, OtherCallback, late progress
                pass
        call.log.append((now, describe(event)))
        return call

    def ended(self, call: ProviderCall, *, reason: str, now: float) -> None:
        """We know the call is over although the provider has not said so (yet)."""
        if call.ended_at is None:
            call.ended_at = now
            call.status = reason
            call.log.append((now, f"ended: {reason}"))

    def handed_off(self, call: ProviderCall, target: str, *, now: float) -> None:
        call.handoff = target
        call.log.append((now, f"transfer to {target}"))

    # ---------------------------------------------------------------- streams

    def admit(
        self, grant: StreamGrant, *, provider_call_id: str, now: float
    ) -> ProviderCall | None:
        """The call a stream may carry, or None: an expired or spent token, an ended call, a
        call that already has its stream, or a call known under another provider call id."""
        self.prune(now)
        if not grant.call_id or not grant.token_id or grant.token_id in self._spent:
            return None
        if now > grant.expires_at:
            return None
        call = self._calls.get(grant.call_id)
        if call is None:  # placed by another process: the token suffices
            call = self.enter(
                self.new_call(
                    call_id=grant.call_id, provider_call_id=provider_call_id,
                    direction=grant.direction, caller=grant.caller, callee=grant.callee,
                    status="in-progress",
                ),
                now=now,
            )
        if call.streamed or call.ended:
            return None
        if call.provider_call_id and provider_call_id and call.provider_call_id != provider_call_id:
            return None
        self._spent[grant.token_id] = _Spent(call.call_id, grant.expires_at)
        if not call.provider_call_id:
            self.bind(call.call_id, provider_call_id)
        call.streamed = True
        if call.status == "ringing":  # media flows: the provider answered (Twilio's inbound
            call.status = "in-progress"  # calls send no in-progress callback)
        call.log.append((now, "stream admitted"))
        return call

    # ---------------------------------------------------------------- memory

    def prune(self, now: float) -> None:
        """Forget calls ended more than ``keep_ended_s`` ago, and spent tokens that have
        expired (the book refuses those anyway)."""
        for call in list(self._calls.values()):
            if call.ended_at is not None and now - call.ended_at > self._keep_ended_s:
                del self._calls[call.call_id]
                if self._by_provider_id.get(call.provider_call_id) == call.call_id:
                    del self._by_provider_id[call.provider_call_id]
        for token_id, spent in list(self._spent.items()):
            if now > spent.expires_at:
                del self._spent[token_id]


def describe(event: CallEvent) -> str:
    """One line for a call's log."""
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
