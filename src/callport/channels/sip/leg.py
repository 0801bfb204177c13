"""SipLeg: a SIP call as a Leg (PCM16 at 8 kHz, 20 ms frames, RTP G.711 underneath).

RTP has no remote playout buffer, so ``lead_ms`` is 0: the session paces frames in real
time, each ``send_audio`` goes out at once, and a mark is ``played`` as soon as it is
reached (every frame before it has been transmitted); marks follow
``callport.call.marks.MarkBook``. ``clear()`` has nothing remote to drop. ``transfer`` is a blind
REFER; the leg ends when the peer's NOTIFY reports success. With ``refer_wait_s`` set (the
channel does) ``transfer`` answers only once the REFER finished: ``Accepted`` on a 2xx NOTIFY,
``Refused(FAILED, code=status)`` when the peer refused the REFER or the target said no (486).
``hold`` is a re-INVITE offering ``a=sendonly`` (RFC 3264 §8.4, RFC 6337 §5.3), ``resume`` one
offering ``a=sendrecv`` (``ua_hold``); each answers once the peer did: ``Accepted`` on its 2xx
(then ``HoldChanged``), ``Refused(FAILED, code=status)`` when it refused (488, 491 after the
glare retries), ``Refused(ENDED)`` when the dialog went. While held the caller's audio does not
reach the session (its RTP, if any, is dropped at the inbox) and our RTP keeps flowing: the
session's hold music is what the held party hears. The peer holding us (its re-INVITE
``sendonly`` / ``inactive``) comes as ``HeldByPeer``; its audio (its own music) is dropped
too, and no RTP is expected from it meanwhile (``expects_media``).
RTCP (RFC 3550 §6) runs on the RTP port + 1: the driver calls ``rtcp_report`` every ~5 s
(compound SR or RR + SDES) and feeds what arrives to ``on_rtcp``, which keeps the peer's
latest reports in ``peer_reports``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol

from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.events import (
    PCM16,
    AudioIn,
    Dtmf,
    HeldByPeer,
    HoldChanged,
    HungUp,
    LegEvent,
    TransferStarted,
)
from callport.call.inbox import EventInbox
from callport.channels.sip.media import MediaStream
from callport.channels.sip.rtcp import (
    Goodbye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    RtcpEvent,
    SenderReport,
    build_rr,
    build_sdes,
    build_sr,
    ntp_timestamp,
    parse_compound,
)
from callport.channels.sip.rtp import is_rtcp
from callport.channels.sip.sdp import MediaPlan

log = logging.getLogger(__name__)

Addr = tuple[str, int]


# Caller frames (30 s, ~1 MB) queued for the session before new ones drop: a session busy
# for seconds (a slow machine, speech models loading) loses nothing, a flood stays bounded.
MAX_PENDING_AUDIO = 1500
REOFFER_WAIT_S = 40.0  # a re-INVITE's outcome: Timer B (32 s) plus glare retries, bounded

HOLD_DIRECTION = {True: "sendonly", False: "sendrecv"}  # what our re-INVITE offers


class CallControl(Protocol):
    """What the leg asks of its channel driver (the SIP signalling side)."""

    def reoffer_call(self, key: str, direction: str) -> bool:
        """Send a re-INVITE offering ``direction``; its outcome comes to ``reoffer_done``
        (possibly before this returns). False: no dialog to send it in."""
        ...

    def hangup_call(self, key: str, reason: str) -> None: ...

    def refer_call(self, key: str, target: str) -> bool: ...


class SipLeg:
    def __init__(self, *, key: str, call_id: str, control: CallControl,
                 transport: asyncio.DatagramTransport, rtp_port: int,
                 plan: MediaPlan | None, now: float, rtp_latch: str = "sdp",
                 rtp_source: str | None = None, rtp_peer: str | None = None) -> None:
        self.key = key
        # Whose RTP is accepted (MediaStream): sip.rtp_latch, or only the INVITE's source IP
        # (``rtp_source``) for a peer that is neither trusted nor authenticated; ``rtp_peer``:
        # the signalling peer's host, whose RTP counts as the SDP's (symmetric RTP, NAT).
        self.rtp_latch = rtp_latch
        self.rtp_source = rtp_source
        self.rtp_peer = rtp_peer
        self._call_id = call_id
        self._control = control
        self._transport = transport
        self.rtp_port = rtp_port
        self._inbox = EventInbox()
        self.media = (MediaStream(plan=plan, latch=rtp_latch, source_host=rtp_source,
                                  peer_host=rtp_peer) if plan is not None else None)
        self.started_at = now
        self.last_rx: float | None = None
        self.frames_out = 0
        self.hangup_reason: str | None = None
        self.rtcp_transport: asyncio.DatagramTransport | None = None
        self.rtcp_remote: Addr | None = None  # latched from the peer's RTCP, else RTP + 1
        self.rx_stats = ReceptionStats()
        self.peer_reports: deque[RtcpEvent] = deque(maxlen=16)
        self.rtcp_errors = 0
        self.rtcp_sent = 0
        self.last_block: ReportBlock | None = None  # our latest report on what we receive
        # > 0: ``transfer`` waits up to this long for the REFER's outcome (the final NOTIFY's
        # sipfrag or the REFER's error, ``refer_done``) before it answers; the channel sets it.
        self.refer_wait_s = 0.0
        self._refer: asyncio.Future[int] | None = None
        self._refer_target = ""
        self._held = False  # we hold the peer (sendonly answered)
        self._peer_held = False  # the peer holds us
        self._hold_lock = asyncio.Lock()
        self._reoffer: asyncio.Future[int] | None = None

    # ---- Leg protocol --------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def sample_rate(self) -> int:
        return 8000

    @property
    def frame_ms(self) -> int:
        return 20

    @property
    def lead_ms(self) -> float:
        return 0.0

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.TRANSFER, Capability.SEND_DTMF, Capability.HOLD})

    async def recv(self) -> LegEvent:
        return await self._inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        if self.media is None or self._inbox.closed:
            return
        remote, live = self.media.remote, self.media.may_send  # see MediaStream.may_send
        for packet in self.media.encode(pcm):
            if live:
                self._transport.sendto(packet, remote)
                self.frames_out += 1

    async def mark(self, name: str) -> None:
        # Everything before the mark has already left: with no remote buffer it is "played".
        token = self._inbox.mark(name)
        if token is not None:
            self._inbox.mark_played(token)

    async def clear(self) -> None:
        return None  # nothing buffered remotely; the session stops feeding frames

    async def hangup(self, reason: str = "normal") -> None:
        if not self._inbox.closed:
            self._control.hangup_call(self.key, reason)

    async def transfer(self, target: str) -> ControlResult:
        if not target.startswith(("sip:", "sips:", "tel:")):
            return Refused(Capability.TRANSFER, Refusal.BAD_TARGET,
                           f"SIP transfer needs a sip: or tel: URI, got {target!r}")
        if self._inbox.closed:
            return Refused(Capability.TRANSFER, Refusal.ENDED, "the call has ended")
        try:
            referred = self._control.refer_call(self.key, target)
        except ValueError as exc:  # a URI the target rules cannot route
            return Refused(Capability.TRANSFER, Refusal.BAD_TARGET, str(exc))
        if not referred:
            return Refused(Capability.TRANSFER, Refusal.ENDED, "no confirmed dialog to REFER in")
        if self.refer_wait_s <= 0:
            self._inbox.put(TransferStarted(target))
            return Accepted()
        status = await self._refer_outcome(target)
        if 200 <= status < 300:
            return Accepted()  # TransferStarted went in first (refer_done), before our BYE
        if status == 0:
            return Refused(Capability.TRANSFER, Refusal.ENDED, "the call ended during the REFER")
        # the peer refused the REFER (405, 603) or the target's answer in the NOTIFY (486, 480)
        return Refused(Capability.TRANSFER, Refusal.FAILED,
                       f"the transfer to {target} failed: SIP {status}", code=status)

    async def _refer_outcome(self, target: str) -> int:
        """The final status of our REFER (RFC 3515 §2.4.5); 200 when the peer took the REFER
        but sent no final NOTIFY in time (it placed the call; we cannot tell more)."""
        self._refer = asyncio.get_running_loop().create_future()
        self._refer_target = target
        try:
            return await asyncio.wait_for(asyncio.shield(self._refer), self.refer_wait_s)
        except TimeoutError:
            self._inbox.put(TransferStarted(target))
            return 200
        finally:
            self._refer = None

    def refer_done(self, status: int) -> None:
        """The channel saw our REFER finish with ``status`` (0: the call ended). A 2xx puts
        ``TransferStarted`` at once: the BYE that follows must find the session transferring."""
        if self._refer is None or self._refer.done():
            return
        if 200 <= status < 300:
            self._inbox.put(TransferStarted(self._refer_target))
        self._refer.set_result(status)

    async def send_dtmf(self, digits: str) -> ControlResult:
        for digit in digits:
            if self.media is None or self._inbox.closed:
                return Refused(Capability.SEND_DTMF, Refusal.ENDED, "no media to send DTMF on")
            remote = self.media.remote
            for packet in self.media.dtmf(digit):
                if self.media.may_send:
                    self._transport.sendto(packet, remote)
                await asyncio.sleep(0.02)
        return Accepted()

    async def hold(self) -> ControlResult:
        return await self._set_held(True)

    async def resume(self) -> ControlResult:
        return await self._set_held(False)

    @property
    def held(self) -> bool:
        """We hold the peer (our re-INVITE ``sendonly`` was answered)."""
        return self._held

    @property
    def peer_held(self) -> bool:
        """The peer holds us (its last offer was ``sendonly`` / ``inactive``)."""
        return self._peer_held

    async def _set_held(self, held: bool) -> ControlResult:
        async with self._hold_lock:  # one re-INVITE at a time; a second ask waits its turn
            if self._inbox.closed:
                return Refused(Capability.HOLD, Refusal.ENDED, "the call has ended")
            if self._held == held:
                return Accepted()
            self._reoffer = asyncio.get_running_loop().create_future()
            try:
                if not self._control.reoffer_call(self.key, HOLD_DIRECTION[held]):
                    return Refused(Capability.HOLD, Refusal.ENDED, "no confirmed dialog")
                status = await asyncio.wait_for(asyncio.shield(self._reoffer), REOFFER_WAIT_S)
            except TimeoutError:
                status = 408
            finally:
                self._reoffer = None
            if self._inbox.closed or status == 0:
                return Refused(Capability.HOLD, Refusal.ENDED, "the call ended during the "
                               "re-INVITE")
            if status >= 300:
                return Refused(Capability.HOLD, Refusal.FAILED,
                               f"the peer answered our re-INVITE {status}", code=status)
            self._held = held
            self._mute()
            self._inbox.put(HoldChanged(held))
            return Accepted()

    def reoffer_done(self, status: int, plan: MediaPlan | None = None) -> None:
        """The channel saw our re-INVITE finish (``ReofferDone``); 0: the call ended."""
        if plan is not None:
            self.set_plan(plan)
        if self._reoffer is not None and not self._reoffer.done():
            self._reoffer.set_result(status)

    def peer_hold(self, held: bool) -> None:
        """The peer's re-INVITE held us / took us off hold (``PeerHold``)."""
        if self._inbox.closed or held == self._peer_held:
            return
        self._peer_held = held
        self._mute()
        self._inbox.put(HeldByPeer(held))

    def info_digit(self, digit: str) -> None:
        """A key the peer sent as SIP INFO (``DtmfInfo``): the same ``Dtmf`` as RFC 4733's."""
        if self._inbox.closed:
            return
        at = self.media.samples_in / 8000 if self.media is not None else 0.0
        if self.media is not None:
            self.media.digits.append(digit)
        self._inbox.put(Dtmf(digit, at))

    def _mute(self) -> None:
        self._inbox.muted = self._held or self._peer_held

    # ---- driver side ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._inbox.closed

    def on_rtp(self, data: bytes, addr: Addr, now: float) -> None:
        """RTP from the negotiated source only (``MediaStream.admits``; the rest is dropped and
        counted in ``media.dropped``); caller audio beyond ``MAX_PENDING_AUDIO`` frames not yet
        taken by the session is dropped too (counted "queue"): the inbox stays bounded."""
        media = self.media
        if media is None or self._inbox.closed:
            return
        if is_rtcp(data):  # RTCP muxed on the RTP port (RFC 5761): alive, nothing to play
            if media.admits_rtcp(addr):
                self.last_rx = now
            return
        dropped = media.total_dropped()
        events = media.feed(data, addr)
        if media.total_dropped() != dropped:
            return  # another source, or oversized: not this call's media
        self.last_rx = now
        self.rx_stats.update(data, now)
        for event in events:
            if isinstance(event, AudioIn) and self._inbox.pending >= MAX_PENDING_AUDIO:
                media.drop("queue")
                continue
            self._inbox.put(event)

    def on_rtcp(self, data: bytes, addr: Addr, now: float) -> list[RtcpEvent]:
        """What the peer reports on our RTCP port (errors are counted, never raised)."""
        if self._inbox.closed:
            return []
        if self.media is not None and not self.media.admits_rtcp(addr):
            self.rtcp_errors += 1  # RTCP from a host that is not the call's peer
            return []
        self.last_rx = now  # RTCP from the peer: alive (a held call still sends it)
        events = parse_compound(data)
        for event in events:
            match event:
                case SenderReport(ntp=ntp):
                    self.rtcp_remote = addr
                    self.rx_stats.on_sender_report(ntp, now)
                    self.peer_reports.append(event)
                case ReceiverReport() | Goodbye():
                    self.rtcp_remote = addr
                    self.peer_reports.append(event)
                case RtcpError(reason=reason):
                    self.rtcp_errors += 1
                    log.debug("SIP %s: bad RTCP from %s: %s", self.key, addr, reason)
        return events

    def rtcp_report(self, now: float, wallclock: float) -> tuple[bytes, Addr] | None:
        """A compound SR (if we sent RTP) or RR, plus SDES CNAME, and where it goes."""
        if self.media is None or self._inbox.closed or not self.media.may_send:
            return None
        sender = self.media.sender
        self.last_block = self.rx_stats.report(now)
        blocks = [self.last_block] if self.last_block is not None else []
        if sender.packets:
            head = build_sr(ssrc=sender.ssrc, ntp=ntp_timestamp(wallclock),
                            rtp_timestamp=sender.timestamp, packets=sender.packets,
                            octets=sender.octets, reports=blocks)
        else:
            head = build_rr(ssrc=sender.ssrc, reports=blocks)
        host, port = self.media.remote
        remote = self.rtcp_remote or (host, port + 1)
        self.rtcp_sent += 1
        return head + build_sdes(ssrc=sender.ssrc, cname=f"callport@{self.key}"), remote

    def send_rtcp(self, now: float, wallclock: float) -> None:
        report = self.rtcp_report(now, wallclock)
        if report is not None and self.rtcp_transport is not None:
            self.rtcp_transport.sendto(*report)

    def set_plan(self, plan: MediaPlan) -> None:
        if self.media is None:
            self.media = MediaStream(plan=plan, latch=self.rtp_latch,
                                     source_host=self.rtp_source, peer_host=self.rtp_peer)
        else:
            self.media.update(plan)

    def expects_media(self) -> bool:
        """False while the peer holds with ``inactive`` / we're ``sendonly`` (no RTP to us),
        or holds us at all (a ``sendonly`` hold often sends no music: RFC 6337 §5.3)."""
        if self._peer_held:
            return False
        return self.media is not None and self.media.plan.can_receive

    def close(self, reason: str) -> None:
        if self._inbox.closed:
            return
        self.hangup_reason = reason
        self.reoffer_done(0)
        self.refer_done(0)
        self._inbox.put(HungUp(reason))  # pending marks are answered unplayed first
        self._transport.close()
        if self.rtcp_transport is not None:
            self.rtcp_transport.close()
