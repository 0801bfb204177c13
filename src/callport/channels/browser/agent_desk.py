"""``AgentDesk``: the agents' open ``/agent`` pages, and ringing them (an ``AgentReach``).

A signed-in agent's page keeps a control WebSocket open (``agent_routes``); the desk knows
every open page of every agent. ``ring(agent, offer, timeout_s=...)`` pushes the offer (who
is calling, the queue, the AI's summary, the transcript so far) to all of the agent's pages,
which ring (visible and audible). The first page to answer opens the call's audio over the
browser channel's transports (the WebSocket of ``channels.browser.ws`` or WebRTC of
``channels.browser.rtc``, as the page prefers); that leg becomes a started media-only
``CallSession`` and ``ring`` returns ``Reached``. Declined -> ``NotReached(REJECTED)``; no
answer within ``timeout_s`` -> ``NO_ANSWER``; no page open, or the agent stepped away ->
``OFFLINE``; already on a call or ringing -> ``BUSY``; answered but the audio never connected
(``media_wait_s``) -> ``CARRIER_ERROR``. A cancelled ring takes the offer off the pages.

The desk shows the agent's state on their pages: ``available``, ``away``, ``ringing``,
``busy`` and ``wrap-up`` (the queue's ``wrap_up_s`` after a call; the queue service keeps its
own wrap-up and offers nothing during it). Hold is done here, on the agent's leg
(``channels.agent_hold.HoldingLeg``: the caller hears hold music); away and transfer go to
``DeskControls`` (the queue service); without its ``transfer``, the page is told "not
available".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Protocol

from callport.agents.base import CallInfo
from callport.call.dial import DialCause
from callport.call.leg import Leg
from callport.call.session import CallSession
from callport.channels.agent_hold import HoldingLeg
from callport.channels.browser import agent_protocol as msg
from callport.channels.browser.agent_protocol import (
    AnswerOffer,
    DeclineOffer,
    HoldCaller,
    PageEvent,
    PageMistake,
    PauseRecording,
    Ping,
    SetAway,
    TransferCaller,
)
from callport.metrics import Metrics
from callport.queues.reach import OFFLINE, NotReached, Offer, Reached, answered_session

log = logging.getLogger(__name__)

MEDIA_WAIT_S = 10.0  # an answered page has this long to connect its audio
FIRST_AUDIO_WAIT_S = 3.0  # ... and its first audio frame this long after that


class DeskControls(Protocol):
    """What the agent page asks of the queue service (``QueueService``): ``set_away``; and,
    where the service offers them, ``hold(agent, call_id, held)``, ``transfer(agent,
    call_id, target)`` and ``pause_recording(agent, call_id, paused)`` acting on the caller
    of ``call_id`` (the agent's current call),
    returning "" when done, else why not (looked up when asked for; missing: "not
    available")."""

    def set_away(self, name: str, away: bool) -> None: ...




@dataclass(eq=False, slots=True)
class AgentPage:
    """One open agent page: whose, and how to send it a control message."""

    agent: str
    send: Callable[[str], None]


@dataclass(eq=False, slots=True)
class _Offer:
    id: str
    agent: str
    offer: Offer
    ring_s: float
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    answering: bool = False
    gone: str = ""  # "declined", "page-closed"
    leg: HoldingLeg | None = None  # the answered page's leg (hold is done on it)
    session: asyncio.Future[CallSession] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class AgentDesk:
    """The agents' pages and the ``AgentReach`` over them (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], float],
                 wrap_up_s: Callable[[str], float] = lambda _queue: 0.0,
                 controls: DeskControls | None = None, metrics: Metrics | None = None,
                 media_wait_s: float = MEDIA_WAIT_S) -> None:
        self.clock = clock
        self.wrap_up_s = wrap_up_s
        self.controls = controls
        self.metrics = metrics
        self.media_wait_s = media_wait_s
        self.pages: dict[str, list[AgentPage]] = {}
        self._offers: dict[str, _Offer] = {}
        self._away: dict[str, bool] = {}
        self._calls: dict[str, _Offer] = {}  # agent -> the offer they are talking on
        self._wrap_until: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Future[object]] = set()

    # ---- presence ----------------------------------------------------------------------
    def open_page(self, agent: str, send: Callable[[str], None]) -> AgentPage:
        page = AgentPage(agent, send)
        self.pages.setdefault(agent, []).append(page)
        self._send_one(page, self._state_message(agent))
        ringing = self._ringing(agent)
        if ringing is not None and not ringing.answering:
            self._send_one(page, msg.offer(ringing.id, ringing.offer, ring_s=ringing.ring_s))
        return page

    def close_page(self, page: AgentPage) -> None:
        pages = self.pages.get(page.agent, [])
        if page in pages:
            pages.remove(page)
        if not pages:
            self.pages.pop(page.agent, None)
            ringing = self._ringing(page.agent)
            if ringing is not None and not ringing.answering:
                ringing.gone = "page-closed"
                ringing.decided.set()

    def online(self, agent: str) -> bool:
        return bool(self.pages.get(agent)) and not self._away.get(agent, False)

    def state(self, agent: str) -> tuple[str, float]:
        """(state, seconds of wrap-up left) as the page shows it."""
        if agent in self._calls:
            return "busy", 0.0
        if self._ringing(agent) is not None:
            return "ringing", 0.0
        left = self._wrap_until.get(agent, 0.0) - self.clock()
        if left > 0:
            return "wrap-up", left
        return ("away" if self._away.get(agent, False) else "available"), 0.0

    def _ringing(self, agent: str) -> _Offer | None:
        return next((o for o in self._offers.values() if o.agent == agent), None)

    def _state_message(self, agent: str) -> str:
        name, left = self.state(agent)
        call = self._calls[agent].offer.call_id if agent in self._calls else ""
        return msg.state(name, until_s=left, call=call)

    def _send_one(self, page: AgentPage, text: str) -> None:
        try:
            page.send(text)
        except Exception:  # a page going away mid-send: its socket reader cleans up
            log.debug("agent page of %s: send failed", page.agent)

    def _broadcast(self, agent: str, text: str) -> None:
        for page in list(self.pages.get(agent, ())):
            self._send_one(page, text)

    def _push_state(self, agent: str) -> None:
        self._broadcast(agent, self._state_message(agent))

    # ---- what the page asks ------------------------------------------------------------
    async def on_event(self, page: AgentPage, event: PageEvent) -> None:
        agent = page.agent
        match event:
            case SetAway(away=away):
                self._away[agent] = away
                if self.controls is not None:
                    try:
                        self.controls.set_away(agent, away)
                    except KeyError:  # not a member of any queue the service knows yet
                        log.info("agent %s: the queue service does not know them yet", agent)
                log.info("agent %s is %s", agent, "away" if away else "available")
                self._push_state(agent)
            case AnswerOffer(offer_id=offer_id) | DeclineOffer(offer_id=offer_id):
                self._decide(page, offer_id, answer=isinstance(event, AnswerOffer))
            case HoldCaller(held=held):
                await self._hold(page, held)
            case TransferCaller(target=target):
                await self._control(page, "transfer", target)
            case PauseRecording(paused=paused):
                await self._control(page, "pause_recording", paused)
            case Ping():
                self._send_one(page, msg.pong())
            case PageMistake(reason=reason):
                self._send_one(page, msg.error(reason))
            case _:
                self._send_one(page, msg.error("unexpected message"))

    def _decide(self, page: AgentPage, offer_id: str, *, answer: bool) -> None:
        pending = self._offers.get(offer_id)
        if pending is None or pending.agent != page.agent or pending.decided.is_set():
            self._send_one(page, msg.offer_gone(offer_id, "not ringing any more"))
            return
        if answer:
            pending.answering = True
            for other in self.pages.get(page.agent, []):  # the agent's other pages stop ringing
                if other is not page:
                    self._send_one(other, msg.offer_gone(offer_id, "answered elsewhere"))
        else:
            pending.gone = "declined"
        pending.decided.set()

    async def _hold(self, page: AgentPage, held: bool) -> None:
        """Hold is done on the agent's side of the bridge: the caller hears music."""
        live = self._calls.get(page.agent)
        if live is None or live.leg is None:
            self._send_one(page, msg.result("hold", ok=False, detail="no call"))
            return
        await (live.leg.hold() if held else live.leg.resume())
        self._broadcast(page.agent, msg.result("hold", ok=True,
                                               detail="on hold" if held else "resumed"))

    async def _control(self, page: AgentPage, action: str, arg: bool | str) -> None:
        live = self._calls.get(page.agent)
        if live is None:
            self._send_one(page, msg.result(action, ok=False, detail="no call"))
            return
        fn = getattr(self.controls, action, None) if self.controls is not None else None
        if fn is None:
            self._send_one(page, msg.result(action, ok=False,
                                            detail=f"{action} is not available here"))
            return
        try:
            why = await fn(page.agent, live.offer.call_id, arg)
        except Exception as exc:
            log.exception("agent %s: %s failed", page.agent, action)
            why = f"{action} failed: {exc}"
        self._broadcast(page.agent, msg.result(action, ok=not why, detail=str(why or "")))

    # ---- AgentReach --------------------------------------------------------------------
    async def ring(self, agent: str, offer: Offer, *, timeout_s: float) -> Reached | NotReached:
        if not self.pages.get(agent):
            return NotReached(agent=agent, cause=OFFLINE, detail="no agent page open")
        if self._away.get(agent, False):
            return NotReached(agent=agent, cause=OFFLINE, detail="away")
        if agent in self._calls or self._ringing(agent) is not None:
            return NotReached(agent=agent, cause=DialCause.BUSY, detail="on a call")
        pending = _Offer(id=secrets.token_hex(8), agent=agent, offer=offer, ring_s=timeout_s)
        self._offers[pending.id] = pending
        self._push_state(agent)
        self._broadcast(agent, msg.offer(pending.id, offer, ring_s=timeout_s))
        reason = "canceled"
        try:
            try:
                await asyncio.wait_for(pending.decided.wait(), timeout_s)
            except TimeoutError:
                reason = "no-answer"
                return NotReached(agent=agent, cause=DialCause.NO_ANSWER,
                                  detail=f"the page rang {timeout_s:g} s")
            if pending.gone:
                reason = pending.gone
                cause = DialCause.REJECTED if pending.gone == "declined" else OFFLINE
                return NotReached(agent=agent, cause=cause, detail=pending.gone)
            try:
                session = await asyncio.wait_for(asyncio.shield(pending.session),
                                                 self.media_wait_s)
            except TimeoutError:
                reason = "no-audio"
                return NotReached(agent=agent, cause=DialCause.CARRIER_ERROR,
                                  detail="the page answered but its audio never connected")
            reason = ""
            return Reached(agent=agent, session=session)
        finally:
            self._offers.pop(pending.id, None)
            if reason:
                self._broadcast(agent, msg.offer_gone(pending.id, reason))
                if not pending.session.done():
                    pending.session.cancel()  # a page connecting now is hung up
                elif not pending.session.cancelled():  # answered as the ring was cancelled
                    late = pending.session.result()
                    self._spawn(late.hangup("answered-elsewhere"))
            self._push_state(agent)

    # ---- the answered page's audio -----------------------------------------------------
    def leg_of(self, agent: str) -> HoldingLeg | None:
        """The leg of ``agent``'s current call on the page (None: not on one)."""
        live = self._calls.get(agent)
        return live.leg if live is not None else None

    def answering(self, agent: str) -> bool:
        """Is an offer answered on ``agent``'s page waiting for its audio?"""
        pending = self._ringing(agent)
        return pending is not None and pending.answering and not pending.session.done()

    async def run_media(self, leg: Leg, info: CallInfo) -> None:
        """The ``run_call`` of the agent page's audio transports: hand the leg to the ring
        that waits for it and stay until the call ends."""
        agent = info.user.name if info.user is not None else ""
        pending = self._ringing(agent)
        if pending is None or not pending.answering or pending.session.done():
            log.info("agent %s: audio connected with no answered offer; hanging up", agent)
            await leg.hangup("no-offer")
            return
        pending.leg = HoldingLeg(leg=leg)
        session = answered_session(pending.leg, metrics=self.metrics)
        # The caller's music stops when the ring returns: not before the page's audio flows.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.leg.first_audio.wait(), FIRST_AUDIO_WAIT_S)
        if pending.session.done():  # the ring gave up meanwhile
            await session.hangup("answered-too-late")
            return
        pending.session.set_result(session)
        self._calls[agent] = pending
        self._broadcast(agent, msg.connected(pending.id))
        self._push_state(agent)
        log.info("agent %s answered %s on the page (%s)", agent, pending.offer.call_id,
                 leg.call_id)
        try:
            await session.wait_ended()
        finally:
            self._calls.pop(agent, None)
            wrap = max(0.0, float(self.wrap_up_s(pending.offer.queue)))
            if wrap > 0:
                self._wrap_until[agent] = self.clock() + wrap
                self._later(agent, wrap)
            self._broadcast(agent, msg.ended(pending.id, session.hangup_reason or "ended"))
            self._push_state(agent)

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, agent: str, delay: float) -> None:
        """Show the state again when the wrap-up is over."""
        old = self._timers.pop(agent, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[agent] = loop.call_later(delay + 0.05, self._push_state, agent)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for pending in list(self._offers.values()):
            with contextlib.suppress(Exception):
                pending.gone = "closed"
                pending.decided.set()
