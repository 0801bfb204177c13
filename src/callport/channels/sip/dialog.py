"""SIP dialogs (RFC 3261 §12): identifiers, CSeq, route set, remote target; in-dialog requests.

A ``Dialog`` also carries the per-call session state the UA needs (the SDP offer/answer
state and the INVITE transaction that created it), so one object describes one call.
"""

from __future__ import annotations

import enum
import random
import secrets
from dataclasses import dataclass, field

from callport.channels.sip.message import NameAddr, SipParseError, SipRequest, SipUri
from callport.channels.sip.sdp import MediaPlan, SessionDescription
from callport.channels.sip.session_timer import Negotiated, SessionTimer
from callport.channels.sip.transaction import ClientInviteTransaction, ServerInviteTransaction

Addr = tuple[str, int]


class DialogState(enum.Enum):
    EARLY = "early"  # INVITE seen/sent, no final 2xx yet
    ANSWERED = "answered"  # 2xx sent, waiting for ACK (UAS)
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


def new_tag() -> str:
    return secrets.token_hex(5)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def is_ip(host: str) -> bool:
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def target_addr(uri: str, fallback: Addr) -> Addr:
    """Where to send a request for ``uri`` (loose routing); ``fallback`` for names we can't use."""
    try:
        parsed = SipUri.parse(uri)
    except SipParseError:
        return fallback
    if parsed.scheme == "tel" or not is_ip(parsed.host):
        return fallback
    return parsed.host, parsed.port or 5060


@dataclass(slots=True, kw_only=True)
class Dialog:
    key: str
    role: str  # "uas" or "uac"
    call_id: str
    local_tag: str
    local: str  # our From/To value without tag, e.g. <sip:bot@1.2.3.4>
    remote: str  # their From/To value (with their tag once known)
    remote_target: str  # Contact URI of the peer
    peer: Addr  # where requests go when the route set / target gives no IP
    fallbacks: list[Addr] = field(default_factory=list)  # RFC 3263 targets still to try
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int = 0
    state: DialogState = DialogState.EARLY
    invite: SipRequest | None = None
    server_tx: ServerInviteTransaction | None = None
    client_tx: ClientInviteTransaction | None = None
    offer: SessionDescription | None = None
    plan: MediaPlan | None = None
    media_host: str = ""
    media_port: int = 0
    sdp_session: int = 0
    sdp_version: int = 1
    ack: bytes | None = None  # last 2xx ACK we sent (re-sent on 2xx retransmissions)
    auth_tries: int = 0
    refer_pending: bool = False
    credentials: tuple[str, str] | None = None
    # Who the peer is (UAS dialogs): its INVITE came from inside sip.allow_from, and/or the
    # digest user it authenticated as. A REFER is followed only when one of them holds.
    trusted: bool = False
    authenticated: str = ""
    # Hold (RFC 3264 §8.4): the direction we want (``sendonly`` while we hold the peer; our
    # answers to the peer's offers are narrowed to it), whether the peer holds us (its last
    # offer was sendonly/inactive), our re-INVITE in flight (a peer's re-INVITE meanwhile is
    # glare: 491, RFC 3261 §14.2) and the peer's re-INVITE whose 2xx awaits its ACK.
    local_direction: str = "sendrecv"
    peer_held: bool = False
    reoffer_pending: bool = False
    peer_reinvite: ServerInviteTransaction | None = None
    # RFC 4028 session timer: what was negotiated on the INVITE, the running timer (from the
    # 2xx on), and whether the peer takes UPDATE (our refreshes use it, else a re-INVITE).
    timer_plan: Negotiated | None = None
    session_timer: SessionTimer | None = None
    peer_allows_update: bool = False

    @property
    def admitted_peer(self) -> bool:
        """The peer is in sip.allow_from or digest-authenticated (may steer our requests)."""
        return self.trusted or bool(self.authenticated)

    @property
    def remote_tag(self) -> str:
        return NameAddr.parse(self.remote).tag

    def next_hop(self) -> Addr:
        """Where in-dialog requests go: the route set / remote target (RFC 3261 §12.2.1.1);
        for an inbound call from a peer that is neither trusted nor authenticated, always
        the address its INVITE came from: a Record-Route or Contact naming another host does
        not make callport send requests (or open TCP connections) there."""
        if self.role == "uas" and not self.admitted_peer:
            return self.peer
        if self.route_set:
            return target_addr(NameAddr.parse(self.route_set[0]).uri, self.peer)
        return self.peer if self.role == "uas" else target_addr(self.remote_target, self.peer)

    def glare_wait(self, rng: random.Random) -> float:
        """RFC 3261 §14.1: after a 491 the Call-ID's owner (the dialog's UAC) retries after
        2.1-4 s, the other side after 0-2 s (10 ms steps)."""
        low, high = (210, 400) if self.role == "uac" else (0, 200)
        return rng.randint(low, high) / 100

    def request(self, method: str, *, via: str, contact: str,
                extra: tuple[tuple[str, str], ...] = (), body: bytes = b"",
                cseq: int | None = None) -> SipRequest:
        """§12.2.1.1: Request-URI = remote target, Route = route set, From/To by role."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        local = str(NameAddr.parse(self.local).with_tag(self.local_tag))
        headers: list[tuple[str, str]] = [("Via", via), ("Max-Forwards", "70")]
        headers += [("Route", r) for r in self.route_set]
        headers += [("From", local), ("To", self.remote), ("Call-ID", self.call_id),
                    ("CSeq", f"{cseq} {method}"), ("Contact", contact)]
        headers += list(extra)
        return SipRequest(method=method, uri=self.remote_target, headers=tuple(headers),
                          body=body)
