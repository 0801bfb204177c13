"""SIP session timers (RFC 4028) as a pure core: negotiation on an INVITE and one timer per
dialog, in the driver's time (``now`` in, deadlines out).

A call whose peer vanished without a BYE (crashed, NAT binding gone, a hostile source that
held with ``a=inactive`` and went quiet) is ended when the session is not refreshed in time:

- ``negotiate_uas`` reads the INVITE's ``Session-Expires`` / ``Min-SE`` / ``Supported``
  (§9): an interval below our ``Min-SE`` is answered ``422`` with our ``Min-SE`` (``TooSmall``);
  otherwise the interval is the smaller of the peer's and ours, and the refresher is the
  one the peer named, else the UAC when it supports ``timer``, else us (§9: a UAS may run
  the timer for a UAC that does not know the extension, as the refresher).
- ``SessionTimer`` says when to act (§10): the refresher refreshes at half the interval
  (re-INVITE or UPDATE, ``RefreshDue``); either side that saw no refresh ends the call
  (BYE, ``Expired``) at ``interval - min(32, interval / 3)`` after the last one. A refresh
  the peer answered 491 (Request Pending: its own re-INVITE or UPDATE crossed ours, RFC 3261
  §14.1) is sent again at ``retry_at`` (``retry(at)``), at most ``REFRESH_RETRIES`` times per
  refresh, never past the expiry.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SESSION_EXPIRES = 1800  # §4 recommends 1800 s
MIN_SE_FLOOR = 90  # §4: Min-SE MUST NOT be below 90 s
REFRESH_RETRIES = 3  # 491s answered to one refresh before it is left to expire


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerPolicy:
    """Our side's figures (``sip.session_expires_s``, ``sip.min_se_s``; 0 = no timers)."""

    session_expires: int = DEFAULT_SESSION_EXPIRES
    min_se: int = MIN_SE_FLOOR

    @property
    def enabled(self) -> bool:
        return self.session_expires > 0


@dataclass(frozen=True, slots=True)
class TooSmall:
    """Answer 422 Session Interval Too Small with ``Min-SE: min_se`` (§9)."""

    min_se: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    interval: int
    refresher: str  # "uac" or "uas"
    peer_supports: bool  # the UAC listed "timer" in Supported: our 2xx says Require: timer

    def response_headers(self) -> tuple[tuple[str, str], ...]:
        """What the 2xx carries (§9): the interval and refresher, Require only when the UAC
        supports the extension (else it would reject the answer)."""
        out: tuple[tuple[str, str], ...] = (
            ("Session-Expires", f"{self.interval};refresher={self.refresher}"),)
        if self.peer_supports:
            out += (("Require", "timer"),)
        return out


def parse_session_expires(value: str | None) -> tuple[int, str] | None:
    """``Session-Expires: 1800;refresher=uac`` -> (1800, "uac"); None when absent or bad."""
    if not value:
        return None
    head, *params = value.split(";")
    head = head.strip()
    if not head.isdigit() or len(head) > 9:
        return None
    refresher = ""
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "refresher" and val.strip().lower() in ("uac", "uas"):
            refresher = val.strip().lower()
    return int(head), refresher


def parse_min_se(value: str | None) -> int:
    head = (value or "").split(";")[0].strip()
    return int(head) if head.isdigit() and len(head) <= 9 else 0


def negotiate_uas(*, session_expires: str | None, min_se: str | None,
                  supported: list[str], policy: TimerPolicy) -> Negotiated | TooSmall | None:
    """An initial INVITE's timer (§9); None when timers are off on our side."""
    if not policy.enabled:
        return None
    peer_supports = "timer" in supported
    asked = parse_session_expires(session_expires)
    floor = max(policy.min_se, parse_min_se(min_se), MIN_SE_FLOOR)
    if asked is not None and asked[0] < policy.min_se:
        return TooSmall(max(policy.min_se, MIN_SE_FLOOR))
    interval = policy.session_expires if asked is None else min(asked[0], policy.session_expires)
    interval = max(interval, floor)
    refresher = asked[1] if asked is not None and asked[1] else ""
    if not refresher or (refresher == "uac" and not peer_supports):
        refresher = "uac" if peer_supports else "uas"
    return Negotiated(interval=interval, refresher=refresher, peer_supports=peer_supports)


@dataclass(frozen=True, slots=True)
class RefreshDue:
    """We are the refresher and half the interval has passed: send a refresh."""


@dataclass(frozen=True, slots=True)
class Expired:
    """No refresh in time: send BYE (§10)."""


class SessionTimer:
    """One dialog's session timer; ``refreshed(now)`` on every successful refresh."""

    def __init__(self, *, interval: int, we_refresh: bool, now: float) -> None:
        self.interval = interval
        self.we_refresh = we_refresh
        self.last = now
        self.pending = False  # our refresh is on its way (or waiting out a 491)
        self.refreshes = 0
        self.retry_at: float | None = None  # a 491'd refresh is sent again then
        self.retries = 0  # 491s to the refresh under way

    @property
    def expires_at(self) -> float:
        return self.last + self.interval - min(32.0, self.interval / 3)

    def deadline(self) -> float:
        if self.we_refresh and not self.pending:
            return self.last + self.interval / 2
        if self.retry_at is not None:
            return min(self.retry_at, self.expires_at)
        return self.expires_at

    def retry(self, at: float) -> bool:
        """The peer answered our refresh 491: send it again at ``at`` (True), or False when
        ``REFRESH_RETRIES`` are spent or ``at`` is past the expiry (the timer then expires)."""
        if self.retries >= REFRESH_RETRIES or at >= self.expires_at:
            return False
        self.retries += 1
        self.retry_at = at
        return True

    def refreshed(self, now: float, *, interval: int | None = None) -> None:
        self.last = now
        self.pending = False
        self.retry_at = None
        self.retries = 0
        self.refreshes += 1
        if interval is not None:
            self.interval = interval

    def due(self, now: float) -> RefreshDue | Expired | None:
        if now >= self.expires_at:
            return Expired()
        if self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None  # still pending: the refresh is under way again
            return RefreshDue()
        if self.we_refresh and not self.pending and now >= self.last + self.interval / 2:
            self.pending = True
            return RefreshDue()
        return None
