"""Following a REFER we received: callport as the transferee (RFC 3515 §2.4.4, RFC 5589 §6).

The core has already answered the REFER 202 and sent NOTIFY ``100 Trying``. ``follow`` then
places an INVITE to the Refer-To target by the same rules as ``dial`` (trunk, transport,
RFC 3263 failover), offering the leg's own RTP port, so nothing about the media sockets
changes. When the new call is answered, the leg (and the session running on it) moves to
the new dialog (its key and the remote media address), the final NOTIFY says ``200 OK``,
and we BYE the original dialog. When the new call fails, the final NOTIFY carries its status
and the original call goes on as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from callport.channels.sip.calls import CallFailed, SipCall
from callport.channels.sip.dialer import Dialer
from callport.channels.sip.events import SipEvent
from callport.channels.sip.sdp import MediaPlan
from callport.channels.sip.useragent import UserAgent

log = logging.getLogger(__name__)

REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
           480: "Temporarily Unavailable", 486: "Busy Here", 487: "Request Terminated",
           503: "Service Unavailable", 603: "Decline"}


class TransferHost(Protocol):
    """What the follower needs of the channel driver."""

    calls: dict[str, SipCall]

    def now(self) -> float: ...

    def apply(self, events: list[SipEvent], ua: UserAgent | None = None) -> None: ...

    def ua_for(self, key: str) -> UserAgent: ...


class ReferFollower:
    def __init__(self, *, host: TransferHost, dialer: Dialer,
                 answer_timeout: float = 30.0) -> None:
        self.host = host
        self.dialer = dialer
        self.answer_timeout = answer_timeout
        self._pending: dict[str, asyncio.Future[MediaPlan]] = {}  # follow-up key -> answer

    # ---- called by the channel for events of follow-up dialogs (no SipCall of their own) --
    def answered(self, key: str, plan: MediaPlan) -> bool:
        future = self._pending.get(key)
        if future is None:
            return False
        if not future.done():
            future.set_result(plan)
        return True

    def ended(self, key: str, reason: str, status: int) -> bool:
        future = self._pending.get(key)
        if future is None:
            return False
        if not future.done():
            future.set_exception(CallFailed(status or 500, reason))
        return True

    # ---- the transfer ------------------------------------------------------------------------
    async def follow(self, key: str, target: str) -> None:
        host = self.host
        call = host.calls.get(key)
        if call is None:
            return
        log.info("SIP %s: peer asked us to transfer to %s; following", key, target)
        try:
            plan, new_key, new_ua = await self._invite(call, target)
        except CallFailed as exc:
            log.info("SIP %s: transfer to %s failed (%d)", key, target, exc.status)
            self._notify(key, exc.status or 404)  # 0: the target could not be routed
            return
        if key not in host.calls:  # the original call ended while the new one rang
            new_ua_events = new_ua.hangup(new_key, host.now(), reason="transfer-abandoned")
            host.apply(new_ua_events, new_ua)
            return
        self._move(call, new_key, plan)
        self._notify(key, 200)
        old_ua = host.ua_for(key)
        host.apply(old_ua.hangup(key, host.now(), reason="transferred"), old_ua)
        log.info("SIP %s: transferred to %s as %s", key, target, new_key)

    async def _invite(self, call: SipCall, target: str) -> tuple[MediaPlan, str, UserAgent]:
        host = self.host
        route = await self.dialer.route(target)
        new_key, ua, events = self.dialer.invite(route, call.leg.rtp_port)
        future: asyncio.Future[MediaPlan] = asyncio.get_running_loop().create_future()
        self._pending[new_key] = future
        try:
            host.apply(events, ua)
            plan = await asyncio.wait_for(asyncio.shield(future), self.answer_timeout)
        except TimeoutError:
            host.apply(ua.hangup(new_key, host.now(), reason="no-answer"), ua)
            raise CallFailed(408, "no answer") from None
        finally:
            self._pending.pop(new_key, None)
        return plan, new_key, ua

    def _move(self, call: SipCall, new_key: str, plan: MediaPlan) -> None:
        """The leg and its session now belong to the new dialog."""
        host = self.host
        host.calls.pop(call.key, None)
        call.key = new_key
        call.leg.key = new_key
        call.leg.rtcp_remote = None
        call.leg.set_plan(plan)
        host.calls[new_key] = call

    def _notify(self, key: str, status: int) -> None:
        ua = self.host.ua_for(key)
        reason = REASONS.get(status, "Failed")
        self.host.apply(ua.notify_refer(key, status, reason, self.host.now()), ua)
