"""Which dial failures fail over to the next carrier, and what each one means for the record.

A carrier's trouble fails over: HTTP 5xx and 429, timeouts, connection errors, authentication
errors (HTTP 401/403, SIP 401/407 still refused after our credentials), SIP 408 and 5xx, and a
SIP 403 whose reason names a channel/concurrency limit. The callee's answer never does: 486 and
600 (busy), 480 (unavailable), 404/410/484/604 (no such number), 603 (declined), 487 (we
cancelled), no answer. And nothing fails over once the callee was alerted (180 ringing or 183
early media): whatever went wrong after that, a second carrier would ring the same phone again
(jambonz/sbc-outbound#198 is that bug).

``Failure`` is the provider-neutral description a dialer's failure is mapped to; ``judge``
returns the ``Verdict``: fail over or not, the call's disposition and a short cause text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Failure", "FailureKind", "Verdict", "judge"]

FailureKind = Literal["sip", "http", "timeout", "connection", "no-answer", "canceled", "refused"]

_LIMIT_WORDS = ("channel limit", "channels limit", "concurrent", "call limit", "capacity",
                "too many calls", "max calls")


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    kind: FailureKind
    status: int = 0  # the SIP final response or HTTP status; 0 when there was none
    reason: str = ""  # the provider's own words (SIP reason phrase, API error message)
    alerted: bool = False  # the callee's phone rang (180) or played early media (183)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    fail_over: bool
    disposition: str  # busy, no-answer, declined, invalid-number, unavailable, canceled, failed
    cause: str  # e.g. "sip 503 Service Unavailable", "http 500", "timeout"

    @property
    def carrier_trouble(self) -> bool:
        """The carrier is to blame (its circuit breaker counts it)."""
        return self.fail_over


def _callee(status: int) -> str | None:
    if status in (486, 600):
        return "busy"
    if status == 480:
        return "unavailable"
    if status in (404, 410, 484, 604):
        return "invalid-number"
    if status == 603:
        return "declined"
    if status == 487:
        return "canceled"
    return None


def _text(failure: Failure) -> str:
    head = failure.kind if not failure.status else f"{failure.kind} {failure.status}"
    return f"{head} {failure.reason}".strip()


def judge(failure: Failure) -> Verdict:
    """Fail over or not (module docstring), with the disposition the call gets if not."""
    cause = _text(failure)
    trouble = _carrier_trouble(failure)
    if failure.kind == "sip":
        disposition = _callee(failure.status) or "failed"
    elif failure.kind in ("no-answer", "canceled"):
        disposition = failure.kind
    else:
        disposition = "failed"
    if failure.alerted and failure.kind == "timeout":
        disposition = "no-answer"  # it rang until the ring timeout: the callee did not answer
    return Verdict(fail_over=trouble and not failure.alerted, disposition=disposition,
                   cause=cause)


def _carrier_trouble(failure: Failure) -> bool:
    status = failure.status
    match failure.kind:
        case "timeout" | "connection":
            return True
        case "http":
            return status >= 500 or status in (401, 403, 429) or status == 0
        case "sip":
            if _callee(status) is not None:
                return False
            if status == 403:
                reason = failure.reason.lower()
                return any(word in reason for word in _LIMIT_WORDS)
            return status in (0, 401, 407, 408) or 500 <= status < 600
        case _:
            return False
