"""What a transfer ends in, as flows and agents see it (pure definitions, no I/O).

``call.transfer_blind(target)`` and ``call.transfer_warm(target)`` (``callport.call.call``)
return a ``TransferResult``; an agent's ``TransferCall(target, warm=...)`` ends the same way,
and when it did not go through the agent gets ``ActionRefused(..., transfer=result)`` after the
caller heard ``result.apology``. The work itself (REFER, a provider's call update, dialling
the person and bridging, the warm hand-over) is ``callport.flows.transfer.Transfers``, wired
in by the runtime as ``call.transfers`` (the ``Transferrer`` protocol below): the call layer
only knows the shape of the answer.

Outcomes:

- ``ANSWERED``: the person took the call (a REFER whose NOTIFY said 2xx, or a bridge through
  callport: then the result comes back once the bridge has ended);
- ``HANDED_OFF``: the carrier took the call over (Twilio/Telnyx call update): it dials now and
  the call has left callport, so its outcome is the carrier's;
- ``BUSY`` / ``NO_ANSWER`` / ``DECLINED``: the person did not take it (busy, ringing out, a
  warm transfer turned down with key 2, "no" or a hang-up);
- ``FAILED``: anything else; ``cause`` (``callport.call.dial.DialCause``) and the provider's
  ``sip_status`` / ``http_status`` / ``provider_code`` say what happened.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from callport.call.controls import Capability, Refusal, Refused
from callport.call.dial import DialCause, DialFailed

if TYPE_CHECKING:
    from callport.call.call import Call

__all__ = ["How", "TransferOutcome", "TransferResult", "Transferrer"]


class TransferOutcome(enum.Enum):
    ANSWERED = "answered"
    HANDED_OFF = "handed-off"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    DECLINED = "declined"
    FAILED = "failed"


How = Literal["refer", "provider", "bridge", "none"]

_OF_CAUSE = {DialCause.BUSY: TransferOutcome.BUSY, DialCause.NO_ANSWER: TransferOutcome.NO_ANSWER,
             DialCause.REJECTED: TransferOutcome.DECLINED}

APOLOGIES = {
    TransferOutcome.BUSY: "That line is busy right now. I'm still here.",
    TransferOutcome.NO_ANSWER: "Nobody picked up. I'm still here.",
    TransferOutcome.DECLINED: "They couldn't take the call right now. I'm still here.",
    TransferOutcome.FAILED: "Sorry, I couldn't put you through. I'm still here.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferResult:
    """How a transfer to ``target`` ended (see the module docstring)."""

    target: str
    outcome: TransferOutcome
    how: How = "none"
    warm: bool = False
    cause: DialCause | None = None
    detail: str = ""
    sip_status: int = 0
    http_status: int = 0
    provider_code: str = ""

    @property
    def ok(self) -> bool:
        """The call went to the person (or the carrier took it): it is over for the agent."""
        return self.outcome in (TransferOutcome.ANSWERED, TransferOutcome.HANDED_OFF)

    @property
    def apology(self) -> str:
        """What the caller hears when it did not go through (they stay with the agent)."""
        return APOLOGIES.get(self.outcome, "")

    def refused(self) -> Refused:
        """The same answer as a control refusal (what ``ActionRefused`` carries)."""
        refusal = Refusal.BAD_TARGET if self.cause is DialCause.BAD_TARGET else Refusal.FAILED
        if self.cause is DialCause.NOT_CONFIGURED:
            refusal = Refusal.UNSUPPORTED
        return Refused(Capability.TRANSFER, refusal, self.describe(),
                       code=self.sip_status or self.http_status)

    def describe(self) -> str:
        text = f"transfer to {self.target}: {self.outcome.value}"
        if self.cause is not None and self.cause.value != self.outcome.value:
            text += f" ({self.cause.value})"
        codes = [f"SIP {self.sip_status}" if self.sip_status else "",
                 f"HTTP {self.http_status}" if self.http_status else "",
                 f"code {self.provider_code}" if self.provider_code else ""]
        extra = ", ".join(c for c in codes if c)
        if self.detail:
            text += f": {self.detail}"
        return f"{text} [{extra}]" if extra else text

    @classmethod
    def of_failure(cls, target: str, failed: DialFailed, *, how: How,
                   warm: bool = False) -> TransferResult:
        """A dial that did not reach the person, with the carrier's cause kept."""
        return cls(target=target, outcome=_OF_CAUSE.get(failed.cause, TransferOutcome.FAILED),
                   how=how, warm=warm, cause=failed.cause, detail=failed.detail,
                   sip_status=failed.sip_status, http_status=failed.http_status,
                   provider_code=failed.provider_code)


class Transferrer(Protocol):
    """Carries out transfers for a call (``callport.flows.transfer.Transfers``)."""

    async def transfer(self, call: Call, target: str, *, warm: bool = False,
                       summary: str | None = None) -> TransferResult: ...
