"""The neutral outbound protocol: ``Dialer.dial(target, caller_id, options) -> DialResult``.

Every carrier (Twilio, Telnyx, a SIP trunk) implements ``Dialer``; the CLI (``callport call``),
the API (``POST /api/calls``) and flows place calls through it and never branch on the carrier.
It lives in the call layer, not in channels, so that ``callport.routing`` (one layer below
channels) can wrap several Dialers (least cost, failover, health) and be a ``Dialer`` itself
without importing any channel.

A dial ends in one of three frozen results:

- ``Answered``: the callee picked up and the call now runs its flow/agent through the
  runtime (the channel that owns the media starts it). ``leg`` is the answered ``Leg`` when
  this process holds the media (SIP); for Twilio/Telnyx the media stream reaches the server's
  media route, so ``leg`` is None and ``call_id`` names the call there.
- ``Placed``: the carrier accepted the call and its outcome arrives later (asked for with
  ``DialOptions(until="placed")``, as the HTTP endpoints do, or when a process cannot observe
  the outcome, e.g. ``callport call --via telnyx`` outside the server).
- ``DialFailed``: a typed ``DialCause`` with what the carrier said: ``sip_status`` (486, 503,
  ...), ``http_status`` (401, 500 of a REST API), ``provider_code`` (Twilio 21211, Telnyx
  ``user_busy``), a human ``detail``, and ``early_media`` when the callee side had already
  sent early media (SIP 183 with SDP) or rung before failing.

Failover reads three properties of a failure: ``carrier_trouble`` (unreachable, carrier
error, auth error, timeout, not configured: another carrier may do better), ``callee_said_no``
(busy, no answer, rejected, canceled: another carrier would ring the same person again), and
``early_media`` (the caller may have heard something: do not try again elsewhere);
``may_fail_over`` combines them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, Protocol

from callport.call.leg import Leg
from callport.types import CallInfo

__all__ = [
    "Answered",
    "DialCause",
    "DialFailed",
    "DialOptions",
    "DialResult",
    "Dialer",
    "Placed",
    "cause_of_ending",
    "cause_of_http",
    "cause_of_sip",
]


class DialCause(enum.Enum):
    BUSY = "busy"  # SIP 486/600, Twilio "busy", Telnyx user_busy
    NO_ANSWER = "no-answer"  # rang, nobody picked up (SIP 480, Twilio/Telnyx no-answer, our timer)
    REJECTED = "rejected"  # declined (SIP 603/403 from the callee, Telnyx call_rejected)
    CANCELED = "canceled"  # we (or the caller) gave up first (SIP 487, Twilio "canceled")
    BAD_TARGET = "bad-target"  # not a number/URI we can dial (SIP 404/484, HTTP 400/422)
    UNREACHABLE = "unreachable"  # no route, DNS, connection refused, every address tried
    CARRIER_ERROR = "carrier-error"  # SIP 5xx, HTTP 5xx/429, Twilio "failed"
    AUTH_ERROR = "auth-error"  # HTTP 401/403, SIP 401/407 after our credentials
    TIMEOUT = "timeout"  # the carrier did not answer our request in time (SIP 408 Timer B)
    NOT_CONFIGURED = "not-configured"  # credentials or URLs missing here: nothing was sent


CARRIER_TROUBLE = frozenset({DialCause.UNREACHABLE, DialCause.CARRIER_ERROR,
                             DialCause.AUTH_ERROR, DialCause.TIMEOUT, DialCause.NOT_CONFIGURED})
CALLEE_SAID_NO = frozenset({DialCause.BUSY, DialCause.NO_ANSWER, DialCause.REJECTED,
                            DialCause.CANCELED})


@dataclass(frozen=True, slots=True, kw_only=True)
class DialOptions:
    """How to dial. ``timeout_s``: ring time before giving up (no-answer).
    ``until="placed"`` returns as soon as the carrier accepted the call."""

    timeout_s: float = 30.0
    until: Literal["answered", "placed"] = "answered"
    machine_detection: bool = True  # asynchronous answering-machine detection, where offered


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    carrier: str
    call_id: str  # ours: the call's id in the runtime and the call store
    provider_call_id: str = ""  # CallSid, call_control_id, SIP Call-ID
    info: CallInfo | None = None
    leg: Leg | None = None  # held by this process (SIP); None when streamed to the server


@dataclass(frozen=True, slots=True, kw_only=True)
class Placed:
    carrier: str
    call_id: str
    provider_call_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialFailed:
    carrier: str
    cause: DialCause
    detail: str = ""
    sip_status: int = 0
    http_status: int = 0
    provider_code: str = ""
    early_media: bool = False
    call_id: str = ""  # when a call record was made for it

    @property
    def carrier_trouble(self) -> bool:
        return self.cause in CARRIER_TROUBLE

    @property
    def callee_said_no(self) -> bool:
        return self.cause in CALLEE_SAID_NO

    @property
    def may_fail_over(self) -> bool:
        """Another carrier may be tried: the trouble was the carrier's, nobody heard a thing."""
        return self.carrier_trouble and not self.early_media

    def describe(self) -> str:
        codes = [f"SIP {self.sip_status}" if self.sip_status else "",
                 f"HTTP {self.http_status}" if self.http_status else "",
                 f"code {self.provider_code}" if self.provider_code else ""]
        extra = ", ".join(c for c in codes if c)
        text = f"{self.carrier}: {self.cause.value}"
        if self.detail:
            text += f": {self.detail}"
        return f"{text} ({extra})" if extra else text


DialResult = Answered | Placed | DialFailed


class Dialer(Protocol):
    """One way to place calls. A routing wrapper over several Dialers is a Dialer too."""

    @property
    def name(self) -> str:
        """The carrier's name (``twilio``, ``telnyx``, ``sip``, a route's name)."""
        ...

    async def dial(
        self, target: str, caller_id: str = "", options: DialOptions | None = None
    ) -> DialResult:
        """Call ``target`` (``tel:+1...``, ``+1...``, ``sip:...``) from ``caller_id`` ("" = the
        carrier's default number). Never raises for what the carrier or callee did."""
        ...


def cause_of_sip(status: int) -> DialCause:
    """The cause a SIP final response (RFC 3261 §21; 0 = no response at all) stands for."""
    if status in (486, 600):
        return DialCause.BUSY
    if status == 480:  # Temporarily Unavailable: nobody answered (or the phone is off)
        return DialCause.NO_ANSWER
    if status in (603, 607, 608):
        return DialCause.REJECTED
    if status == 487:
        return DialCause.CANCELED
    if status in (401, 407):
        return DialCause.AUTH_ERROR
    if status == 408:
        return DialCause.TIMEOUT
    if status in (404, 410, 484, 485, 604):
        return DialCause.BAD_TARGET
    if status == 403:
        return DialCause.REJECTED
    if status == 0:
        return DialCause.UNREACHABLE
    if status >= 500:
        return DialCause.CARRIER_ERROR
    return DialCause.CARRIER_ERROR if status >= 400 else DialCause.UNREACHABLE


def cause_of_http(status: int) -> DialCause:
    """The cause a carrier REST API's refusal stands for (0 = it could not be reached)."""
    if status == 0:
        return DialCause.UNREACHABLE
    if status in (401, 403):
        return DialCause.AUTH_ERROR
    if status in (408, 504):
        return DialCause.TIMEOUT
    if status in (400, 404, 422):
        return DialCause.BAD_TARGET
    return DialCause.CARRIER_ERROR


def cause_of_ending(reason: str) -> DialCause:
    """The cause an unanswered call's ending (the providers' shared ``CallEnded.reason``
    words: busy, no-answer, failed, canceled, ...) stands for."""
    return {
        "busy": DialCause.BUSY,
        "no-answer": DialCause.NO_ANSWER,
        "canceled": DialCause.CANCELED,
        "rejected": DialCause.REJECTED,
        "failed": DialCause.CARRIER_ERROR,
    }.get(reason, DialCause.CARRIER_ERROR)
