"""Per-call media upkeep for the SIP driver, run from its once-a-second tick: RTCP reports
every ``RTCP_INTERVAL_S`` (RFC 3550 §6.2), the RTP watchdog (media timeout -> hang up), and
the RTCP figures as Prometheus metrics.

The watchdog covers every call, whatever its direction: RTP or RTCP from the peer is "alive"
(``leg.last_rx``). A call that expects RTP (sendrecv/recvonly on our side) ends after
``media_timeout_s`` without any; a held or one-way call (``inactive``, or a peer that only
receives) ends after ``held_timeout_s`` without RTP *and* RTCP: a peer on hold keeps sending
RTCP (RFC 3264 §5.1, RFC 3550 §6), a vanished one does not. An INVITE saying ``a=inactive``
therefore cannot hold a call slot forever. A call *we* hold (``leg.held``: music for a queued
caller, whose phone may send nothing back) is our choice and is not timed out here; session
timers and ``server.max_call_s`` still bound it. RTP the leg dropped (foreign source, oversized,
queue full) is counted in ``callport_sip_rtp_dropped_total``.

Metrics (``server.metrics``): for each report we send, the jitter and fraction lost we
measured on the RTP we receive, and the growth of its cumulative loss; for each report the
peer sends, the jitter and loss it measured on our RTP and, when a block echoes one of our
SRs, the round-trip time A - LSR - DLSR (§6.4.1).
"""

from __future__ import annotations

import logging

from callport.channels.sip.leg import SipLeg
from callport.channels.sip.rtcp import (
    ReceiverReport,
    RtcpEvent,
    SenderReport,
    jitter_seconds,
    ntp_timestamp,
    round_trip,
)
from callport.metrics import Metrics

log = logging.getLogger(__name__)

RTCP_INTERVAL_S = 5.0  # RFC 3550 §6.2 minimum; one media stream each way


class MediaWatch:
    def __init__(self, *, metrics: Metrics, media_timeout_s: float,
                 held_timeout_s: float = 120.0) -> None:
        self.metrics = metrics
        self.media_timeout_s = media_timeout_s
        self.held_timeout_s = held_timeout_s
        self._next_rtcp: dict[str, float] = {}
        self._lost: dict[str, int] = {}  # cumulative lost already counted, per leg
        self._dropped: dict[str, int] = {}  # RTP drops already counted, per leg

    def tick(self, leg: SipLeg, *, ringing: bool, now: float, wallclock: float) -> bool:
        """RTCP if due; True when the leg should hang up (no RTP for media_timeout_s)."""
        due = self._next_rtcp.get(leg.key)
        if due is None or now >= due:
            if due is not None:  # the first report waits one interval
                leg.send_rtcp(now, wallclock)
                self._observe_sent(leg)
            self._next_rtcp[leg.key] = now + RTCP_INTERVAL_S
        self._count_dropped(leg)
        if ringing:
            return False
        last = leg.last_rx if leg.last_rx is not None else leg.started_at
        if leg.expects_media():
            if now - last > self.media_timeout_s:
                log.info("SIP %s: no RTP for %.0f s, hanging up", leg.key, now - last)
                return True
        elif not leg.held and now - last > self.held_timeout_s:
            log.info("SIP %s: held/one-way and no RTP or RTCP for %.0f s, hanging up",
                     leg.key, now - last)
            return True
        return False

    def _count_dropped(self, leg: SipLeg) -> None:
        if leg.media is None:
            return
        total = leg.media.total_dropped()
        counted = self._dropped.get(leg.key, 0)
        if total > counted:
            self.metrics.sip_rtp_dropped.inc(total - counted)
            self._dropped[leg.key] = total

    def forget(self, key: str) -> None:
        self._next_rtcp.pop(key, None)
        self._lost.pop(key, None)
        self._dropped.pop(key, None)

    def _observe_sent(self, leg: SipLeg) -> None:
        block = leg.last_block
        if block is None:
            return
        m = self.metrics
        m.sip_rtcp_jitter_seconds.observe(jitter_seconds(block))
        m.sip_rtcp_fraction_lost.observe(block.fraction_lost / 256)
        counted = self._lost.get(leg.key, 0)
        if block.cumulative_lost > counted:
            m.sip_rtp_lost.inc(block.cumulative_lost - counted)
            self._lost[leg.key] = block.cumulative_lost

    def observe_received(self, leg: SipLeg, events: list[RtcpEvent], wallclock: float) -> None:
        """The peer's SR/RR blocks about our stream: its jitter, its loss, the RTT."""
        if leg.media is None:
            return
        ours = leg.media.sender.ssrc
        arrival = ntp_timestamp(wallclock)
        m = self.metrics
        for event in events:
            if not isinstance(event, SenderReport | ReceiverReport):
                continue
            for block in event.reports:
                if block.ssrc != ours:
                    continue
                m.sip_rtcp_remote_jitter_seconds.observe(jitter_seconds(block))
                m.sip_rtcp_remote_fraction_lost.observe(block.fraction_lost / 256)
                rtt = round_trip(block, arrival)
                if rtt is not None:
                    m.sip_rtt_seconds.observe(rtt)
