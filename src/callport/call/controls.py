"""What a leg answers when asked for a capability-gated control (transfer, DTMF, later hold).

A control a leg lacks, a target it cannot reach or a carrier that says no is not a crash: the
leg returns ``Refused`` with a typed ``Refusal``, and ``Call`` turns that into an apology for
the caller and an ``ActionRefused`` input for the agent. ``Accepted`` means the leg took the
request (a transfer then goes on with ``TransferStarted`` and ``HungUp("transferred")``).
Pure definitions, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Accepted", "Capability", "ControlResult", "Refusal", "Refused"]


class Capability(enum.Enum):
    """A control a leg may offer (``Leg.capabilities`` says which)."""

    TRANSFER = "transfer"
    HOLD = "hold"
    SEND_DTMF = "send_dtmf"


class Refusal(enum.Enum):
    """Why a control was not carried out."""

    UNSUPPORTED = "unsupported"  # the leg has no such control (a browser call has no transfer)
    BAD_TARGET = "bad-target"  # not a target this leg can reach (not tel:/sip:, malformed)
    ENDED = "ended"  # the call ended before the control could act
    FAILED = "failed"  # the carrier or the peer turned the request down


@dataclass(frozen=True, slots=True)
class ControlResult:
    """Base of what a leg's control methods return."""


@dataclass(frozen=True, slots=True)
class Accepted(ControlResult):
    """The leg took the request."""


@dataclass(frozen=True, slots=True)
class Refused(ControlResult):
    """The leg did not do ``control``: ``refusal`` says why, ``detail`` says more (for logs)."""

    control: Capability
    refusal: Refusal
    detail: str = ""
    code: int = 0  # the peer's or carrier's status when it said no (SIP 486, HTTP 400), else 0
