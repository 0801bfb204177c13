"""What the sans-IO SIP user agent reports to its driver (dispatched with ``match``)."""

from __future__ import annotations

from dataclasses import dataclass

from callport.channels.sip.sdp import MediaPlan

Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class SipEvent:
    """Base of the UA core's outputs."""


@dataclass(frozen=True, slots=True)
class Transmit(SipEvent):
    """Send ``data`` to ``addr`` (over the transport the message came in on)."""

    data: bytes
    addr: Addr


@dataclass(frozen=True, slots=True)
class IncomingCall(SipEvent):
    """A new INVITE passed checks; answer with ``UserAgent.answer`` or ``reject``.

    ``caller`` is the caller ID callport acts on (``trust.caller_identity``: the
    P-Asserted-Identity user from a trusted peer, else the From user; E.164 kept with its
    ``+``); ``trusted``: the source is inside ``sip.allow_from``; ``authenticated``: the
    digest user the INVITE authenticated as ("" when not challenged)."""

    key: str
    caller: str
    callee: str
    plan: MediaPlan | None  # None: INVITE without offer (we offer in the 200)
    source: Addr
    trusted: bool = False
    authenticated: str = ""


@dataclass(frozen=True, slots=True)
class CallProgress(SipEvent):
    """Outbound call got a provisional reply (183 with SDP carries an early media plan)."""

    key: str
    status: int
    plan: MediaPlan | None


@dataclass(frozen=True, slots=True)
class TargetFailed(SipEvent):
    """RFC 3263 §4.3: a target timed out (``status`` 408) or answered 503; the request went
    on to ``next_addr``. ``key`` is the dialog key, or ``reg:<aor>`` for a REGISTER."""

    key: str
    addr: Addr
    status: int
    next_addr: Addr


@dataclass(frozen=True, slots=True)
class CallAnswered(SipEvent):
    """Outbound call answered (2xx, ACK sent)."""

    key: str
    plan: MediaPlan


@dataclass(frozen=True, slots=True)
class CallConfirmed(SipEvent):
    """Inbound call: the ACK for our 2xx arrived (``plan`` set when the ACK carried the answer)."""

    key: str
    plan: MediaPlan | None


@dataclass(frozen=True, slots=True)
class MediaUpdated(SipEvent):
    """A re-INVITE changed the media (hold, resume, new address)."""

    key: str
    plan: MediaPlan


@dataclass(frozen=True, slots=True)
class ReofferDone(SipEvent):
    """Our re-INVITE (``UserAgent.reoffer``: hold ``sendonly``, resume ``sendrecv``) finished:
    ``status`` 2xx with the new ``plan``; 491 after the glare retries ran out; 408 / 481 (the
    dialog is ended with it); any other failure leaves the media as it was (RFC 3261 §14.1).
    ``status`` 0: no confirmed dialog to send it in."""

    key: str
    direction: str
    status: int
    plan: MediaPlan | None = None


@dataclass(frozen=True, slots=True)
class PeerHold(SipEvent):
    """The peer's re-INVITE held us (``a=sendonly`` / ``a=inactive`` / ``c=0.0.0.0``) or took
    us off hold again (``held=False``); sent after its ``MediaUpdated``, only on a change."""

    key: str
    held: bool


@dataclass(frozen=True, slots=True)
class CallEnded(SipEvent):
    """The call is over (BYE either way, CANCEL, failure, timeout). Always the last for ``key``."""

    key: str
    reason: str
    status: int = 0
    phrase: str = ""  # the reason phrase of a final failure response ("Channel limit")


@dataclass(frozen=True, slots=True)
class TransferRequested(SipEvent):
    """The peer sent REFER (we answered 202 and NOTIFYed 100 Trying); the driver follows it
    (``transferee``) and reports the outcome with ``notify_refer``."""

    key: str
    target: str


@dataclass(frozen=True, slots=True)
class AttendedTransferRequested(SipEvent):
    """The peer (a phone with two dialogs with us) sent REFER in ``key`` whose Refer-To
    Replaces our dialog ``replaced`` (RFC 5589 §7, RFC 3891); we answered 202 and NOTIFYed
    100. The driver joins the parties behind both dialogs, reports with ``notify_refer`` and
    ends both dialogs."""

    key: str
    replaced: str


@dataclass(frozen=True, slots=True)
class TransferResult(SipEvent):
    """Our REFER finished: NOTIFY carried a final ``status`` (2xx: we then sent BYE)."""

    key: str
    status: int


@dataclass(frozen=True, slots=True)
class DtmfInfo(SipEvent):
    """DTMF signalled with SIP INFO (application/dtmf-relay)."""

    key: str
    digit: str


@dataclass(frozen=True, slots=True)
class RegistrationChanged(SipEvent):
    """A REGISTER finished: ``state`` is registered / failed / unregistered."""

    aor: str
    state: str
    status: int
    expires: int = 0
